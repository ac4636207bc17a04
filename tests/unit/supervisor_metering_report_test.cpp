// A usage report from the ledger to the bill: samples, boots and storage
// recorded as vmd would, rated against a bill computed by hand, for one
// owner only, over a window.

#include <gtest/gtest.h>

#include "base/error.h"
#include "supervisor/metering/ledger.h"
#include "supervisor/metering/meters.h"
#include "supervisor/metering/report.h"
#include "tests/unit/metering_test_db.h"

namespace supervisor::metering {
namespace {

using testing::LedgerTestBase;

constexpr Millis kDay1 = 1'795'996'800'000;  // 2026-11-30T00:00Z
constexpr Millis kDay2 = kDay1 + 86'400'000;

class MeterReport : public LedgerTestBase {
  protected:
    void SetUp() override {
        LedgerTestBase::SetUp();
        db_ = open();
        // Owner 1000: i-1 runs two minutes, boots once, 45 s of CPU; vol-1,
        // 10 GiB, exists for an hour.
        begin_process(*db_, 1, 1000, "i-1", kDay1);
        record_boot(*db_, 1, 1, kDay1, kDay1 + 2'500);
        record_sample(*db_, 1, Counters{30'000'000, 1'000'000'000, 2'000'000'000}, kDay1 + 60'000);
        close_process(*db_, 1, Counters{45'000'000, std::nullopt, 2'500'000'000}, kDay1 + 120'000);
        storage_begin(*db_, kKindVolume, "vol-1", 1000, 10 * kBytesPerGib, kDay1);
        storage_end(*db_, kKindVolume, "vol-1", kDay1 + 3'600'000);
        // Owner 2000's instance, in the same window.
        begin_process(*db_, 2, 2000, "i-2", kDay1);
        record_sample(*db_, 2, Counters{99'000'000, 5, 5}, kDay1 + 60'000);
    }
    std::unique_ptr<store::Database> db_;
    PriceSheet sheet_ = parse_price_sheet(R"({
        "currency": "EUR",
        "cpu_vcpu_hour_micros": 3600000000,
        "storage_gib_month_micros": 2628000000,
        "net_rx_gb_micros": 1000000,
        "net_tx_gb_micros": 9000000,
        "boot_micros": 10000000
    })",
                                          "test");
};

std::string describe(const Bill& bill) {
    std::string out;
    for (const BillLine& l : bill.lines) {
        out += l.group + " " + l.meter + " " + std::to_string(l.quantity) + " " +
               std::to_string(l.amount) + "\n";
    }
    return out + "total " + std::to_string(bill.total) + "\n";
}

// By hand, in cents: CPU 1 ct/s, storage 1 micro-cent per GiB-ms, rx 1 ct/GB,
// tx 9 ct/GB, 10 ct a boot, 60 s minimum per start.
//   boot                                   10
//   CPU 45 s                               45
//   minimum: 60 s − 45 s = 15 s            15
//   rx 1 GB                                 1
//   tx 2.5 GB × 9 = 22.5                   23
//   storage 10 GiB × 3,600,000 ms = 36e6 micro-cents = 36
//   total                                 130
TEST_F(MeterReport, AnOwnersDayIsBilledAsComputedByHand) {
    const ReportQuery query{1000, std::nullopt, kDay1, kDay2, GroupBy::kInstance};
    EXPECT_EQ(describe(usage_report(*db_, query, sheet_)),
              "i-1 boot_ready_ms 2500 0\n"
              "i-1 boots 1 10\n"
              "i-1 cpu_minimum_us 15000000 15\n"
              "i-1 cpu_us 45000000 45\n"
              "i-1 net_rx_bytes 1000000000 1\n"
              "i-1 net_tx_bytes 2500000000 23\n"
              "vol-1 storage_gib_ms 36000000 36\n"
              "total 130\n");
}

TEST_F(MeterReport, OneOwnerNeverSeesAnothersUsage) {
    const Bill mine = usage_report(*db_, {1000, std::nullopt, kDay1, kDay2}, sheet_);
    for (const BillLine& l : mine.lines) {
        EXPECT_NE(l.group, "i-2");
    }
    const Bill theirs = usage_report(*db_, {2000, std::nullopt, kDay1, kDay2}, sheet_);
    ASSERT_FALSE(theirs.lines.empty());
    for (const BillLine& l : theirs.lines) {
        EXPECT_EQ(l.group, "i-2");
    }
    const Bill all = usage_report(*db_, {std::nullopt, std::nullopt, kDay1, kDay2}, sheet_);
    EXPECT_EQ(all.total, mine.total + theirs.total);  // each line has one owner here
}

TEST_F(MeterReport, TheWindowAndTheInstanceSelect) {
    EXPECT_EQ(describe(usage_report(*db_, {1000, std::nullopt, kDay2, kDay2 + 86'400'000}, sheet_)),
              "total 0\n");
    const Bill one = usage_report(*db_, {1000, "i-1", kDay1, kDay2}, sheet_);
    for (const BillLine& l : one.lines) {
        EXPECT_EQ(l.group, "i-1");
    }
    EXPECT_EQ(one.total, 130 - 36);
    // The first minute only: the first sample's rows, and the start (its
    // minimum counts the CPU time of its whole life, 45 s).
    const Bill minute = usage_report(*db_, {1000, "i-1", kDay1, kDay1 + 60'000}, sheet_);
    EXPECT_EQ(describe(minute),
              "i-1 boot_ready_ms 2500 0\n"
              "i-1 boots 1 10\n"
              "i-1 cpu_minimum_us 15000000 15\n"
              "i-1 cpu_us 30000000 30\n"
              "i-1 net_rx_bytes 1000000000 1\n"
              "i-1 net_tx_bytes 2000000000 18\n"
              "total 74\n");
}

TEST_F(MeterReport, ByDayAndByMeterAddUpToTheSameQuantities) {
    for (const GroupBy by : {GroupBy::kMeter, GroupBy::kDay}) {
        const Bill bill = usage_report(*db_, {1000, std::nullopt, kDay1, kDay2, by}, sheet_);
        std::int64_t cpu = 0;
        std::int64_t total = 0;
        for (const BillLine& l : bill.lines) {
            cpu += l.meter == kCpuUs ? l.quantity : 0;
            total += l.amount;
        }
        EXPECT_EQ(cpu, 45'000'000);
        EXPECT_EQ(bill.total, total);
    }
}

TEST_F(MeterReport, TheBillAsJson) {
    const ReportQuery query{1000, std::nullopt, kDay1, kDay2, GroupBy::kMeter};
    const auto j = bill_json(usage_report(*db_, query, sheet_), query);
    EXPECT_EQ(j["currency"], "EUR");
    EXPECT_EQ(j["by"], "meter");
    EXPECT_EQ(j["since"], kDay1);
    EXPECT_EQ(j["until"], kDay2);
    EXPECT_EQ(j["total"], 130);
    std::int64_t sum = 0;
    for (const auto& line : j["lines"]) {
        sum += line["amount"].get<std::int64_t>();
        if (line["meter"] == "storage_gib_ms") {
            EXPECT_EQ(line["unit"], "GiB-ms");
            EXPECT_EQ(line["quantity"], 36'000'000);
        }
    }
    EXPECT_EQ(sum, 130);
}

TEST(MeterReportQuery, GroupByNames) {
    EXPECT_EQ(parse_group_by("instance"), GroupBy::kInstance);
    EXPECT_EQ(parse_group_by("meter"), GroupBy::kMeter);
    EXPECT_EQ(parse_group_by("day"), GroupBy::kDay);
    for (const GroupBy by : {GroupBy::kInstance, GroupBy::kMeter, GroupBy::kDay}) {
        EXPECT_EQ(parse_group_by(group_by_name(by)), by);
    }
    try {
        parse_group_by("month");
        ADD_FAILURE() << "accepted month";
    } catch (const base::InvalidInput& e) {
        EXPECT_NE(std::string(e.what()).find("instance, meter or day"), std::string::npos);
    }
}

}  // namespace
}  // namespace supervisor::metering
