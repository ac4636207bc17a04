#include "boot/initrd.h"

#include <algorithm>

#include "base/error.h"
#include "base/hex.h"
#include "boot/boot_params.h"

namespace boot {

namespace {
constexpr std::uint64_t kPage = 4096;
}

InitrdPlacement place_initrd(const base::GuestMemory& mem, std::uint64_t size,
                             std::uint64_t kernel_end, std::uint32_t initrd_addr_max) {
    if (size == 0) {
        throw base::InvalidInput("initrd is empty; pass a cpio archive or leave the initrd out");
    }
    const std::uint32_t max_byte = initrd_addr_max != 0 ? initrd_addr_max : kDefaultInitrdAddrMax;
    const std::uint64_t top =
        std::min<std::uint64_t>(std::uint64_t{max_byte} + 1, mem.regions().front().guest_end());
    if (kernel_end > top || size > top ||
        (top - size) / kPage * kPage < (kernel_end + kPage - 1) / kPage * kPage) {
        throw base::InvalidInput("initrd of " + base::mib(size) + " does not fit below " +
                                 base::hex(top) + " (above the kernel's end at " +
                                 base::hex(kernel_end) + ") with " + base::mib(mem.ram_bytes()) +
                                 " of guest memory; give the VM more memory");
    }
    return {(top - size) / kPage * kPage, size};
}

InitrdPlacement load_initrd(base::GuestMemory& mem, std::span<const std::uint8_t> data,
                            std::uint64_t kernel_end, std::uint32_t initrd_addr_max) {
    const InitrdPlacement p = place_initrd(mem, data.size(), kernel_end, initrd_addr_max);
    if (!mem.write(p.addr, data)) {
        throw base::InvalidInput("initrd at " + base::hex(p.addr) + " lies outside guest memory");
    }
    return p;
}

}  // namespace boot
