#pragma once
// Extended System Description Table (ACPI 6.5 §5.2.8): the header followed by
// the 64-bit physical addresses of the other tables (here the FADT and the
// MADT; the DSDT is reached through the FADT). The entries start at offset
// 36, so they are not 8-byte aligned: read them with memcpy.

#include <cstdint>
#include <span>

#include "firmware/acpi_table.h"

namespace firmware {

inline constexpr std::uint8_t kXsdtRevision = 1;  // §5.2.8 Table 5.7
inline constexpr std::size_t kXsdtEntriesOffset = sizeof(AcpiTableHeader);

Bytes build_xsdt(std::span<const std::uint64_t> tables);

}  // namespace firmware
