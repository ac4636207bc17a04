// The usage ledger against a temporary database: deltas from cumulative
// counters, counter restarts, repeated samples and closes, boots, storage
// accrual, and who sees which rows.

#include <gtest/gtest.h>

#include "base/error.h"
#include "supervisor/metering/ledger.h"
#include "supervisor/metering/meters.h"
#include "supervisor/store/schema.h"
#include "tests/unit/metering_test_db.h"

namespace supervisor::metering {
namespace {

using testing::LedgerTestBase;
using testing::sum_of;

class MeterLedger : public LedgerTestBase {};

Counters counters(std::int64_t cpu, std::int64_t rx, std::int64_t tx) {
    return Counters{cpu, rx, tx};
}

TEST_F(MeterLedger, TheMigrationAddsTheLedgerToAnExistingStore) {
    auto db = open();
    EXPECT_EQ(db->user_version(), store::schema_version());
    EXPECT_GE(store::schema_version(), 2);
    begin_process(*db, 1, 1000, "i-1", 0);
    EXPECT_TRUE(process_meter(*db, 1));
}

TEST_F(MeterLedger, ASampleBillsTheGrowthSinceTheLastOne) {
    auto db = open();
    begin_process(*db, 7, 1000, "i-1", 10'000);
    EXPECT_EQ(record_sample(*db, 7, counters(500, 1500, 100), 70'000), 3);
    EXPECT_EQ(record_sample(*db, 7, counters(800, 1500, 250), 130'000), 2);

    const auto rows = usage(*db, 1000, 0, 1'000'000);
    ASSERT_EQ(rows.size(), 5u);
    EXPECT_EQ(rows[0].meter, "cpu_us");
    EXPECT_EQ(rows[0].quantity, 500);
    EXPECT_EQ(rows[0].start_ms, 10'000);  // from the process's start
    EXPECT_EQ(rows[0].end_ms, 70'000);
    EXPECT_EQ(rows[0].kind, "instance");
    EXPECT_EQ(rows[0].resource, "i-1");
    EXPECT_EQ(rows[0].process, 7);
    EXPECT_EQ(rows[3].meter, "cpu_us");
    EXPECT_EQ(rows[3].quantity, 300);
    EXPECT_EQ(rows[3].start_ms, 70'000);
    EXPECT_EQ(rows[3].end_ms, 130'000);
    EXPECT_EQ(rows[4].meter, "net_tx_bytes");
    EXPECT_EQ(rows[4].quantity, 150);

    const auto p = process_meter(*db, 7);
    EXPECT_EQ(p->cpu_us, 800);
    EXPECT_EQ(p->net_rx_bytes, 1500);
    EXPECT_EQ(p->net_tx_bytes, 250);
    EXPECT_EQ(p->cpu_us_at, 130'000);
    EXPECT_EQ(p->net_rx_at, 130'000);
}

TEST_F(MeterLedger, ARestartedCounterIsBilledFromZeroNeverNegative) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 0);
    record_sample(*db, 1, counters(1000, 5000, 5000), 60'000);
    // The counters went down: a new base (a restarted vmm behind the same
    // process, a recreated cgroup). What they show now is new usage.
    record_sample(*db, 1, counters(30, 0, 7), 120'000);
    for (const UsageRecord& r : usage(*db, std::nullopt, 0, 1'000'000)) {
        EXPECT_GE(r.quantity, 0) << r.meter;
    }
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 1030);
    EXPECT_EQ(sum_of(*db, "i-1", kNetRxBytes), 5000);
    EXPECT_EQ(sum_of(*db, "i-1", kNetTxBytes), 5007);
    record_sample(*db, 1, counters(50, 0, 7), 180'000);
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 1050);
}

TEST_F(MeterLedger, AProcessInACgroupUsedBeforeStartsFromTheCgroupsFigure) {
    auto db = open();
    // The instance's cgroup ran an earlier vmm for 5 s of CPU.
    begin_process(*db, 2, 1000, "i-1", 0, Counters{5'000'000, std::nullopt, std::nullopt});
    record_sample(*db, 2, counters(5'200'000, 10, 10), 60'000);
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 200'000);
    EXPECT_EQ(sum_of(*db, "i-1", kNetRxBytes), 10);
}

TEST_F(MeterLedger, ARepeatedSampleCountsNothingTwice) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 0);
    EXPECT_EQ(record_sample(*db, 1, counters(1000, 10, 20), 60'000), 3);
    EXPECT_EQ(record_sample(*db, 1, counters(1000, 10, 20), 60'000), 0);
    EXPECT_EQ(record_sample(*db, 1, counters(1000, 10, 20), 61'000), 0);
    begin_process(*db, 1, 1000, "i-1", 0);  // again: keeps the counters
    EXPECT_EQ(record_sample(*db, 1, counters(1000, 10, 20), 62'000), 0);
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 1000);
    EXPECT_EQ(usage(*db, std::nullopt, 0, 1'000'000).size(), 3u);
}

TEST_F(MeterLedger, AnUnreadCounterIsLeftAsItWas) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 0);
    record_sample(*db, 1, counters(100, 10, 10), 60'000);
    // The vmm did not answer: only the cgroup's CPU time was read.
    record_sample(*db, 1, Counters{200, std::nullopt, std::nullopt}, 120'000);
    EXPECT_EQ(process_meter(*db, 1)->net_rx_bytes, 10);
    EXPECT_EQ(process_meter(*db, 1)->net_rx_at, 60'000);
    record_sample(*db, 1, counters(300, 40, 10), 180'000);
    // The bytes grew since the vmm last answered, not since the last sample.
    const auto rows = usage(*db, 1000, 0, 1'000'000);
    ASSERT_EQ(rows.back().meter, "net_rx_bytes");
    EXPECT_EQ(rows.back().quantity, 30);
    EXPECT_EQ(rows.back().start_ms, 60'000);
    EXPECT_EQ(rows.back().end_ms, 180'000);
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 300);
    EXPECT_EQ(sum_of(*db, "i-1", kNetRxBytes), 40);
    EXPECT_EQ(sum_of(*db, "i-1", kNetTxBytes), 10);
}

TEST_F(MeterLedger, ClosingTwiceCountsOnceAndLaterSamplesAreIgnored) {
    auto db = open();
    begin_process(*db, 3, 1000, "i-1", 0);
    record_sample(*db, 3, counters(100, 0, 0), 60'000);
    EXPECT_TRUE(close_process(*db, 3, Counters{150, std::nullopt, std::nullopt}, 90'000));
    EXPECT_FALSE(close_process(*db, 3, Counters{150, std::nullopt, std::nullopt}, 90'000));
    EXPECT_FALSE(close_process(*db, 3, Counters{999, std::nullopt, std::nullopt}, 95'000));
    EXPECT_EQ(record_sample(*db, 3, counters(999, 9, 9), 100'000), 0);
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 150);
    EXPECT_EQ(process_meter(*db, 3)->closed_at, 90'000);
    EXPECT_TRUE(open_processes(*db).empty());
}

TEST_F(MeterLedger, OpenProcessesAreThoseNotClosed) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 0);
    begin_process(*db, 2, 1000, "i-2", 0);
    begin_process(*db, 3, 1001, "i-3", 0);
    close_process(*db, 2, {}, 10);
    const auto open_ones = open_processes(*db);
    ASSERT_EQ(open_ones.size(), 2u);
    EXPECT_EQ(open_ones[0].process, 1);
    EXPECT_EQ(open_ones[1].process, 3);
    EXPECT_EQ(open_ones[1].owner, 1001);
}

TEST_F(MeterLedger, AProcessNeverBegunIsABug) {
    auto db = open();
    EXPECT_THROW(record_sample(*db, 42, counters(1, 1, 1), 1), base::InternalError);
    EXPECT_THROW(close_process(*db, 42, {}, 1), base::InternalError);
    EXPECT_THROW(record_boot(*db, 42, 1, 0, 5), base::InternalError);
}

TEST_F(MeterLedger, EachBootCountsOnceWithItsTimeToReady) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 0);
    EXPECT_EQ(record_boot(*db, 1, 1, 1'000, std::nullopt), 1);  // at its start
    EXPECT_EQ(record_boot(*db, 1, 1, 1'000, 3'500), 1);         // at ready: the time only
    EXPECT_EQ(record_boot(*db, 1, 1, 1'000, 3'500), 0);         // again: nothing
    EXPECT_EQ(record_boot(*db, 1, 2, 60'000, 61'200), 2);       // a reboot
    begin_process(*db, 2, 1000, "i-1", 100'000);                // a new start
    EXPECT_EQ(record_boot(*db, 2, 1, 100'000, 104'000), 2);
    EXPECT_EQ(sum_of(*db, "i-1", kBoots), 3);
    EXPECT_EQ(sum_of(*db, "i-1", kBootReadyMs), 2'500 + 1'200 + 4'000);
}

TEST_F(MeterLedger, AVolumeAccruesSizeTimesTimeWhateverItsInstanceDoes) {
    auto db = open();
    const std::int64_t size = 10 * kBytesPerGib;
    storage_begin(*db, kKindVolume, "vol-1", 1000, size, 0);
    EXPECT_EQ(accrue_storage(*db, 60'000), 1);
    EXPECT_EQ(accrue_storage(*db, 60'000), 0);  // nothing due twice
    EXPECT_EQ(accrue_storage(*db, 90'000), 1);
    storage_end(*db, kKindVolume, "vol-1", 100'000);
    storage_end(*db, kKindVolume, "vol-1", 200'000);  // again: nothing
    EXPECT_EQ(accrue_storage(*db, 300'000), 0);       // ended: nothing
    EXPECT_EQ(sum_of(*db, "vol-1", kStorageGibMs), 10 * 100'000);
    const auto rows = usage(*db, 1000, 0, 1'000'000);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0].kind, "volume");
    EXPECT_EQ(rows[1].start_ms, 60'000);
    EXPECT_EQ(rows[1].end_ms, 90'000);
}

TEST_F(MeterLedger, ANonPersistentRootAccruesOnlyWhileRunning) {
    auto db = open();
    const std::int64_t size = 2 * kBytesPerGib;
    storage_begin(*db, kKindInstance, "i-1", 1000, size, 0);  // started
    accrue_storage(*db, 30'000);
    storage_end(*db, kKindInstance, "i-1", 50'000);  // stopped
    accrue_storage(*db, 500'000);                    // an hour of being stopped: nothing
    storage_begin(*db, kKindInstance, "i-1", 1000, size, 600'000);  // started again
    accrue_storage(*db, 610'000);
    EXPECT_EQ(sum_of(*db, "i-1", kStorageGibMs), 2 * (50'000 + 10'000));
}

TEST_F(MeterLedger, StorageBelowAGibMsIsCarriedNotLost) {
    auto db = open();
    db->exec("PRAGMA synchronous=OFF");  // 3,000 commits; their durability is not the point
    // 1000 bytes: a whole GiB-ms only every 1,073,741.824 ms.
    storage_begin(*db, kKindVolume, "vol-1", 1000, 1000, 0);
    for (Millis t = 1; t <= 3'000'000; t += 997) {
        accrue_storage(*db, t);
    }
    storage_end(*db, kKindVolume, "vol-1", 3'000'000);
    EXPECT_EQ(sum_of(*db, "vol-1", kStorageGibMs), 1000LL * 3'000'000 / kBytesPerGib);
    EXPECT_EQ(sum_of(*db, "vol-1", kStorageGibMs), 2);
}

TEST_F(MeterLedger, AResizeAccruesTheOldSizeUpToIt) {
    auto db = open();
    storage_begin(*db, kKindVolume, "vol-1", 1000, kBytesPerGib, 0);
    storage_begin(*db, kKindVolume, "vol-1", 1000, 3 * kBytesPerGib, 1000);
    storage_end(*db, kKindVolume, "vol-1", 2000);
    EXPECT_EQ(sum_of(*db, "vol-1", kStorageGibMs), 1000 + 3000);
}

TEST_F(MeterLedger, OneOwnerNeverSeesAnothersUsage) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-a", 0);
    begin_process(*db, 2, 2000, "i-b", 0);
    record_sample(*db, 1, counters(5, 5, 5), 10);
    record_sample(*db, 2, counters(7, 7, 7), 10);
    storage_begin(*db, kKindVolume, "vol-b", 2000, kBytesPerGib, 0);
    accrue_storage(*db, 10);
    for (const UsageRecord& r : usage(*db, 1000, 0, 100)) {
        EXPECT_EQ(r.owner, 1000);
        EXPECT_EQ(r.resource, "i-a");
    }
    EXPECT_EQ(usage(*db, 1000, 0, 100).size(), 3u);
    EXPECT_EQ(usage(*db, 2000, 0, 100).size(), 4u);
    EXPECT_EQ(usage(*db, std::nullopt, 0, 100).size(), 7u);
    EXPECT_EQ(starts(*db, 1000, 0, 100).size(), 1u);
}

// Pages of at most `limit` rows, each after the last id of the one before,
// give exactly usage()'s rows, and keep the owner's scope.
TEST_F(MeterLedger, PagesTogetherAreTheWholeUsage) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-a", 0);
    begin_process(*db, 2, 2000, "i-b", 0);
    for (int i = 1; i <= 7; ++i) {
        record_sample(*db, 1, counters(i, i, i), i * 10);
        record_sample(*db, 2, counters(i, 0, 0), i * 10);
    }
    const auto all = usage(*db, 1000, 0, 1000);
    ASSERT_EQ(all.size(), 21u);
    std::vector<std::int64_t> paged;
    std::int64_t after = 0;
    int pages = 0;
    for (;;) {
        const auto page = usage_page(*db, 1000, 0, 1000, std::nullopt, after, 4);
        ++pages;
        for (const UsageRecord& r : page) {
            EXPECT_EQ(r.owner, 1000);
            paged.push_back(r.id);
        }
        if (page.size() < 4) {
            break;
        }
        after = page.back().id;
    }
    EXPECT_EQ(pages, 6);
    std::vector<std::int64_t> ids;
    for (const UsageRecord& r : all) {
        ids.push_back(r.id);
    }
    EXPECT_EQ(paged, ids);
    EXPECT_EQ(usage_page(*db, 2000, 0, 1000, std::string("i-a"), 0, 100).size(), 0u);
    EXPECT_EQ(usage_page(*db, std::nullopt, 0, 25, std::nullopt, 0, 100).size(), 12u)
        << "the window applies: the rows starting at 0, 10 and 20, of both owners";
}

TEST_F(MeterLedger, UsageIsSelectedByTheStartOfItsInterval) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 0);
    record_sample(*db, 1, counters(1, 0, 0), 100);  // [0, 100)
    record_sample(*db, 1, counters(3, 0, 0), 200);  // [100, 200)
    record_sample(*db, 1, counters(6, 0, 0), 300);  // [200, 300)
    const auto rows = usage(*db, 1000, 100, 200);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].quantity, 2);
    EXPECT_EQ(usage(*db, 1000, 0, 300).size(), 3u);
    EXPECT_TRUE(usage(*db, 1000, 300, 400).empty());
}

TEST_F(MeterLedger, StartsCarryTheirWholeLifesCpuTime) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 1'000);
    record_sample(*db, 1, counters(10, 0, 0), 2'000);
    record_sample(*db, 1, counters(25, 0, 0), 90'000'000);  // a day later
    begin_process(*db, 2, 1000, "i-2", 5'000);
    const auto s = starts(*db, 1000, 0, 86'400'000);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].process, 1);
    EXPECT_EQ(s[0].cpu_us, 25);  // including the next day's
    EXPECT_EQ(s[0].started_at, 1'000);
    EXPECT_EQ(s[1].cpu_us, 0);
    EXPECT_TRUE(starts(*db, 1000, 6'000, 86'400'000).empty());
}

TEST_F(MeterLedger, AWriteInsideTheCallersTransactionCommitsWithIt) {
    auto db = open();
    begin_process(*db, 1, 1000, "i-1", 0);
    {
        store::Transaction tx(*db);
        record_sample(*db, 1, counters(10, 0, 0), 10);
        // No commit: a state change that failed takes its sample with it.
    }
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 0);
    EXPECT_EQ(process_meter(*db, 1)->cpu_us, 0);
    {
        store::Transaction tx(*db);
        record_sample(*db, 1, counters(10, 0, 0), 10);
        tx.commit();
    }
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), 10);
}

}  // namespace
}  // namespace supervisor::metering
