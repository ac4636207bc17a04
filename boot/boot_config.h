#pragma once
// What the VMM hands a kernel besides the kernel itself; shared by the
// Linux zero page and the PVH start info builders.

#include <cstdint>
#include <optional>
#include <string_view>

#include "boot/initrd.h"

namespace boot {

struct BootConfig {
    std::string_view cmdline;
    std::optional<InitrdPlacement> initrd;  // already in guest memory
    std::uint64_t rsdp_addr = 0;            // 0: the kernel scans kBiosStart..kBiosEnd
};

}  // namespace boot
