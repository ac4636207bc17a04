#pragma once
// Root System Description Pointer, revision 2 (ACPI 6.5 §5.2.5.3). The OS
// finds it by scanning 0xE0000..0xFFFFF on 16-byte boundaries for "RSD PTR "
// (§5.2.5.1), or is told its address (Linux: boot_params.acpi_rsdp_addr).
// It points at the XSDT only: RsdtAddress stays 0.

#include <cstddef>
#include <cstdint>

#include "firmware/acpi_table.h"

namespace firmware {

// §5.2.5.3 Table 5.3 "RSDP Structure".
struct [[gnu::packed]] Rsdp {
    char signature[8];      // "RSD PTR "
    std::uint8_t checksum;  // over the first 20 bytes (the ACPI 1.0 part)
    char oem_id[6];
    std::uint8_t revision;  // 2 for ACPI 2.0 and later
    std::uint32_t rsdt_address;
    std::uint32_t length;  // of this structure: 36
    std::uint64_t xsdt_address;
    std::uint8_t extended_checksum;  // over all 36 bytes
    std::uint8_t reserved[3];
};
static_assert(offsetof(Rsdp, signature) == 0);
static_assert(offsetof(Rsdp, checksum) == 8);
static_assert(offsetof(Rsdp, oem_id) == 9);
static_assert(offsetof(Rsdp, revision) == 15);
static_assert(offsetof(Rsdp, rsdt_address) == 16);
static_assert(offsetof(Rsdp, length) == 20);
static_assert(offsetof(Rsdp, xsdt_address) == 24);
static_assert(offsetof(Rsdp, extended_checksum) == 32);
static_assert(offsetof(Rsdp, reserved) == 33);
static_assert(sizeof(Rsdp) == 36);

// The first checksum covers the ACPI 1.0 structure: bytes 0..19.
inline constexpr std::size_t kRsdpV1Length = 20;
// The RSDP must sit on a 16-byte boundary.
inline constexpr std::uint64_t kRsdpAlignment = 16;

Bytes build_rsdp(std::uint64_t xsdt_address);

}  // namespace firmware
