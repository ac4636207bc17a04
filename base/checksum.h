#pragma once
// The 8-bit checksum the ACPI tables (ACPI 6.5 §5.2.5.3, §5.2.6) and the MP
// table (MP spec 1.4 §4.1, §4.2) share: the byte that makes the whole
// structure sum to zero, computed while its checksum field is still 0.

#include <cstdint>
#include <span>

namespace base {

inline std::uint8_t zero_sum_checksum(std::span<const std::uint8_t> bytes) {
    std::uint8_t sum = 0;
    for (std::uint8_t byte : bytes) {
        sum = static_cast<std::uint8_t>(sum + byte);
    }
    return static_cast<std::uint8_t>(0x100 - sum);
}

}  // namespace base
