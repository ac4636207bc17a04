#include <gtest/gtest.h>

#include <vector>

#include "base/error.h"
#include "boot/boot_params.h"
#include "boot/initrd.h"
#include "tests/unit/boot_test_images.h"
#include "x86/ram.h"

namespace boot {
namespace {

using test_images::error_of;
using test_images::throws_with;

constexpr std::uint64_t kMiB = 1 << 20;

TEST(BootInitrd, GoesAsHighAsRamAllowsPageAligned) {
    base::GuestMemory mem(256 * kMiB);
    const auto p = place_initrd(mem, kMiB + 1, 32 * kMiB, 0x7FFF'FFFF);
    EXPECT_EQ(p.addr, 256 * kMiB - 2 * kMiB + 0x100000 - 0x1000);
    EXPECT_EQ(p.addr % 4096, 0u);
    EXPECT_LE(p.addr + p.size, 256 * kMiB);
    EXPECT_EQ(p.size, kMiB + 1);
}

TEST(BootInitrd, RespectsInitrdAddrMaxAsTheLastByte) {
    // boot.rst: with initrd_addr_max 0x37FFFFFF a 128 KiB ramdisk may start
    // at 0x37FE0000.
    base::GuestMemory mem(1024 * kMiB);
    EXPECT_EQ(place_initrd(mem, 0x20000, 32 * kMiB, 0x37FF'FFFF).addr, 0x37FE'0000u);
}

TEST(BootInitrd, ZeroAddrMaxMeansTheOldDefault) {
    base::GuestMemory mem(1024 * kMiB);
    EXPECT_EQ(place_initrd(mem, 0x20000, 32 * kMiB, 0).addr, 0x37FE'0000u);
    EXPECT_EQ(kDefaultInitrdAddrMax, 0x37FF'FFFFu);
}

TEST(BootInitrd, StaysBelowTheHoleInLargeGuests) {
    base::GuestMemory mem(8ull << 30, x86::kRamHole);
    const auto p = place_initrd(mem, 4 * kMiB, 32 * kMiB, 0xFFFF'FFFF);
    EXPECT_EQ(p.addr + p.size, 3ull << 30);
}

TEST(BootInitrd, FitsExactlyBetweenKernelAndTop) {
    base::GuestMemory mem(16 * kMiB);
    EXPECT_EQ(place_initrd(mem, 8 * kMiB, 8 * kMiB, 0x7FFF'FFFF).addr, 8 * kMiB);
    // An unaligned kernel end rounds up to the next page.
    EXPECT_EQ(place_initrd(mem, 8 * kMiB, 8 * kMiB - 100, 0x7FFF'FFFF).addr, 8 * kMiB);
    EXPECT_EQ(place_initrd(mem, 8 * kMiB - 4096, 8 * kMiB + 1, 0x7FFF'FFFF).addr, 8 * kMiB + 4096);
    EXPECT_THROW(place_initrd(mem, 8 * kMiB - 4095, 8 * kMiB + 1, 0x7FFF'FFFF), base::InvalidInput);
}

TEST(BootInitrd, OneByteTooManyDoesNotFit) {
    base::GuestMemory mem(16 * kMiB);
    const std::string msg =
        error_of([&] { place_initrd(mem, 8 * kMiB + 1, 8 * kMiB, 0x7FFF'FFFF); });
    EXPECT_NE(msg.find("initrd of 9 MiB does not fit below 0x1000000"), std::string::npos) << msg;
    EXPECT_NE(msg.find("with 16 MiB of guest memory; give the VM more memory"), std::string::npos)
        << msg;
}

TEST(BootInitrd, KernelAboveTheLimitLeavesNoRoom) {
    base::GuestMemory mem(64 * kMiB);
    EXPECT_NE(error_of([&] {
                  place_initrd(mem, 4096, 40 * kMiB, 32 * kMiB - 1);
              }).find("does not fit below 0x2000000"),
              std::string::npos);
}

TEST(BootInitrd, LargerThanRamDoesNotFit) {
    base::GuestMemory mem(16 * kMiB);
    EXPECT_THROW(place_initrd(mem, 1ull << 40, 2 * kMiB, 0xFFFF'FFFF), base::InvalidInput);
}

TEST(BootInitrd, EmptyIsRejected) {
    base::GuestMemory mem(16 * kMiB);
    EXPECT_NE(error_of([&] { place_initrd(mem, 0, 2 * kMiB, 0); }).find("empty"),
              std::string::npos);
}

TEST(BootInitrd, LoadCopiesTheBytes) {
    base::GuestMemory mem(32 * kMiB);
    std::vector<std::uint8_t> data(10000);
    for (std::size_t i = 0; i < data.size(); ++i) {
        data[i] = static_cast<std::uint8_t>(i * 31);
    }
    const auto p = load_initrd(mem, data, 4 * kMiB, 0x7FFF'FFFF);
    std::vector<std::uint8_t> back(data.size());
    ASSERT_TRUE(mem.read(p.addr, back));
    EXPECT_EQ(back, data);
}

}  // namespace
}  // namespace boot
