#pragma once
// Rating: usage rows and a price sheet in, a bill out, in integer minor units
// of the sheet's currency.
//
// A bill has one line per group and meter (group: the instance or volume, the
// meter, or the UTC day "YYYY-MM-DD" of the usage interval's start). A line's
// quantity is the exact sum of its rows; its amount is quantity × price
// rounded ONCE, half up, to a whole minor unit; the total is the exact sum
// of the lines' amounts. Billing is finer than per second (CPU per µs,
// storage per GiB-ms), and each start (vmm process) is billed at least
// minimum_seconds_per_start of CPU time: when the CPU time of its whole life
// so far is below that, a `cpu_minimum_us` line (priced as CPU) tops it up,
// in the group of the start (its instance, its day).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/metering/ledger.h"
#include "supervisor/metering/price_sheet.h"

namespace supervisor::metering {

enum class GroupBy { kInstance, kMeter, kDay };

// The top-up that brings a start's CPU time to the per-start minimum.
inline constexpr std::string_view kCpuMinimumUs = "cpu_minimum_us";

struct BillLine {
    std::string group;  // resource id, meter name or UTC day
    std::string meter;
    std::int64_t quantity = 0;
    std::int64_t amount = 0;  // minor units
};

struct Bill {
    std::string currency;
    std::vector<BillLine> lines;  // ordered by group, then meter
    std::int64_t total = 0;       // the sum of the lines' amounts
};

// quantity × the meter's price, in minor units, rounded half up. A meter the
// sheet has no price for (boot_ready_ms) costs nothing. Throws
// base::InternalError when the amount does not fit 64 bits.
std::int64_t charge(std::string_view meter, std::int64_t quantity, const PriceSheet& sheet);

// The bill for `usage` (ledger.h usage()) and the starts in the same window
// (ledger.h starts()).
Bill rate(const std::vector<UsageRecord>& usage, const std::vector<Start>& starts,
          const PriceSheet& sheet, GroupBy by);

// "YYYY-MM-DD" of a Unix-ms time, in UTC.
std::string utc_day(Millis at);

}  // namespace supervisor::metering
