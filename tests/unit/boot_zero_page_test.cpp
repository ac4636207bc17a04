#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "boot/cmdline.h"
#include "boot/e820.h"
#include "boot/pvh.h"
#include "boot/zero_page.h"
#include "tests/unit/boot_test_images.h"
#include "x86/layout.h"

namespace boot {
namespace {

using test_images::throws_with;

constexpr std::uint64_t kMiB = 1 << 20;

TEST(BootZeroPage, SyntheticHeaderLooksLikeAModernKernel) {
    const SetupHeader h = synthetic_setup_header();
    EXPECT_EQ(h.header, kHdrSMagic);
    EXPECT_EQ(h.boot_flag, kBootFlag);
    EXPECT_EQ(h.version, 0x020Fu);
    EXPECT_EQ(h.xloadflags & kXlfKernel64, kXlfKernel64);
    EXPECT_EQ(h.cmdline_size, kDefaultKernelCmdlineChars);
    EXPECT_EQ(cmdline_limit(h), 2047u);
}

TEST(BootZeroPage, OldHeadersAllow255Characters) {
    SetupHeader h = synthetic_setup_header();
    h.version = 0x0205;
    h.cmdline_size = 100000;
    EXPECT_EQ(cmdline_limit(h), 255u);
}

TEST(BootZeroPage, FillsTheLoaderFields) {
    base::GuestMemory mem(64 * kMiB);
    SetupHeader h = synthetic_setup_header();
    h.ramdisk_image = 0x1234;  // stale values are cleared
    EXPECT_EQ(build_zero_page(mem, h, {"root=/dev/vda", std::nullopt, 0}), layout::kZeroPage);
    const auto bp = mem.read_obj<BootParams>(layout::kZeroPage).value();
    EXPECT_EQ(bp.hdr.type_of_loader, 0xFFu);
    EXPECT_EQ(bp.hdr.loadflags, kLoadedHigh | kCanUseHeap);
    EXPECT_EQ(bp.hdr.cmd_line_ptr, layout::kCmdline);
    EXPECT_EQ(bp.hdr.ramdisk_image, 0u);
    EXPECT_EQ(bp.acpi_rsdp_addr, 0u);
    EXPECT_EQ(bp.e820_entries, build_e820_map(mem).size());
    auto s = mem.span(layout::kCmdline, 14);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(std::string(s->begin(), s->end()), std::string("root=/dev/vda\0", 14));
}

TEST(BootZeroPage, SplitsInitrdAddressIntoExtFields) {
    base::GuestMemory mem(64 * kMiB);
    const InitrdPlacement initrd{0x1'2345'6000, 0x2'0000'0010};
    build_zero_page(mem, synthetic_setup_header(), {"", initrd, 0xF0000});
    const auto bp = mem.read_obj<BootParams>(layout::kZeroPage).value();
    EXPECT_EQ(bp.hdr.ramdisk_image, 0x2345'6000u);
    EXPECT_EQ(bp.ext_ramdisk_image, 1u);
    EXPECT_EQ(bp.hdr.ramdisk_size, 0x10u);
    EXPECT_EQ(bp.ext_ramdisk_size, 2u);
    EXPECT_EQ(bp.acpi_rsdp_addr, 0xF0000u);
}

TEST(BootZeroPage, RejectsACommandLineOverTheKernelsLimit) {
    base::GuestMemory mem(64 * kMiB);
    EXPECT_TRUE(throws_with(
        [&] {
            build_zero_page(mem, synthetic_setup_header(), {std::string(2048, 'x'), {}, 0});
        },
        "kernel command line of 2048 bytes is longer than the kernel's cmdline_size of 2047"));
}

// ---- PVH ----------------------------------------------------------------------

TEST(BootPvh, WritesStartInfoModuleAndMemmap) {
    base::GuestMemory mem(64 * kMiB);
    const InitrdPlacement initrd{0x300'0000, 12345};
    EXPECT_EQ(build_pvh_start_info(mem, {"console=hvc0", initrd, 0xE0000}), layout::kPvhStartInfo);

    const auto info = mem.read_obj<HvmStartInfo>(layout::kPvhStartInfo).value();
    EXPECT_EQ(info.magic, 0x336EC578u);
    EXPECT_EQ(info.version, 1u);
    EXPECT_EQ(info.flags, 0u);
    EXPECT_EQ(info.cmdline_paddr, layout::kCmdline);
    EXPECT_EQ(info.rsdp_paddr, 0xE0000u);
    ASSERT_EQ(info.nr_modules, 1u);
    const auto mod = mem.read_obj<HvmModlistEntry>(info.modlist_paddr).value();
    EXPECT_EQ(mod.paddr, initrd.addr);
    EXPECT_EQ(mod.size, initrd.size);
    EXPECT_EQ(mod.cmdline_paddr, 0u);

    const auto e820 = build_e820_map(mem);
    ASSERT_EQ(info.memmap_entries, e820.size());
    for (std::size_t i = 0; i < e820.size(); ++i) {
        const auto m =
            mem.read_obj<HvmMemmapTableEntry>(info.memmap_paddr + i * sizeof(HvmMemmapTableEntry))
                .value();
        EXPECT_EQ(m.addr, e820[i].addr);
        EXPECT_EQ(m.size, e820[i].size);
        EXPECT_EQ(m.type, e820[i].type);
        EXPECT_EQ(m.reserved, 0u);
    }
    EXPECT_LE(info.memmap_paddr + e820.size() * sizeof(HvmMemmapTableEntry), layout::kZeroPage);
    auto s = mem.span(layout::kCmdline, 13);
    EXPECT_EQ(std::string(s->begin(), s->end()), std::string("console=hvc0\0", 13));
}

TEST(BootPvh, NoInitrdMeansNoModules) {
    base::GuestMemory mem(64 * kMiB);
    build_pvh_start_info(mem, {"", std::nullopt, 0});
    const auto info = mem.read_obj<HvmStartInfo>(layout::kPvhStartInfo).value();
    EXPECT_EQ(info.nr_modules, 0u);
    EXPECT_EQ(info.modlist_paddr, 0u);
    EXPECT_EQ(info.rsdp_paddr, 0u);
}

TEST(BootPvh, RejectsTooLongCommandLine) {
    base::GuestMemory mem(64 * kMiB);
    EXPECT_TRUE(throws_with(
        [&] {
            build_pvh_start_info(mem, {std::string(2048, 'x'), {}, 0});
        },
        "2048 bytes is longer than the limit of 2047"));
}

}  // namespace
}  // namespace boot
