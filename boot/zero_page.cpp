#include "boot/zero_page.h"

#include <algorithm>
#include <string>

#include "base/error.h"
#include "base/hex.h"
#include "boot/cmdline.h"
#include "boot/e820.h"
#include "x86/layout.h"

namespace boot {

namespace {
// Before protocol 2.06 (boot.rst, cmdline_size): "the maximum size was 255".
constexpr std::uint32_t kOldCmdlineChars = 255;
}  // namespace

SetupHeader synthetic_setup_header() {
    SetupHeader hdr{};
    hdr.boot_flag = kBootFlag;
    hdr.header = kHdrSMagic;
    hdr.version = kProtocolSynthesized;
    hdr.vid_mode = 0xFFFF;  // "normal"
    hdr.type_of_loader = kTypeOfLoaderUndefined;
    hdr.loadflags = kLoadedHigh;
    hdr.initrd_addr_max = kDefaultInitrdAddrMax;
    hdr.kernel_alignment = 0x0100'0000;
    hdr.xloadflags = kXlfKernel64;
    hdr.cmdline_size = kDefaultKernelCmdlineChars;
    return hdr;
}

std::uint32_t cmdline_limit(const SetupHeader& hdr) {
    return hdr.version >= kProtocolCmdlineSize ? hdr.cmdline_size : kOldCmdlineChars;
}

std::uint64_t build_zero_page(base::GuestMemory& mem, const SetupHeader& hdr,
                              const BootConfig& config) {
    const std::uint32_t limit = cmdline_limit(hdr);
    if (config.cmdline.size() > limit) {
        throw base::InvalidInput("kernel command line of " + std::to_string(config.cmdline.size()) +
                                 " bytes is longer than the kernel's cmdline_size of " +
                                 std::to_string(limit) + " bytes; shorten it");
    }
    write_cmdline(mem, config.cmdline, limit);

    BootParams bp{};
    bp.hdr = hdr;
    bp.hdr.type_of_loader = kTypeOfLoaderUndefined;
    bp.hdr.loadflags |= kLoadedHigh | kCanUseHeap;
    bp.hdr.heap_end_ptr = kHeapEndPtr;
    bp.hdr.cmd_line_ptr = static_cast<std::uint32_t>(layout::kCmdline);
    bp.hdr.ramdisk_image = 0;
    bp.hdr.ramdisk_size = 0;
    if (config.initrd) {
        bp.hdr.ramdisk_image = static_cast<std::uint32_t>(config.initrd->addr);
        bp.hdr.ramdisk_size = static_cast<std::uint32_t>(config.initrd->size);
        bp.ext_ramdisk_image = static_cast<std::uint32_t>(config.initrd->addr >> 32);
        bp.ext_ramdisk_size = static_cast<std::uint32_t>(config.initrd->size >> 32);
    }
    bp.acpi_rsdp_addr = config.rsdp_addr;

    const auto map = build_e820_map(mem);
    if (map.size() > kE820MaxEntries) {
        throw base::InvalidInput("memory map of " + std::to_string(map.size()) +
                                 " entries does not fit the zero page");
    }
    bp.e820_entries = static_cast<std::uint8_t>(map.size());
    std::copy(map.begin(), map.end(), bp.e820_table);

    if (!mem.write_obj(layout::kZeroPage, bp)) {
        throw base::InvalidInput("guest memory is too small for the zero page at " +
                                 base::hex(layout::kZeroPage));
    }
    return layout::kZeroPage;
}

}  // namespace boot
