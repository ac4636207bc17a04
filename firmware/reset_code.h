#pragma once
// What runs at the reset vector. A PC's BIOS answers a jump to F000:FFF0 (the
// reset entry) by resetting the machine; Linux jumps there when its other
// reboot methods are unavailable: a kernel built with EFI support picks the
// EFI method on a hardware-reduced ACPI machine and, without EFI runtime
// services, falls back to machine_real_restart() (arch/x86/kernel/reboot.c),
// which switches to real mode and jumps to F000:FFF0. This machine has no
// BIOS, so the VMM writes a few bytes of real-mode code there at every boot,
// in the area the e820 map reserves (boot/e820.h), which ask for a reset:
//
//   F000:FFF0  jmp far F000:FF00          (the reset vector: 16 bytes)
//   F000:FF00  cli
//              out 0x602, 0x01            ACPI reset register: the VMM reboots
//              out 0xCF9, 0x06            fallback: reset control register
//              lidt [limit 0]; int3       fallback: triple fault (a reset too)
//              hlt, forever               never reached
//
// The code lives in the guest's own RAM: a guest that overwrites it only
// loses its own reboot path, and every boot writes it anew.

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/guest_memory.h"
#include "x86/layout.h"

namespace firmware {

// The image covers layout::kResetCode up to 1 MiB: the code, its IDT
// descriptor, hlt padding, and the far jump at layout::kResetVector.
inline constexpr std::size_t kResetCodeSize = layout::kBiosEnd - layout::kResetCode;
inline constexpr std::uint16_t kBiosSegment = 0xF000;  // real-mode segment of 0xF0000..0xFFFFF
// Where in the image the zero-limit IDT descriptor (6 bytes) lies.
inline constexpr std::size_t kResetIdtDescriptorOffset = 0x20;

std::array<std::uint8_t, kResetCodeSize> reset_code_image();

// Writes reset_code_image() at layout::kResetCode. Call it after
// write_acpi_tables (firmware/acpi.h), which clears kBiosStart..kBiosEnd.
// Throws base::InvalidInput when guest RAM does not cover it.
void write_reset_code(base::GuestMemory& memory);

}  // namespace firmware
