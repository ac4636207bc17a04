#include "supervisor/metering/price_sheet.h"

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace supervisor::metering {

namespace {

[[noreturn]] void invalid(const std::string& source, const std::string& what) {
    throw base::InvalidInput("price sheet " + source + ": " + what);
}

std::int64_t count(const nlohmann::json& j, const std::string& source, const std::string& key) {
    // Prices are whole micro-units: a fraction is a mistake in the sheet.
    if (!j.is_number_integer()) {
        invalid(source, "'" + key + "' must be a whole number (millionths of a minor unit)");
    }
    if (j.is_number_unsigned() &&
        j.get<std::uint64_t>() >
            static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        invalid(source, "'" + key + "' is too large");
    }
    const auto v = j.get<std::int64_t>();
    if (v < 0) {
        invalid(source, "'" + key + "' must not be negative");
    }
    return v;
}

}  // namespace

PriceSheet parse_price_sheet(std::string_view json, const std::string& source) {
    const auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
        invalid(source, "not a JSON object");
    }
    PriceSheet sheet;
    struct Field {
        const char* key;
        std::int64_t* value;
        bool required;
    };
    const Field fields[] = {
        {"cpu_vcpu_hour_micros", &sheet.cpu_vcpu_hour_micros, true},
        {"storage_gib_month_micros", &sheet.storage_gib_month_micros, true},
        {"net_rx_gb_micros", &sheet.net_rx_gb_micros, true},
        {"net_tx_gb_micros", &sheet.net_tx_gb_micros, true},
        {"boot_micros", &sheet.boot_micros, true},
        {"minimum_seconds_per_start", &sheet.minimum_seconds_per_start, false},
    };
    for (const auto& [key, value] : j.items()) {
        if (key == "currency") {
            continue;
        }
        bool known = false;
        for (const Field& f : fields) {
            known = known || key == f.key;
        }
        if (!known) {
            invalid(source, "unknown field '" + key + "'");
        }
    }
    const auto currency = j.find("currency");
    if (currency == j.end() || !currency->is_string()) {
        invalid(source, "'currency' is missing (an ISO 4217 code such as \"EUR\")");
    }
    sheet.currency = currency->get<std::string>();
    if (sheet.currency.size() != 3 ||
        sheet.currency.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") != std::string::npos) {
        invalid(source, "'currency' must be an ISO 4217 code such as \"EUR\", not '" +
                            sheet.currency + "'");
    }
    for (const Field& f : fields) {
        const auto it = j.find(f.key);
        if (it == j.end()) {
            if (f.required) {
                invalid(source, "'" + std::string(f.key) + "' is missing");
            }
            continue;
        }
        *f.value = count(*it, source, f.key);
    }
    if (sheet.minimum_seconds_per_start > 86'400) {
        invalid(source, "'minimum_seconds_per_start' is over a day: " +
                            std::to_string(sheet.minimum_seconds_per_start));
    }
    return sheet;
}

PriceSheet load_price_sheet(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw base::InvalidInput("cannot read the price sheet " + path +
                                 ": check the path given to vmd");
    }
    std::ostringstream text;
    text << in.rdbuf();
    return parse_price_sheet(text.str(), path);
}

}  // namespace supervisor::metering
