#pragma once
// Differentiated System Description Table (ACPI 6.5 §5.2.11.1): the header
// followed by AML (firmware/aml.h) describing the machine's devices:
//
//   \_S5_          Package {SLP_TYP 5, 0, 0, 0}: what poweroff writes (§7.4.2)
//   \_SB.COM1      16550 UART, PNP0501, IO 0x3F8/8, IRQ 4
//   \_SB.PS2K      i8042 keyboard controller, PNP0303, IO 0x60 and 0x64, IRQ 1
//   \_SB.RTC_      CMOS RTC, PNP0B00, IO 0x70/2, IRQ 8
//   \_SB.PEVT      pvpanic, QEMU0001, IO 0x505/1
//   \_SB.PWRB      power button, PNP0C0C (§4.8.2.2.1.2)
//   \_SB.GED_      Generic Event Device, ACPI0013 (§5.6.9): its _EVT reads the
//                  event register at layout::kGedEvent and notifies PWRB
//   \_SB.VRnn      virtio-mmio transport n, LNRO0005, its window and GSI

#include <cstdint>
#include <span>

#include "firmware/acpi.h"
#include "firmware/acpi_table.h"

namespace firmware {

// Revision 2: AML integers are 64 bits wide.
inline constexpr std::uint8_t kDsdtRevision = 2;
// Notify value for a power button press (§5.6.6, Device Object Notification
// Values for PNP0C0C).
inline constexpr std::uint8_t kNotifyPowerButtonPressed = 0x80;

// The DSDT's AML body, without the table header.
Bytes build_dsdt_aml(std::span<const VirtioMmioWindow> virtio);
// The whole table, header and checksum included.
Bytes build_dsdt(std::span<const VirtioMmioWindow> virtio);

}  // namespace firmware
