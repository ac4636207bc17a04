#pragma once
// The machine this VMM presents to an x86-64 guest: where things live in
// guest-physical memory, which I/O ports and interrupt lines the devices use.
// One table so that the boot code, the firmware tables, the devices and the
// VMM agree. See docs/platform.md for the same map in prose.

#include <cstdint>

namespace layout {

// ---- guest-physical memory below 1 MiB --------------------------------------
inline constexpr std::uint64_t kGdt = 0x500;            // boot GDT (4 entries)
inline constexpr std::uint64_t kIdt = 0x520;            // empty boot IDT
inline constexpr std::uint64_t kPvhStartInfo = 0x6000;  // PVH hvm_start_info + memmap
inline constexpr std::uint64_t kZeroPage = 0x7000;      // Linux boot_params
inline constexpr std::uint64_t kBootStack = 0x8ff0;     // initial RSP
inline constexpr std::uint64_t kPml4 = 0x9000;          // identity page tables:
inline constexpr std::uint64_t kPdpt = 0xA000;          //   PML4, PDPT and four page
inline constexpr std::uint64_t kPageDirs = 0xB000;      //   directories mapping 4 GiB
inline constexpr std::uint64_t kPageDirsEnd = 0xF000;   //   with 2 MiB pages
inline constexpr std::uint64_t kCmdline = 0x20000;      // kernel command line
inline constexpr std::uint64_t kCmdlineMax = 0x10000;   // its room (64 KiB)
inline constexpr std::uint64_t kEbda = 0x9FC00;         // MP table lives here
inline constexpr std::uint64_t kLowRamEnd = 0x9FC00;    // usable RAM below 640 KiB
inline constexpr std::uint64_t kBiosStart = 0xE0000;    // ACPI tables: RSDP is
inline constexpr std::uint64_t kBiosEnd = 0x100000;     //   searched for here
inline constexpr std::uint64_t kResetCode = 0xFFF00;    // what the reset vector runs
inline constexpr std::uint64_t kResetVector = 0xFFFF0;  // F000:FFF0, the BIOS reset entry
inline constexpr std::uint64_t kHighMem = 0x100000;     // 1 MiB: kernel load address

// ---- the 32-bit MMIO hole (3 GiB .. 4 GiB): no RAM here -------------------
inline constexpr std::uint64_t kMmioHoleStart = 0xC000'0000;
inline constexpr std::uint64_t kVirtioMmioBase = 0xD000'0000;  // device windows,
inline constexpr std::uint64_t kVirtioMmioStride = 0x1000;     //   4 KiB each
inline constexpr std::uint64_t kIoApic = 0xFEC0'0000;
inline constexpr std::uint64_t kLocalApic = 0xFEE0'0000;
inline constexpr std::uint64_t kMmioHoleEnd = 0x1'0000'0000;

// ---- I/O ports ---------------------------------------------------------------
inline constexpr std::uint16_t kI8042Data = 0x60;
inline constexpr std::uint16_t kI8042Command = 0x64;   // write 0xFE: reset pulse
inline constexpr std::uint16_t kRtcIndex = 0x70;       // CMOS RTC: 0x70 index, 0x71 data
inline constexpr std::uint16_t kCom1 = 0x3F8;          // 8 ports
inline constexpr std::uint16_t kBootProgress = 0x402;  // guest/boot_progress.h
inline constexpr std::uint16_t kPvPanic = 0x505;       // pvpanic (QEMU0001)
// ACPI hardware-reduced registers (FADT): one byte each.
inline constexpr std::uint16_t kAcpiSleepControl = 0x600;  // SLP_EN|SLP_TYP<<2
inline constexpr std::uint16_t kAcpiSleepStatus = 0x601;   // WAK_STS
inline constexpr std::uint16_t kAcpiReset = 0x602;         // write kAcpiResetValue
inline constexpr std::uint8_t kAcpiResetValue = 0x01;
inline constexpr std::uint16_t kGedEvent = 0x604;  // 4 bytes: pending GED events
inline constexpr std::uint32_t kGedPowerButton = 1u << 0;
inline constexpr std::uint8_t kSleepTypeS5 = 5;  // SLP_TYP the DSDT's _S5 names
// 0xCF8-0xCFF: PCI configuration mechanism #1 (address 0xCF8, data 0xCFC), which
// this machine answers as one without PCI, and the reset control register.
inline constexpr std::uint16_t kPciConfigAddress = 0xCF8;
inline constexpr std::uint16_t kResetControl = 0xCF9;  // one byte, as on Intel chipsets:
inline constexpr std::uint8_t kResetControlSystemReset = 1u << 1;  //   SYS_RST (latched)
inline constexpr std::uint8_t kResetControlCpuReset = 1u << 2;     //   RST_CPU: reset now
inline constexpr std::uint16_t kPciConfigData = 0xCFC;

// ---- interrupt lines (IOAPIC pins = GSIs) ------------------------------------
inline constexpr std::uint32_t kIrqI8042Keyboard = 1;
inline constexpr std::uint32_t kIrqCom1 = 4;
inline constexpr std::uint32_t kIrqRtc = 8;
inline constexpr std::uint32_t kIrqGed = 9;  // also the FADT's SCI_INT
inline constexpr std::uint32_t kIrqI8042Mouse = 12;
inline constexpr std::uint32_t kIrqVirtioFirst = 16;  // virtio device n: 16 + n
inline constexpr std::uint32_t kIoApicPins = 24;
inline constexpr std::uint32_t kMaxVirtioDevices = kIoApicPins - kIrqVirtioFirst;

}  // namespace layout
