#pragma once
// The guest's physical memory map, as the kernel learns it from the zero
// page's e820 table or from the PVH memmap. One source for both loaders.

#include <vector>

#include "base/guest_memory.h"
#include "boot/boot_params.h"

namespace boot {

// Ascending, non-overlapping entries:
//   RAM       [0, layout::kLowRamEnd)
//   reserved  [layout::kEbda, layout::kHighMem)  EBDA, MP table, ACPI tables, BIOS
//   RAM       [layout::kHighMem, min(RAM, 3 GiB))
//   RAM       [4 GiB, ...)                        when RAM goes past the hole
// Throws base::InvalidInput when the guest has no RAM above 1 MiB to boot in.
std::vector<E820Entry> build_e820_map(const base::GuestMemory& mem);

}  // namespace boot
