#include <gtest/gtest.h>

#include "base/error.h"
#include "boot/e820.h"
#include "x86/layout.h"
#include "x86/ram.h"

namespace boot {
namespace {

struct Range {
    std::uint64_t addr, size;
    std::uint32_t type;
};

void expect_map(const std::vector<E820Entry>& map, const std::vector<Range>& want) {
    ASSERT_EQ(map.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const E820Entry e = map[i];
        EXPECT_EQ(e.addr, want[i].addr) << "entry " << i;
        EXPECT_EQ(e.size, want[i].size) << "entry " << i;
        EXPECT_EQ(e.type, want[i].type) << "entry " << i;
    }
}

TEST(BootE820, SmallGuestHasLowRamReservedBiosAndHighRam) {
    base::GuestMemory mem(256 << 20);
    expect_map(build_e820_map(mem), {
                                        {0, layout::kLowRamEnd, kE820Ram},
                                        {layout::kEbda, 0x100000 - layout::kEbda, kE820Reserved},
                                        {0x100000, (256 << 20) - 0x100000, kE820Ram},
                                    });
}

TEST(BootE820, ReservedRangeCoversEbdaAndAcpiTables) {
    base::GuestMemory mem(64 << 20);
    const auto map = build_e820_map(mem);
    const E820Entry r = map[1];
    EXPECT_EQ(r.type, kE820Reserved);
    EXPECT_LE(r.addr, layout::kEbda);
    EXPECT_LE(r.addr, layout::kBiosStart);
    EXPECT_GE(r.addr + r.size, layout::kBiosEnd);
}

TEST(BootE820, ExactlyThreeGiBEndsAtTheHole) {
    base::GuestMemory mem(3ull << 30);
    const auto map = build_e820_map(mem);
    ASSERT_EQ(map.size(), 3u);
    const E820Entry last = map.back();
    EXPECT_EQ(last.addr + last.size, layout::kMmioHoleStart);
}

TEST(BootE820, LargeGuestContinuesAboveFourGiB) {
    base::GuestMemory mem(6ull << 30, x86::kRamHole);
    const auto map = build_e820_map(mem);
    expect_map(map, {
                        {0, layout::kLowRamEnd, kE820Ram},
                        {layout::kEbda, 0x100000 - layout::kEbda, kE820Reserved},
                        {0x100000, layout::kMmioHoleStart - 0x100000, kE820Ram},
                        {layout::kMmioHoleEnd, 3ull << 30, kE820Ram},
                    });
}

TEST(BootE820, EntriesAreSortedAndDisjoint) {
    base::GuestMemory mem(5ull << 30, x86::kRamHole);
    const auto map = build_e820_map(mem);
    for (std::size_t i = 1; i < map.size(); ++i) {
        const E820Entry prev = map[i - 1];
        const E820Entry cur = map[i];
        EXPECT_LE(prev.addr + prev.size, cur.addr);
    }
}

TEST(BootE820, GuestWithNoRamAboveOneMiBIsRejected) {
    base::GuestMemory mem(1 << 20);
    try {
        build_e820_map(mem);
        FAIL() << "expected InvalidInput";
    } catch (const base::InvalidInput& e) {
        EXPECT_NE(std::string(e.what()).find("give the VM more memory"), std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace boot
