#pragma once
// An Intel MultiProcessor Specification 1.4 table for guests that look for
// one instead of (or before) ACPI: the MP Floating Pointer Structure ("_MP_",
// §4.1) at layout::kEbda, which Linux scans, followed by the MP Configuration
// Table ("PCMP", §4.2) with processor, bus, I/O APIC, I/O interrupt and local
// interrupt entries (§4.3). The whole thing lives in the 1 KiB EBDA below
// 640 KiB, which bounds the number of vCPUs it can list.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/guest_memory.h"
#include "x86/layout.h"

namespace x86 {

// §4.1 Table 4-1 "MP Floating Pointer Structure Fields".
struct [[gnu::packed]] MpFloatingPointer {
    char signature[4];               // "_MP_"
    std::uint32_t physical_address;  // of the configuration table
    std::uint8_t length;             // in 16-byte paragraphs: 1
    std::uint8_t spec_rev;           // 4 for version 1.4
    std::uint8_t checksum;           // over all 16 bytes
    std::uint8_t feature[5];         // 0: a configuration table is present
};
static_assert(offsetof(MpFloatingPointer, physical_address) == 4);
static_assert(offsetof(MpFloatingPointer, length) == 8);
static_assert(offsetof(MpFloatingPointer, spec_rev) == 9);
static_assert(offsetof(MpFloatingPointer, checksum) == 10);
static_assert(offsetof(MpFloatingPointer, feature) == 11);
static_assert(sizeof(MpFloatingPointer) == 16);

// §4.2 Table 4-2 "MP Configuration Table Header Fields".
struct [[gnu::packed]] MpConfigHeader {
    char signature[4];  // "PCMP"
    std::uint16_t base_table_length;
    std::uint8_t spec_rev;
    std::uint8_t checksum;  // over the base table
    char oem_id[8];
    char product_id[12];
    std::uint32_t oem_table_pointer;
    std::uint16_t oem_table_size;
    std::uint16_t entry_count;
    std::uint32_t local_apic_address;
    std::uint16_t extended_table_length;
    std::uint8_t extended_table_checksum;
    std::uint8_t reserved;
};
static_assert(offsetof(MpConfigHeader, base_table_length) == 4);
static_assert(offsetof(MpConfigHeader, spec_rev) == 6);
static_assert(offsetof(MpConfigHeader, checksum) == 7);
static_assert(offsetof(MpConfigHeader, oem_id) == 8);
static_assert(offsetof(MpConfigHeader, product_id) == 16);
static_assert(offsetof(MpConfigHeader, oem_table_pointer) == 28);
static_assert(offsetof(MpConfigHeader, oem_table_size) == 32);
static_assert(offsetof(MpConfigHeader, entry_count) == 34);
static_assert(offsetof(MpConfigHeader, local_apic_address) == 36);
static_assert(offsetof(MpConfigHeader, extended_table_length) == 40);
static_assert(offsetof(MpConfigHeader, extended_table_checksum) == 42);
static_assert(sizeof(MpConfigHeader) == 44);

// §4.3.1 Table 4-4 "Processor Entry Fields", entry type 0.
struct [[gnu::packed]] MpProcessor {
    std::uint8_t type;
    std::uint8_t local_apic_id;
    std::uint8_t local_apic_version;
    std::uint8_t cpu_flags;  // bit 0 EN, bit 1 BP
    std::uint32_t cpu_signature;
    std::uint32_t feature_flags;
    std::uint32_t reserved[2];
};
static_assert(offsetof(MpProcessor, local_apic_id) == 1);
static_assert(offsetof(MpProcessor, local_apic_version) == 2);
static_assert(offsetof(MpProcessor, cpu_flags) == 3);
static_assert(offsetof(MpProcessor, cpu_signature) == 4);
static_assert(offsetof(MpProcessor, feature_flags) == 8);
static_assert(offsetof(MpProcessor, reserved) == 12);
static_assert(sizeof(MpProcessor) == 20);

// §4.3.2 Table 4-6 "Bus Entry Fields", entry type 1.
struct [[gnu::packed]] MpBus {
    std::uint8_t type;
    std::uint8_t bus_id;
    char bus_type[6];  // "ISA   " (Table 4-8)
};
static_assert(offsetof(MpBus, bus_id) == 1);
static_assert(offsetof(MpBus, bus_type) == 2);
static_assert(sizeof(MpBus) == 8);

// §4.3.3 Table 4-9 "I/O APIC Entry Fields", entry type 2.
struct [[gnu::packed]] MpIoApic {
    std::uint8_t type;
    std::uint8_t io_apic_id;
    std::uint8_t io_apic_version;
    std::uint8_t flags;  // bit 0 EN
    std::uint32_t address;
};
static_assert(offsetof(MpIoApic, io_apic_id) == 1);
static_assert(offsetof(MpIoApic, io_apic_version) == 2);
static_assert(offsetof(MpIoApic, flags) == 3);
static_assert(offsetof(MpIoApic, address) == 4);
static_assert(sizeof(MpIoApic) == 8);

// §4.3.4 Table 4-10 "I/O Interrupt Entry Fields" (type 3) and §4.3.5
// Table 4-12 "Local Interrupt Entry Fields" (type 4) share one layout; the
// destination is an I/O APIC id and INTIN# or a local APIC id and LINTIN#.
struct [[gnu::packed]] MpInterrupt {
    std::uint8_t type;
    std::uint8_t interrupt_type;  // 0 INT, 1 NMI, 2 SMI, 3 ExtINT
    std::uint16_t flags;          // polarity bits 1-0, trigger bits 3-2; 0 conforms
    std::uint8_t source_bus_id;
    std::uint8_t source_bus_irq;
    std::uint8_t destination_apic_id;
    std::uint8_t destination_pin;
};
static_assert(offsetof(MpInterrupt, interrupt_type) == 1);
static_assert(offsetof(MpInterrupt, flags) == 2);
static_assert(offsetof(MpInterrupt, source_bus_id) == 4);
static_assert(offsetof(MpInterrupt, source_bus_irq) == 5);
static_assert(offsetof(MpInterrupt, destination_apic_id) == 6);
static_assert(offsetof(MpInterrupt, destination_pin) == 7);
static_assert(sizeof(MpInterrupt) == 8);

inline constexpr std::uint8_t kMpEntryProcessor = 0;
inline constexpr std::uint8_t kMpEntryBus = 1;
inline constexpr std::uint8_t kMpEntryIoApic = 2;
inline constexpr std::uint8_t kMpEntryIoInterrupt = 3;
inline constexpr std::uint8_t kMpEntryLocalInterrupt = 4;
inline constexpr std::uint8_t kMpSpecRev = 4;  // version 1.4
inline constexpr std::uint8_t kMpLocalApicVersion = 0x14;
inline constexpr std::uint8_t kMpIoApicVersion = 0x11;
inline constexpr std::uint8_t kMpCpuEnabled = 1u << 0;
inline constexpr std::uint8_t kMpCpuBootstrap = 1u << 1;

// The room from layout::kEbda to the end of conventional memory (0xA0000).
inline constexpr std::size_t kMpTableMaxBytes = 0x400;
// ISA IRQs 0..15 except 2, which would share pin 2 with IRQ 0.
inline constexpr std::size_t kMpIoInterruptEntries = 15;
inline constexpr std::size_t kMpFixedBytes = sizeof(MpFloatingPointer) + sizeof(MpConfigHeader) +
                                             sizeof(MpBus) + sizeof(MpIoApic) +
                                             (kMpIoInterruptEntries + 2) * sizeof(MpInterrupt);
// How many processor entries fit next to everything else (40).
inline constexpr unsigned kMpTableMaxVcpus =
    static_cast<unsigned>((kMpTableMaxBytes - kMpFixedBytes) / sizeof(MpProcessor));

// The floating pointer at `base`, the configuration table right after it.
// Throws base::InvalidInput for 0 or more than kMpTableMaxVcpus vCPUs.
std::vector<std::uint8_t> build_mptable(unsigned vcpus, base::GuestAddress base);

// Builds the table for layout::kEbda and writes it there. Throws
// base::InvalidInput as build_mptable does, or when the EBDA is not guest RAM.
void write_mptable(base::GuestMemory& memory, unsigned vcpus);

}  // namespace x86
