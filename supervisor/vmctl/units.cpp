#include "supervisor/vmctl/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>

#include "base/error.h"

namespace vmctl {

namespace {

constexpr std::uint64_t kSector = 512;
constexpr std::uint64_t kMiB = 1ull << 20;
// Far above any disk or memory this tool sizes, and exact in a double.
constexpr double kMaxBytes = static_cast<double>(1ull << 52);

// The multiplier for a suffix like "G", "Gi", "GiB", "gb"; 0 when it is not one.
std::uint64_t suffix_multiplier(std::string suffix) {
    for (auto& c : suffix) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (suffix.empty() || suffix == "B") {
        return 1;
    }
    static const char kUnits[] = "KMGT";
    for (int i = 0; i < 4; ++i) {
        const std::string u(1, kUnits[i]);
        if (suffix == u || suffix == u + "I" || suffix == u + "B" || suffix == u + "IB") {
            return 1ull << (10 * (i + 1));
        }
    }
    return 0;
}

// The value of `text` in units of `unit` bytes for a plain number, else in
// bytes; throws unless it is a positive whole number of `granule` bytes.
std::uint64_t parse_bytes(const std::string& option, const std::string& text,
                          std::uint64_t plain_unit, std::uint64_t granule,
                          const char* granule_name) {
    std::size_t digits = 0;
    bool dot = false;
    while (digits < text.size() && (std::isdigit(static_cast<unsigned char>(text[digits])) ||
                                    (text[digits] == '.' && !dot))) {
        dot |= text[digits] == '.';
        ++digits;
    }
    const std::string number = text.substr(0, digits);
    const std::string suffix = text.substr(digits);
    const std::uint64_t multiplier = suffix.empty() ? plain_unit : suffix_multiplier(suffix);
    if (number.empty() || number == "." || multiplier == 0) {
        throw base::InvalidInput(option + " wants a size like 512M, 10G or 1.5GiB, not '" + text +
                                 "'");
    }
    const double value = std::stod(number) * static_cast<double>(multiplier);
    if (value > kMaxBytes) {
        throw base::InvalidInput(option + " " + text + " is too large");
    }
    const auto bytes = static_cast<std::uint64_t>(std::llround(value));
    if (std::fabs(value - static_cast<double>(bytes)) > 1e-6 || bytes == 0 ||
        bytes % granule != 0) {
        throw base::InvalidInput(option + " " + text + " is not a positive whole number of " +
                                 granule_name);
    }
    return bytes;
}

}  // namespace

std::uint64_t parse_size(const std::string& option, const std::string& text) {
    return parse_bytes(option, text, 1, kSector, "512-byte sectors");
}

std::uint64_t parse_memory_mib(const std::string& option, const std::string& text) {
    return parse_bytes(option, text, kMiB, kMiB, "MiB") / kMiB;
}

std::string format_size(std::uint64_t bytes) {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int unit = 0;
    double value = static_cast<double>(bytes);
    while (value >= 1024 && unit < 5) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    if (unit == 0 || std::fabs(value - std::round(value)) < 0.05) {
        std::snprintf(text, sizeof text, "%.0f %s", value, kUnits[unit]);
    } else {
        std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
    }
    return text;
}

}  // namespace vmctl
