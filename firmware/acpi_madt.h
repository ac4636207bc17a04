#pragma once
// Multiple APIC Description Table (ACPI 6.5 §5.2.12): the local APIC address,
// one Processor Local APIC entry per vCPU (§5.2.12.2), one I/O APIC with GSI
// base 0 (§5.2.12.3), Interrupt Source Overrides (§5.2.12.5) and a Local APIC
// NMI entry (§5.2.12.7). PCAT_COMPAT is 0: a hardware-reduced machine has no
// 8259 PIC to mask.

#include <cstddef>
#include <cstdint>

#include "firmware/acpi_table.h"

namespace firmware {

// §5.2.12 "Multiple APIC Description Table (MADT) Format".
struct [[gnu::packed]] MadtHeader {
    AcpiTableHeader header;  // "APIC"
    std::uint32_t local_apic_address;
    std::uint32_t flags;  // bit 0 PCAT_COMPAT
};
static_assert(offsetof(MadtHeader, local_apic_address) == 36);
static_assert(offsetof(MadtHeader, flags) == 40);
static_assert(sizeof(MadtHeader) == 44);

// §5.2.12.2 "Processor Local APIC Structure", type 0.
struct [[gnu::packed]] MadtLocalApic {
    std::uint8_t type;
    std::uint8_t length;  // 8
    std::uint8_t processor_uid;
    std::uint8_t apic_id;
    std::uint32_t flags;  // bit 0 Enabled
};
static_assert(offsetof(MadtLocalApic, processor_uid) == 2);
static_assert(offsetof(MadtLocalApic, apic_id) == 3);
static_assert(offsetof(MadtLocalApic, flags) == 4);
static_assert(sizeof(MadtLocalApic) == 8);

// §5.2.12.3 "I/O APIC Structure", type 1.
struct [[gnu::packed]] MadtIoApic {
    std::uint8_t type;
    std::uint8_t length;  // 12
    std::uint8_t io_apic_id;
    std::uint8_t reserved;
    std::uint32_t address;
    std::uint32_t gsi_base;
};
static_assert(offsetof(MadtIoApic, io_apic_id) == 2);
static_assert(offsetof(MadtIoApic, address) == 4);
static_assert(offsetof(MadtIoApic, gsi_base) == 8);
static_assert(sizeof(MadtIoApic) == 12);

// §5.2.12.5 "Interrupt Source Override Structure", type 2.
struct [[gnu::packed]] MadtInterruptOverride {
    std::uint8_t type;
    std::uint8_t length;  // 10
    std::uint8_t bus;     // 0: ISA
    std::uint8_t source;  // the ISA IRQ
    std::uint32_t gsi;
    std::uint16_t flags;  // MPS INTI flags
};
static_assert(offsetof(MadtInterruptOverride, bus) == 2);
static_assert(offsetof(MadtInterruptOverride, source) == 3);
static_assert(offsetof(MadtInterruptOverride, gsi) == 4);
static_assert(offsetof(MadtInterruptOverride, flags) == 8);
static_assert(sizeof(MadtInterruptOverride) == 10);

// §5.2.12.7 "Local APIC NMI Structure", type 4.
struct [[gnu::packed]] MadtLocalApicNmi {
    std::uint8_t type;
    std::uint8_t length;         // 6
    std::uint8_t processor_uid;  // 0xFF: all processors
    std::uint16_t flags;         // MPS INTI flags
    std::uint8_t lint;           // LINT0 or LINT1
};
static_assert(offsetof(MadtLocalApicNmi, processor_uid) == 2);
static_assert(offsetof(MadtLocalApicNmi, flags) == 3);
static_assert(offsetof(MadtLocalApicNmi, lint) == 5);
static_assert(sizeof(MadtLocalApicNmi) == 6);

inline constexpr std::uint8_t kMadtRevision = 5;
inline constexpr std::uint8_t kMadtTypeLocalApic = 0;
inline constexpr std::uint8_t kMadtTypeIoApic = 1;
inline constexpr std::uint8_t kMadtTypeInterruptOverride = 2;
inline constexpr std::uint8_t kMadtTypeLocalApicNmi = 4;
inline constexpr std::uint32_t kMadtLocalApicEnabled = 1u << 0;
inline constexpr std::uint8_t kMadtIoApicId = 0;

// §5.2.12.5 "MPS INTI Flags": polarity in bits 1-0, trigger mode in bits 3-2.
inline constexpr std::uint16_t kMpsIntiConforms = 0x0;
inline constexpr std::uint16_t kMpsIntiActiveHigh = 0x1;
inline constexpr std::uint16_t kMpsIntiActiveLow = 0x3;
inline constexpr std::uint16_t kMpsIntiEdge = 0x1 << 2;
inline constexpr std::uint16_t kMpsIntiLevel = 0x3 << 2;

// vcpus must be 1..255 (APIC ids 0..vcpus-1; 0xFF is the broadcast id).
Bytes build_madt(unsigned vcpus);

}  // namespace firmware
