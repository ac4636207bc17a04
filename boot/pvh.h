#pragma once
// The PVH boot ABI's start of day structure: hvm_start_info at
// layout::kPvhStartInfo, followed by the module list (the initrd) and the
// memory map, all below layout::kZeroPage.

#include <cstdint>

#include "base/guest_memory.h"
#include "boot/boot_config.h"
#include "boot/boot_params.h"

namespace boot {

inline constexpr std::uint64_t kPvhModlistAddr = 0x6040;  // after HvmStartInfo, aligned
inline constexpr std::uint64_t kPvhMemmapAddr = kPvhModlistAddr + sizeof(HvmModlistEntry);

// Writes the start info, module list and memmap (from build_e820_map) and the
// command line at layout::kCmdline. The command line may hold at most
// kDefaultKernelCmdlineChars. Throws base::InvalidInput on a bad command line
// or memory too small. Returns the start info's address (%ebx at entry).
std::uint64_t build_pvh_start_info(base::GuestMemory& mem, const BootConfig& config);

}  // namespace boot
