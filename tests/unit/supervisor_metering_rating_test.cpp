// Rating against bills computed by hand, the rounding rule at its edges,
// the price sheet's checks, and the rule that totals are the exact sum of
// their lines.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "base/error.h"
#include "supervisor/metering/meters.h"
#include "supervisor/metering/price_sheet.h"
#include "supervisor/metering/rating.h"

namespace supervisor::metering {
namespace {

constexpr Millis kDay1 = 1'795'996'800'000;  // 2026-11-30T00:00Z
constexpr Millis kDay2 = kDay1 + 86'400'000;

constexpr const char* kSheet = R"({
  "currency": "EUR",
  "cpu_vcpu_hour_micros": 4000000,
  "storage_gib_month_micros": 8000000,
  "net_rx_gb_micros": 1000000,
  "net_tx_gb_micros": 9000000,
  "boot_micros": 10000000
})";

UsageRecord row(const std::string& resource, std::string_view meter, std::int64_t quantity,
                Millis at, const std::string& kind = "instance") {
    return UsageRecord{0,        1000, kind,        resource,     std::string(meter),
                       quantity, at,   at + 60'000, std::nullopt, std::nullopt};
}

// The month of the bill below, written out by hand (EUR cents):
//   i-1   cpu      1,350,000,000 µs = 0.375 h × 4 ct         =  1.5   → 2
//   i-1   net tx   2,500,000,000 B  = 2.5 GB × 9 ct          = 22.5   → 23
//   i-1   net rx     499,999,999 B  = 0.499999999 GB × 1 ct  =  0.49… → 0
//   i-1   boots    2 × 10 ct                                 = 20
//   i-1   ready    2,500 ms, not priced                      =  0
//   i-2   cpu         20,000,000 µs = 20 s × 4 ct / 3600 s   =  0.02… → 0
//   i-2   minimum     40,000,000 µs (60 s − 20 s)            =  0.04… → 0
//   vol-1 storage 13,140,000,000 GiB-ms = 10 GiB × ½ month × 8 ct = 40
//   total 85
std::vector<UsageRecord> month() {
    return {
        row("i-1", kCpuUs, 1'350'000'000, kDay1),
        row("i-1", kNetTxBytes, 2'500'000'000, kDay1),
        row("i-1", kNetRxBytes, 499'999'999, kDay2),
        row("i-1", kBoots, 1, kDay1),
        row("i-1", kBootReadyMs, 2'500, kDay1),
        row("i-1", kBoots, 1, kDay2),
        row("vol-1", kStorageGibMs, 13'140'000'000, kDay1, "volume"),
        row("i-2", kCpuUs, 20'000'000, kDay2),
    };
}

std::vector<Start> month_starts() {
    return {Start{1, 1000, "i-1", kDay1, 1'350'000'000}, Start{2, 1000, "i-2", kDay2, 20'000'000}};
}

std::string describe(const Bill& bill) {
    std::string out;
    for (const BillLine& l : bill.lines) {
        out += l.group + " " + l.meter + " " + std::to_string(l.quantity) + " " +
               std::to_string(l.amount) + "\n";
    }
    return out + "total " + std::to_string(bill.total) + " " + bill.currency + "\n";
}

TEST(MeterRating, ABillByInstanceMatchesTheOneComputedByHand) {
    const PriceSheet sheet = parse_price_sheet(kSheet, "test");
    EXPECT_EQ(describe(rate(month(), month_starts(), sheet, GroupBy::kInstance)),
              "i-1 boot_ready_ms 2500 0\n"
              "i-1 boots 2 20\n"
              "i-1 cpu_us 1350000000 2\n"
              "i-1 net_rx_bytes 499999999 0\n"
              "i-1 net_tx_bytes 2500000000 23\n"
              "i-2 cpu_minimum_us 40000000 0\n"
              "i-2 cpu_us 20000000 0\n"
              "vol-1 storage_gib_ms 13140000000 40\n"
              "total 85 EUR\n");
}

TEST(MeterRating, ABillByMeterRoundsEachLineOnce) {
    const PriceSheet sheet = parse_price_sheet(kSheet, "test");
    // cpu: 1,370,000,000 µs × 4 ct / 3.6e9 µs = 1.522… → 2
    EXPECT_EQ(describe(rate(month(), month_starts(), sheet, GroupBy::kMeter)),
              "boot_ready_ms boot_ready_ms 2500 0\n"
              "boots boots 2 20\n"
              "cpu_minimum_us cpu_minimum_us 40000000 0\n"
              "cpu_us cpu_us 1370000000 2\n"
              "net_rx_bytes net_rx_bytes 499999999 0\n"
              "net_tx_bytes net_tx_bytes 2500000000 23\n"
              "storage_gib_ms storage_gib_ms 13140000000 40\n"
              "total 85 EUR\n");
}

TEST(MeterRating, ABillByDayPutsEachRowOnTheDayItsIntervalStarts) {
    const PriceSheet sheet = parse_price_sheet(kSheet, "test");
    EXPECT_EQ(describe(rate(month(), month_starts(), sheet, GroupBy::kDay)),
              "2026-11-30 boot_ready_ms 2500 0\n"
              "2026-11-30 boots 1 10\n"
              "2026-11-30 cpu_us 1350000000 2\n"
              "2026-11-30 net_tx_bytes 2500000000 23\n"
              "2026-11-30 storage_gib_ms 13140000000 40\n"
              "2026-12-01 boots 1 10\n"
              "2026-12-01 cpu_minimum_us 40000000 0\n"
              "2026-12-01 cpu_us 20000000 0\n"
              "2026-12-01 net_rx_bytes 499999999 0\n"
              "total 85 EUR\n");
}

TEST(MeterRating, EachStartIsBilledAtLeastTheMinimum) {
    PriceSheet sheet = parse_price_sheet(kSheet, "test");
    sheet.cpu_vcpu_hour_micros = 3'600'000'000;  // 1 ct per CPU second
    const std::vector<UsageRecord> rows = {row("i-1", kCpuUs, 20'000'000, kDay1),
                                           row("i-2", kCpuUs, 75'300'000, kDay1)};
    const std::vector<Start> starts = {Start{1, 1000, "i-1", kDay1, 20'000'000},
                                       Start{2, 1000, "i-2", kDay1, 75'300'000}};
    // i-1: 20 s used + 40 s to the minimum = 60 ct; i-2: 75.3 s → 75 ct.
    EXPECT_EQ(describe(rate(rows, starts, sheet, GroupBy::kInstance)),
              "i-1 cpu_minimum_us 40000000 40\n"
              "i-1 cpu_us 20000000 20\n"
              "i-2 cpu_us 75300000 75\n"
              "total 135 EUR\n");
    sheet.minimum_seconds_per_start = 0;
    EXPECT_EQ(rate(rows, starts, sheet, GroupBy::kInstance).total, 20 + 75);
    sheet.minimum_seconds_per_start = 90;
    EXPECT_EQ(rate(rows, starts, sheet, GroupBy::kInstance).total, 90 + 90);
}

TEST(MeterRating, RoundingIsHalfUpAtTheEndOfTheLine) {
    const PriceSheet sheet = parse_price_sheet(kSheet, "test");
    EXPECT_EQ(charge(kCpuUs, 1'350'000'000, sheet), 2);  // 1.5
    EXPECT_EQ(charge(kCpuUs, 1'349'999'999, sheet), 1);  // 1.4999…
    EXPECT_EQ(charge(kNetTxBytes, 2'500'000'000, sheet), 23);
    EXPECT_EQ(charge(kNetTxBytes, 2'499'999'999, sheet), 22);
    EXPECT_EQ(charge(kNetRxBytes, 500'000'000, sheet), 1);  // 0.5
    EXPECT_EQ(charge(kNetRxBytes, 499'999'999, sheet), 0);
    EXPECT_EQ(charge(kStorageGibMs, 2'628'000'000, sheet), 8);  // a GiB-month
    EXPECT_EQ(charge(kBoots, 3, sheet), 30);
    EXPECT_EQ(charge(kBootReadyMs, 1'000'000, sheet), 0);
    EXPECT_EQ(charge(kCpuUs, 0, sheet), 0);
    // Exact where floating point is not: 0.1 + 0.2 of a cent, a million times.
    PriceSheet fine = sheet;
    fine.boot_micros = 300'000;  // 0.3 ct
    EXPECT_EQ(charge(kBoots, 1'000'000, fine), 300'000);
    EXPECT_EQ(charge(kBoots, 5, fine), 2);  // 1.5 → 2
}

TEST(MeterRating, AnAmountBeyond64BitsIsRefused) {
    PriceSheet sheet = parse_price_sheet(kSheet, "test");
    sheet.boot_micros = INT64_MAX;
    EXPECT_THROW(charge(kBoots, INT64_MAX, sheet), base::InternalError);
}

TEST(MeterRating, TotalsAreTheExactSumOfTheirLines) {
    const std::uint32_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    const PriceSheet sheet = parse_price_sheet(kSheet, "test");
    const std::string_view meters[] = {kCpuUs, kNetRxBytes, kNetTxBytes, kStorageGibMs, kBoots};
    for (int round = 0; round < 50; ++round) {
        std::vector<UsageRecord> rows;
        std::map<std::string, std::int64_t> by_meter;
        for (int i = 0; i < 200; ++i) {
            const auto meter = meters[rng() % 5];
            const std::int64_t q = rng() % 10'000'000'000LL;
            rows.push_back(row("i-" + std::to_string(rng() % 5), meter, q,
                               kDay1 + static_cast<Millis>(rng() % 10) * 86'400'000));
            by_meter[std::string(meter)] += q;
        }
        for (const GroupBy by : {GroupBy::kInstance, GroupBy::kMeter, GroupBy::kDay}) {
            const Bill bill = rate(rows, {}, sheet, by);
            std::int64_t sum = 0;
            std::map<std::string, std::int64_t> quantities;
            for (const BillLine& l : bill.lines) {
                EXPECT_EQ(l.amount, charge(l.meter, l.quantity, sheet));
                sum += l.amount;
                quantities[l.meter] += l.quantity;
            }
            EXPECT_EQ(bill.total, sum);
            EXPECT_EQ(quantities, by_meter);  // nothing dropped or doubled by grouping
        }
    }
}

TEST(MeterRating, UtcDays) {
    EXPECT_EQ(utc_day(0), "1970-01-01");
    EXPECT_EQ(utc_day(86'399'999), "1970-01-01");
    EXPECT_EQ(utc_day(86'400'000), "1970-01-02");
    EXPECT_EQ(utc_day(-1), "1969-12-31");
    EXPECT_EQ(utc_day(1'709'208'000'000), "2024-02-29");
    EXPECT_EQ(utc_day(kDay2 - 1), "2026-11-30");
}

TEST(MeterRatingPriceSheet, ParsesEveryField) {
    const PriceSheet s = parse_price_sheet(kSheet, "test");
    EXPECT_EQ(s.currency, "EUR");
    EXPECT_EQ(s.cpu_vcpu_hour_micros, 4'000'000);
    EXPECT_EQ(s.storage_gib_month_micros, 8'000'000);
    EXPECT_EQ(s.net_rx_gb_micros, 1'000'000);
    EXPECT_EQ(s.net_tx_gb_micros, 9'000'000);
    EXPECT_EQ(s.boot_micros, 10'000'000);
    EXPECT_EQ(s.minimum_seconds_per_start, 60);  // the default
    const PriceSheet t = parse_price_sheet(
        R"({"currency": "USD", "cpu_vcpu_hour_micros": 0, "storage_gib_month_micros": 0,
            "net_rx_gb_micros": 0, "net_tx_gb_micros": 0, "boot_micros": 0,
            "minimum_seconds_per_start": 0})",
        "test");
    EXPECT_EQ(t.minimum_seconds_per_start, 0);
}

TEST(MeterRatingPriceSheet, ErrorsNameTheSheetAndTheField) {
    const std::map<std::string, std::string> bad = {
        {"[]", "not a JSON object"},
        {R"({"cpu_vcpu_hour_micros": 1})", "'currency'"},
        {R"({"currency": "eur"})", "'currency'"},
        {R"({"currency": "EUR", "storage_gib_month_micros": 0, "net_rx_gb_micros": 0,
             "net_tx_gb_micros": 0, "boot_micros": 0})",
         "'cpu_vcpu_hour_micros' is missing"},
        {R"({"currency": "EUR", "cpu_vcpu_hour_micros": 1.5})", "'cpu_vcpu_hour_micros'"},
        {R"({"currency": "EUR", "cpu_vcpu_hour_micros": -1})", "'cpu_vcpu_hour_micros'"},
        {R"({"currency": "EUR", "cpu_vcpu_hour_micros": "4"})", "'cpu_vcpu_hour_micros'"},
        {R"({"currency": "EUR", "cpu_per_hour": 4})", "unknown field 'cpu_per_hour'"},
        {R"({"currency": "EUR", "cpu_vcpu_hour_micros": 0, "storage_gib_month_micros": 0,
             "net_rx_gb_micros": 0, "net_tx_gb_micros": 0, "boot_micros": 0,
             "minimum_seconds_per_start": 86401})",
         "'minimum_seconds_per_start'"},
    };
    for (const auto& [json, what] : bad) {
        try {
            parse_price_sheet(json, "/etc/vmd/prices.json");
            ADD_FAILURE() << "accepted " << json;
        } catch (const base::InvalidInput& e) {
            const std::string message = e.what();
            EXPECT_NE(message.find("/etc/vmd/prices.json"), std::string::npos) << message;
            EXPECT_NE(message.find(what), std::string::npos) << message;
        }
    }
}

TEST(MeterRatingPriceSheet, LoadsAFileAndNamesOneItCannotRead) {
    char tmpl[] = "/tmp/vmd-prices-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string path = std::string(tmpl) + "/prices.json";
    std::ofstream(path) << kSheet;
    EXPECT_EQ(load_price_sheet(path).net_tx_gb_micros, 9'000'000);
    std::filesystem::remove_all(tmpl);
    try {
        load_price_sheet(path);
        ADD_FAILURE() << "read a missing file";
    } catch (const base::InvalidInput& e) {
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace supervisor::metering
