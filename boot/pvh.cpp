#include "boot/pvh.h"

#include <string>
#include <vector>

#include "base/error.h"
#include "base/hex.h"
#include "boot/cmdline.h"
#include "boot/e820.h"
#include "x86/layout.h"

namespace boot {

static_assert(layout::kPvhStartInfo + sizeof(HvmStartInfo) <= kPvhModlistAddr);

std::uint64_t build_pvh_start_info(base::GuestMemory& mem, const BootConfig& config) {
    write_cmdline(mem, config.cmdline, kDefaultKernelCmdlineChars);

    const auto e820 = build_e820_map(mem);
    std::vector<HvmMemmapTableEntry> memmap;
    for (const E820Entry& e : e820) {
        memmap.push_back({e.addr, e.size, e.type, 0});
    }
    const std::uint64_t memmap_bytes = memmap.size() * sizeof(HvmMemmapTableEntry);
    if (kPvhMemmapAddr + memmap_bytes > layout::kZeroPage) {
        throw base::InvalidInput("PVH memory map of " + std::to_string(memmap.size()) +
                                 " entries does not fit below " + base::hex(layout::kZeroPage));
    }

    HvmStartInfo info{};
    info.magic = kHvmStartMagic;
    info.version = kHvmStartInfoVersion;
    info.cmdline_paddr = layout::kCmdline;
    info.rsdp_paddr = config.rsdp_addr;
    info.memmap_paddr = kPvhMemmapAddr;
    info.memmap_entries = static_cast<std::uint32_t>(memmap.size());

    bool ok = mem.write(kPvhMemmapAddr,
                        {reinterpret_cast<const std::uint8_t*>(memmap.data()), memmap_bytes});
    if (config.initrd) {
        info.nr_modules = 1;
        info.modlist_paddr = kPvhModlistAddr;
        const HvmModlistEntry module{config.initrd->addr, config.initrd->size, 0, 0};
        ok = ok && mem.write_obj(kPvhModlistAddr, module);
    }
    ok = ok && mem.write_obj(layout::kPvhStartInfo, info);
    if (!ok) {
        throw base::InvalidInput("guest memory is too small for the PVH start info at " +
                                 base::hex(layout::kPvhStartInfo));
    }
    return layout::kPvhStartInfo;
}

}  // namespace boot
