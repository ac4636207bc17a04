#include <gtest/gtest.h>

#include <vector>

#include "base/error.h"
#include "boot/bzimage.h"
#include "boot/e820.h"
#include "tests/unit/boot_test_images.h"
#include "x86/layout.h"

namespace boot {
namespace {

using test_images::BzSpec;
using test_images::make_bzimage;
using test_images::throws_with;

constexpr std::uint64_t kMiB = 1 << 20;

BootParams zero_page(const base::GuestMemory& mem) {
    auto bp = mem.read_obj<BootParams>(layout::kZeroPage);
    EXPECT_TRUE(bp.has_value());
    return bp.value_or(BootParams{});
}

std::string cmdline_at(const base::GuestMemory& mem, std::size_t n) {
    auto s = mem.span(layout::kCmdline, n);
    return s ? std::string(s->begin(), s->end()) : std::string();
}

TEST(BootBzImage, LoadsKernelAndBuildsZeroPage) {
    base::GuestMemory mem(128 * kMiB);
    const auto file = make_bzimage();
    const auto r = load_bzimage(mem, file, "bz", "console=ttyS0", std::nullopt, 0xE0000);
    EXPECT_EQ(r.entry, 0x100200u);
    EXPECT_EQ(r.zero_page, layout::kZeroPage);
    EXPECT_FALSE(r.initrd.has_value());

    std::vector<std::uint8_t> kernel(0x10000);
    ASSERT_TRUE(mem.read(layout::kHighMem, kernel));
    for (std::size_t i = 0; i < kernel.size(); i += 997) {
        ASSERT_EQ(kernel[i], test_images::bz_kernel_byte(i)) << i;
    }

    const BootParams bp = zero_page(mem);
    EXPECT_EQ(bp.hdr.header, kHdrSMagic);
    EXPECT_EQ(bp.hdr.boot_flag, kBootFlag);
    EXPECT_EQ(bp.hdr.version, 0x020Fu);
    EXPECT_EQ(bp.hdr.setup_sects, 4u);
    EXPECT_EQ(bp.hdr.cmdline_size, 2047u);
    EXPECT_EQ(bp.hdr.type_of_loader, 0xFFu);
    EXPECT_EQ(bp.hdr.loadflags & (kLoadedHigh | kCanUseHeap), kLoadedHigh | kCanUseHeap);
    EXPECT_EQ(bp.hdr.loadflags & kKeepSegments, 0u);
    EXPECT_EQ(bp.hdr.heap_end_ptr, 0xDE00u);
    EXPECT_EQ(bp.hdr.cmd_line_ptr, layout::kCmdline);
    EXPECT_EQ(bp.ext_cmd_line_ptr, 0u);
    EXPECT_EQ(bp.hdr.ramdisk_image, 0u);
    EXPECT_EQ(bp.hdr.ramdisk_size, 0u);
    EXPECT_EQ(bp.acpi_rsdp_addr, 0xE0000u);
    EXPECT_EQ(bp.sentinel, 0u);
    EXPECT_EQ(cmdline_at(mem, 14), std::string("console=ttyS0\0", 14));

    const auto map = build_e820_map(mem);
    ASSERT_EQ(bp.e820_entries, map.size());
    for (std::size_t i = 0; i < map.size(); ++i) {
        const E820Entry got = bp.e820_table[i];
        EXPECT_EQ(got.addr, map[i].addr);
        EXPECT_EQ(got.size, map[i].size);
        EXPECT_EQ(got.type, map[i].type);
    }
}

TEST(BootBzImage, PlacesInitrdAtTopOfRam) {
    base::GuestMemory mem(128 * kMiB);
    const std::vector<std::uint8_t> initrd(3 * kMiB + 5, 0x5A);
    const auto r = load_bzimage(mem, make_bzimage(), "bz", "", initrd);
    ASSERT_TRUE(r.initrd.has_value());
    EXPECT_EQ(r.initrd->addr, (128 * kMiB - initrd.size()) / 4096 * 4096);
    const BootParams bp = zero_page(mem);
    EXPECT_EQ(bp.hdr.ramdisk_image, r.initrd->addr);
    EXPECT_EQ(bp.hdr.ramdisk_size, initrd.size());
    EXPECT_EQ(bp.ext_ramdisk_image, 0u);
    auto first = mem.read_obj<std::uint8_t>(r.initrd->addr);
    auto last = mem.read_obj<std::uint8_t>(r.initrd->addr + initrd.size() - 1);
    EXPECT_EQ(first.value_or(0), 0x5A);
    EXPECT_EQ(last.value_or(0), 0x5A);
}

TEST(BootBzImage, InitrdHonoursInitrdAddrMax) {
    base::GuestMemory mem(256 * kMiB);
    BzSpec spec;
    spec.initrd_addr_max = 64 * kMiB - 1;
    const std::vector<std::uint8_t> initrd(kMiB, 1);
    const auto r = load_bzimage(mem, make_bzimage(spec), "bz", "", initrd);
    ASSERT_TRUE(r.initrd.has_value());
    EXPECT_EQ(r.initrd->addr, 63 * kMiB);
}

TEST(BootBzImage, InitrdStaysAboveTheDecompressedKernel) {
    // pref_address 16 MiB + init_size 4 MiB: the kernel owns up to 20 MiB.
    base::GuestMemory mem(24 * kMiB);
    const auto image = make_bzimage();
    EXPECT_EQ(bzimage_kernel_end(parse_bzimage(image, "bz")), 20 * kMiB);
    EXPECT_NO_THROW(load_bzimage(mem, image, "bz", "", std::vector<std::uint8_t>(4 * kMiB, 1)));
    EXPECT_TRUE(throws_with(
        [&] { load_bzimage(mem, image, "bz", "", std::vector<std::uint8_t>(4 * kMiB + 1, 1)); },
        "initrd of 5 MiB does not fit"));
}

TEST(BootBzImage, SetupSectsZeroMeansFour) {
    BzSpec spec;
    spec.setup_sects = 0;
    const auto file = make_bzimage(spec);
    const auto image = parse_bzimage(file, "bz");
    EXPECT_EQ(image.setup_size, 5u * 512);
    EXPECT_EQ(image.kernel.size(), spec.kernel_bytes);
}

TEST(BootBzImage, LargeSetupIsSkipped) {
    BzSpec spec;
    spec.setup_sects = 30;
    const auto file = make_bzimage(spec);
    const auto image = parse_bzimage(file, "bz");
    EXPECT_EQ(image.setup_size, 31u * 512);
    EXPECT_EQ(image.kernel[0], test_images::bz_kernel_byte(0));
}

TEST(BootBzImage, FieldsPastTheDeclaredHeaderEndAreIgnored) {
    BzSpec spec;
    spec.header_len = 0x23C - 0x202;  // ends right after cmdline_size
    const auto file = make_bzimage(spec);
    const auto image = parse_bzimage(file, "bz");
    EXPECT_EQ(image.header.cmdline_size, 2047u);
    EXPECT_EQ(image.header.init_size, 0u);
    EXPECT_EQ(image.header.pref_address, 0u);
}

TEST(BootBzImage, FormatsProtocolVersionsLikeTheSpec) {
    EXPECT_EQ(protocol_version_string(0x0206), "2.06");
    EXPECT_EQ(protocol_version_string(0x020F), "2.15");
}

// ---- validation ----------------------------------------------------------

TEST(BootBzImage, RejectsFileShorterThanBootSector) {
    const std::vector<std::uint8_t> file(100, 0);
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "/k/tiny"); },
                            "/k/tiny is not a bzImage: it has 100 bytes, fewer than the 512"));
}

TEST(BootBzImage, RejectsMissingBootFlag) {
    auto file = make_bzimage();
    file[0x1FE] = 0;
    EXPECT_TRUE(
        throws_with([&] { parse_bzimage(file, "k"); }, "missing boot flag 0xAA55 at offset 0x1FE"));
}

TEST(BootBzImage, RejectsMissingHdrS) {
    auto file = make_bzimage();
    file[0x202] = 'X';
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "/boot/k"); },
                            "/boot/k is not a bzImage: missing HdrS magic at offset 0x202; pass a "
                            "Linux bzImage or an ELF vmlinux"));
}

TEST(BootBzImage, RejectsFileEndingInsideTheHeader) {
    auto file = make_bzimage();
    file.resize(0x204);
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); }, "k is truncated"));
}

TEST(BootBzImage, RejectsProtocolOlderThan206) {
    BzSpec spec;
    spec.version = 0x0205;
    EXPECT_TRUE(throws_with([&] { parse_bzimage(make_bzimage(spec), "k"); },
                            "k uses Linux boot protocol 2.05, older than 2.06"));
}

TEST(BootBzImage, RejectsProtocolWithoutXloadflags) {
    BzSpec spec;
    spec.version = 0x020A;
    EXPECT_TRUE(throws_with([&] { parse_bzimage(make_bzimage(spec), "k"); },
                            "protocol 2.10, older than 2.12 (no xloadflags"));
}

TEST(BootBzImage, RejectsTruncatedSetup) {
    auto file = make_bzimage();
    file.resize(4 * 512);  // setup needs 5 sectors
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); },
                            "k is truncated: the setup code needs 2560 bytes (setup_sects=4) but "
                            "the file has only 2048"));
}

TEST(BootBzImage, RejectsHugeSetupSects) {
    auto file = make_bzimage();
    file[0x1F1] = 255;
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); },
                            "setup code needs 131072 bytes (setup_sects=255)"));
}

TEST(BootBzImage, RejectsMissingJump) {
    auto file = make_bzimage();
    file[0x200] = 0x90;
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); }, "no short jump (0xEB)"));
}

TEST(BootBzImage, RejectsHeaderEndingBeforeCmdlineSize) {
    BzSpec spec;
    spec.header_len = 0x30;
    EXPECT_TRUE(throws_with([&] { parse_bzimage(make_bzimage(spec), "k"); },
                            "setup header ends at 0x232, before the cmdline_size field"));
}

TEST(BootBzImage, RejectsKernelWithout64BitEntry) {
    BzSpec spec;
    spec.xloadflags = kXlfCanBeLoadedAbove4G;
    EXPECT_TRUE(throws_with([&] { parse_bzimage(make_bzimage(spec), "k"); },
                            "no 64-bit entry point (XLF_KERNEL_64"));
}

TEST(BootBzImage, RejectsZImage) {
    BzSpec spec;
    spec.loadflags = 0;
    EXPECT_TRUE(throws_with([&] { parse_bzimage(make_bzimage(spec), "k"); }, "zImage"));
}

TEST(BootBzImage, RejectsSetupWithoutProtectedModeCode) {
    auto file = make_bzimage();
    file.resize(5 * 512);
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); },
                            "no protected-mode code follows its 2560-byte setup"));
}

TEST(BootBzImage, RejectsTruncatedProtectedModeCode) {
    auto file = make_bzimage();
    file.resize(file.size() - 0x100);
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); },
                            "header says 65536 bytes of protected-mode code (syssize) but only "
                            "65280 follow the setup"));
}

TEST(BootBzImage, RejectsProtectedModeCodeEndingBeforeThe64BitEntry) {
    BzSpec spec;
    spec.kernel_bytes = 0x200;  // the entry at 0x200 would be past the file's last byte
    EXPECT_TRUE(throws_with([&] { parse_bzimage(make_bzimage(spec), "k"); },
                            "its 512 bytes of protected-mode code end before the 64-bit entry "
                            "point at offset 0x200"));
    spec.kernel_bytes = 0x201;
    EXPECT_NO_THROW(parse_bzimage(make_bzimage(spec), "k"));
}

TEST(BootBzImage, RejectsZeroSyssize) {
    auto file = make_bzimage();
    std::fill(file.begin() + 0x1F4, file.begin() + 0x1F8, 0);
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); }, "syssize is 0"));
}

TEST(BootBzImage, RejectsBadKernelAlignment) {
    auto file = make_bzimage();
    file[0x230] = 0x01;  // 0x200001
    EXPECT_TRUE(throws_with([&] { parse_bzimage(file, "k"); }, "not a power of two"));
}

TEST(BootBzImage, RejectsCommandLineLongerThanCmdlineSize) {
    base::GuestMemory mem(64 * kMiB);
    BzSpec spec;
    spec.cmdline_size = 16;
    const auto file = make_bzimage(spec);
    EXPECT_NO_THROW(load_bzimage(mem, file, "k", std::string(16, 'a'), std::nullopt));
    EXPECT_TRUE(throws_with(
        [&] { load_bzimage(mem, file, "k", std::string(17, 'a'), std::nullopt); },
        "kernel command line of 17 bytes is longer than the kernel's cmdline_size of 16 bytes"));
}

TEST(BootBzImage, RejectsKernelThatDoesNotFitInRam) {
    base::GuestMemory mem(32 * kMiB);
    BzSpec spec;
    spec.init_size = 20 * kMiB;  // runs at 16 MiB: needs 36 MiB
    EXPECT_TRUE(throws_with([&] { load_bzimage(mem, make_bzimage(spec), "/k", "", std::nullopt); },
                            "/k needs guest RAM up to 0x2400000 to load and decompress"));
    EXPECT_TRUE(throws_with([&] { load_bzimage(mem, make_bzimage(spec), "/k", "", std::nullopt); },
                            "give the VM more memory"));
}

TEST(BootBzImage, RejectsAbsurdPrefAddress) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_bzimage();
    file[0x234] = 0;  // not relocatable: runs at pref_address
    std::fill(file.begin() + 0x258, file.begin() + 0x260, 0xFF);
    EXPECT_TRUE(throws_with([&] { load_bzimage(mem, file, "k", "", std::nullopt); },
                            "k needs guest RAM up to 0xffffffffffffffff"));
}

}  // namespace
}  // namespace boot
