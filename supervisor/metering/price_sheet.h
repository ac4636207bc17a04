#pragma once
// The price sheet: what each unit of each meter costs, from a JSON file the
// operator writes. Prices are integers in millionths of the currency's minor
// unit (micro-cents for EUR or USD), so a price like 0.0416 USD per hour is
// exact (4,160,000) and no floating point is ever involved.
//
//   {
//     "currency": "EUR",
//     "cpu_vcpu_hour_micros": 4160000,     // per hour of CPU time (3,600 s of one vCPU)
//     "storage_gib_month_micros": 8000000, // per GiB (2^30 bytes) held for a month of 730 h
//     "net_rx_gb_micros": 0,               // per GB (10^9 bytes) the guests received
//     "net_tx_gb_micros": 9000000,         // per GB (10^9 bytes) the guests sent
//     "boot_micros": 10000,                // per boot (start or reboot)
//     "minimum_seconds_per_start": 60      // optional, 60 when absent
//   }

#include <cstdint>
#include <string>
#include <string_view>

namespace supervisor::metering {

struct PriceSheet {
    std::string currency;  // ISO 4217, three capital letters
    std::int64_t cpu_vcpu_hour_micros = 0;
    std::int64_t storage_gib_month_micros = 0;
    std::int64_t net_rx_gb_micros = 0;
    std::int64_t net_tx_gb_micros = 0;
    std::int64_t boot_micros = 0;
    // Each start is billed at least this much CPU time (rating.h).
    std::int64_t minimum_seconds_per_start = 60;  // at most a day
};

// Parses the JSON text of a price sheet; `source` names it in errors. Throws
// base::InvalidInput naming the field for a missing, unknown, negative or
// non-integer field.
PriceSheet parse_price_sheet(std::string_view json, const std::string& source);
// Reads and parses the file at `path` (base::InvalidInput when unreadable).
PriceSheet load_price_sheet(const std::string& path);

}  // namespace supervisor::metering
