#include "supervisor/metering/rating.h"

#include <ctime>
#include <limits>
#include <map>
#include <utility>

#include "base/error.h"
#include "supervisor/metering/meters.h"

namespace supervisor::metering {

namespace {

constexpr std::int64_t kMicrosPerMinor = 1'000'000;
constexpr std::int64_t kUsPerHour = 3'600'000'000;
constexpr std::int64_t kMsPerMonth = 730LL * 3'600'000;  // 730 h, a year's twelfth
constexpr std::int64_t kBytesPerGb = 1'000'000'000;

// The price (micros) of `per` units of the meter's quantity.
struct Price {
    std::int64_t micros = 0;
    std::int64_t per = 1;
};

Price price_of(std::string_view meter, const PriceSheet& sheet) {
    if (meter == kCpuUs || meter == kCpuMinimumUs) {
        return {sheet.cpu_vcpu_hour_micros, kUsPerHour};
    }
    if (meter == kStorageGibMs) {
        return {sheet.storage_gib_month_micros, kMsPerMonth};
    }
    if (meter == kNetRxBytes) {
        return {sheet.net_rx_gb_micros, kBytesPerGb};
    }
    if (meter == kNetTxBytes) {
        return {sheet.net_tx_gb_micros, kBytesPerGb};
    }
    if (meter == kBoots) {
        return {sheet.boot_micros, 1};
    }
    return {0, 1};
}

}  // namespace

std::int64_t charge(std::string_view meter, std::int64_t quantity, const PriceSheet& sheet) {
    const Price p = price_of(meter, sheet);
    const __int128 divisor = static_cast<__int128>(p.per) * kMicrosPerMinor;
    const __int128 scaled = static_cast<__int128>(quantity) * p.micros;
    // Half up: floor(scaled / divisor + 1/2), quantities and prices being >= 0.
    const __int128 amount = (2 * scaled + divisor) / (2 * divisor);
    if (amount > std::numeric_limits<std::int64_t>::max()) {
        throw base::InternalError("rating: the charge for " + std::to_string(quantity) + " " +
                                  std::string(meter) + " does not fit 64 bits");
    }
    return static_cast<std::int64_t>(amount);
}

std::string utc_day(Millis at) {
    const Millis day_ms = 86'400'000;
    const Millis days = at >= 0 ? at / day_ms : -((-at + day_ms - 1) / day_ms);
    const std::time_t t = static_cast<std::time_t>(days * 86'400);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[48];
    std::snprintf(text, sizeof text, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday);
    return text;
}

Bill rate(const std::vector<UsageRecord>& usage, const std::vector<Start>& starts,
          const PriceSheet& sheet, GroupBy by) {
    std::map<std::pair<std::string, std::string>, std::int64_t> quantities;
    auto add = [&](const std::string& resource, Millis at, std::string_view meter,
                   std::int64_t quantity) {
        std::string group = by == GroupBy::kInstance ? resource
                            : by == GroupBy::kMeter  ? std::string(meter)
                                                     : utc_day(at);
        std::int64_t& sum = quantities[{std::move(group), std::string(meter)}];
        if (quantity > std::numeric_limits<std::int64_t>::max() - sum) {
            throw base::InternalError("rating: the sum of " + std::string(meter) + " for " +
                                      resource + " does not fit 64 bits");
        }
        sum += quantity;
    };
    for (const UsageRecord& r : usage) {
        add(r.resource, r.start_ms, r.meter, r.quantity);
    }
    const std::int64_t minimum_us = sheet.minimum_seconds_per_start * 1'000'000;
    for (const Start& s : starts) {
        if (s.cpu_us < minimum_us) {
            add(s.instance, s.started_at, kCpuMinimumUs, minimum_us - s.cpu_us);
        }
    }
    Bill bill;
    bill.currency = sheet.currency;
    for (const auto& [key, quantity] : quantities) {
        const std::int64_t amount = charge(key.second, quantity, sheet);
        bill.lines.push_back(BillLine{key.first, key.second, quantity, amount});
        bill.total += amount;
    }
    return bill;
}

}  // namespace supervisor::metering
