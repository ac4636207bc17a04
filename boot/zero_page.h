#pragma once
// The Linux 64-bit boot protocol's zero page (struct boot_params) and the
// command line it points to.

#include <cstdint>

#include "base/guest_memory.h"
#include "boot/boot_config.h"
#include "boot/boot_params.h"

namespace boot {

// A setup header for a kernel that brings none (an ELF vmlinux): magic,
// boot flag, version 0x020f, a 64-bit entry and kDefaultKernelCmdlineChars.
SetupHeader synthetic_setup_header();

// The command line limit `hdr` states: cmdline_size from protocol 2.06 on,
// 255 before.
std::uint32_t cmdline_limit(const SetupHeader& hdr);

// Writes boot_params at layout::kZeroPage (setup header `hdr` as the image
// has it, then the loader's fields, the e820 map) and the command line at
// layout::kCmdline. Throws base::InvalidInput for a command line longer than
// cmdline_limit(hdr) or memory too small. Returns layout::kZeroPage.
std::uint64_t build_zero_page(base::GuestMemory& mem, const SetupHeader& hdr,
                              const BootConfig& config);

}  // namespace boot
