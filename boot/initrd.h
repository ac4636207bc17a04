#pragma once
// Where the initial ramdisk goes: as high as it may be, below both the
// kernel's initrd_addr_max and the top of RAM under the 3 GiB hole, and
// above everything the kernel occupies.

#include <cstdint>
#include <span>

#include "base/guest_memory.h"

namespace boot {

struct InitrdPlacement {
    std::uint64_t addr;
    std::uint64_t size;
};

// The highest page-aligned address for `size` bytes such that the whole
// initrd is RAM, its last byte is <= initrd_addr_max (0 means the protocol's
// default kDefaultInitrdAddrMax) and it starts at or above kernel_end.
// Throws base::InvalidInput when there is no such address or size is 0.
InitrdPlacement place_initrd(const base::GuestMemory& mem, std::uint64_t size,
                             std::uint64_t kernel_end, std::uint32_t initrd_addr_max);

// place_initrd, then copies `data` there.
InitrdPlacement load_initrd(base::GuestMemory& mem, std::span<const std::uint8_t> data,
                            std::uint64_t kernel_end, std::uint32_t initrd_addr_max);

}  // namespace boot
