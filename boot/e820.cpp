#include "boot/e820.h"

#include <string>

#include "base/error.h"
#include "x86/layout.h"

namespace boot {

std::vector<E820Entry> build_e820_map(const base::GuestMemory& mem) {
    const auto regions = mem.regions();
    const std::uint64_t low_end = regions.front().guest_end();
    if (low_end <= layout::kHighMem) {
        throw base::InvalidInput("guest memory of " + std::to_string(mem.ram_bytes() >> 10) +
                                 " KiB leaves no RAM above 1 MiB for a kernel; give the VM "
                                 "more memory");
    }
    std::vector<E820Entry> map;
    map.push_back({0, layout::kLowRamEnd, kE820Ram});
    map.push_back({layout::kEbda, layout::kHighMem - layout::kEbda, kE820Reserved});
    map.push_back({layout::kHighMem, low_end - layout::kHighMem, kE820Ram});
    for (const auto& r : regions.subspan(1)) {
        map.push_back({r.guest_start, r.size, kE820Ram});
    }
    return map;
}

}  // namespace boot
