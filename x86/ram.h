#pragma once
// Where an x86 guest's RAM goes: below the 32-bit MMIO hole (3 GiB .. 4 GiB),
// the rest above 4 GiB.

#include "base/guest_memory.h"
#include "x86/layout.h"

namespace x86 {

inline constexpr base::MemoryHole kRamHole{layout::kMmioHoleStart, layout::kMmioHoleEnd};

}  // namespace x86
