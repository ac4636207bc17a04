#pragma once
// The ACPI tables of the machine in x86/layout.h, built in one piece:
//
//   base + 0   RSDP (revision 2) -> XSDT -> FADT -> DSDT
//                                        -> MADT
//
// one contiguous blob meant for layout::kBiosStart, where the RSDP is found
// by the guest's scan of 0xE0000..0xFFFFF (and whose address can also be
// passed in boot_params.acpi_rsdp_addr). The machine is hardware-reduced
// ACPI: power-off is the _S5 sleep type written to the FADT's sleep control
// register, reboot the FADT's reset register, and the power button an event
// of the Generic Event Device on layout::kIrqGed.
//
// Virtio-mmio devices are declared edge-triggered, active-high, exclusive.

#include <cstdint>
#include <vector>

#include "base/guest_memory.h"
#include "x86/layout.h"

namespace firmware {

// One virtio-mmio transport: its register window and interrupt line.
struct VirtioMmioWindow {
    base::GuestAddress addr;  // below 4 GiB
    std::uint64_t size;
    std::uint32_t gsi;  // layout::kIrqVirtioFirst .. layout::kIoApicPins - 1
};

struct AcpiConfig {
    unsigned vcpus = 1;                    // 1..kAcpiMaxVcpus
    std::vector<VirtioMmioWindow> virtio;  // at most layout::kMaxVirtioDevices
};

inline constexpr unsigned kAcpiMaxVcpus = 255;

struct AcpiTables {
    base::GuestAddress base = 0;  // where bytes[0] goes
    base::GuestAddress rsdp = 0;  // the RSDP's guest-physical address
    std::vector<std::uint8_t> bytes;
    // Where each table lies (guest-physical), for tests and logs.
    base::GuestAddress xsdt = 0;
    base::GuestAddress fadt = 0;
    base::GuestAddress madt = 0;
    base::GuestAddress dsdt = 0;
};

// Builds the tables for placement at `base` (16-byte aligned). Throws
// base::InvalidInput for 0 or more than kAcpiMaxVcpus vCPUs, more than
// layout::kMaxVirtioDevices virtio windows, a window that is empty or not
// below 4 GiB, a GSI outside the virtio range, or an unaligned base.
AcpiTables build_acpi_tables(const AcpiConfig& config, base::GuestAddress base);

// Builds the tables for layout::kBiosStart and copies them there, clearing the
// rest of kBiosStart..kBiosEnd. Returns the RSDP's address. Throws
// base::InvalidInput as build_acpi_tables does, and when the tables do not fit
// below layout::kResetCode or kBiosStart..kBiosEnd is not guest RAM.
base::GuestAddress write_acpi_tables(base::GuestMemory& memory, const AcpiConfig& config);

}  // namespace firmware
