#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "base/error.h"
#include "base/guest_memory.h"
#include "x86/layout.h"
#include "x86/ram.h"

namespace vmm {
namespace {

TEST(GuestMemory, SmallMemoryIsOneRegionFromZero) {
    base::GuestMemory mem(64 << 20);
    ASSERT_EQ(mem.regions().size(), 1u);
    EXPECT_EQ(mem.regions()[0].guest_start, 0u);
    EXPECT_EQ(mem.end(), 64u << 20);
}

// The VmFlags line of /proc/self/smaps for the mapping that starts at `start`.
std::string vm_flags_of_mapping_at(const void* start) {
    std::ifstream smaps("/proc/self/smaps");
    char head[32];
    std::snprintf(head, sizeof head, "%lx-", reinterpret_cast<unsigned long>(start));
    bool in_it = false;
    for (std::string line; std::getline(smaps, line);) {
        if (line.rfind(head, 0) == 0) {
            in_it = true;
        } else if (in_it && line.rfind("VmFlags:", 0) == 0) {
            return line;
        }
    }
    return "";
}

TEST(GuestMemory, RamStartsOnAHugePageBoundaryAdvisedForHugePages) {
    base::GuestMemory mem(64 << 20);
    const std::uint8_t* host = mem.regions()[0].host;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(host) % (2 << 20), 0u)
        << "a 2 MiB guest page must be a 2 MiB host page";
    const std::string flags = vm_flags_of_mapping_at(host);
    ASSERT_FALSE(flags.empty()) << "the guest memory is a mapping of its own";
    if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
        EXPECT_NE(flags.find(" hg"), std::string::npos) << flags << ": MADV_HUGEPAGE expected";
    }  // else this kernel has no THP and refuses the advice, as it may
    ASSERT_TRUE(mem.zero(0, 64 << 20));
    EXPECT_FALSE(mem.contains(64 << 20, 1));
}

// The permissions of the /proc/self/maps line with `edge` as its start
// (`as_start`) or end.
std::string perms_of_mapping(const void* edge, bool as_start) {
    std::ifstream maps("/proc/self/maps");
    const auto want = reinterpret_cast<unsigned long>(edge);
    for (std::string line; std::getline(maps, line);) {
        unsigned long start = 0, end = 0;
        char perms[8] = {};
        if (std::sscanf(line.c_str(), "%lx-%lx %7s", &start, &end, perms) == 3 &&
            (as_start ? start : end) == want) {
            return perms;
        }
    }
    return "";
}

TEST(GuestMemory, InaccessibleGuardsSurroundRam) {
    base::GuestMemory mem(6 << 20);
    const std::uint8_t* host = mem.regions()[0].host;
    EXPECT_EQ(perms_of_mapping(host, false), "---p") << "a guard right below RAM";
    EXPECT_EQ(perms_of_mapping(host + (6 << 20), true), "---p") << "a guard right above RAM";
}

TEST(GuestMemory, LargeMemorySkipsTheMmioHole) {
    base::GuestMemory mem(4ull << 30, x86::kRamHole);
    ASSERT_EQ(mem.regions().size(), 2u);
    EXPECT_EQ(mem.regions()[0].size, layout::kMmioHoleStart);
    EXPECT_EQ(mem.regions()[1].guest_start, layout::kMmioHoleEnd);
    EXPECT_EQ(mem.regions()[1].size, (4ull << 30) - layout::kMmioHoleStart);
    EXPECT_FALSE(mem.contains(layout::kMmioHoleStart, 1));
    EXPECT_TRUE(mem.contains(layout::kMmioHoleStart - 1, 1));
    EXPECT_TRUE(mem.contains(layout::kMmioHoleEnd, 4096));
    // An access may not straddle the hole, even though its first and last
    // bytes are both RAM.
    const std::uint64_t across = layout::kMmioHoleEnd - layout::kMmioHoleStart + 16;
    ASSERT_TRUE(mem.contains(layout::kMmioHoleStart - 8, 8));
    ASSERT_TRUE(mem.contains(layout::kMmioHoleEnd, 8));
    EXPECT_FALSE(mem.contains(layout::kMmioHoleStart - 8, across));
    EXPECT_FALSE(mem.span(layout::kMmioHoleStart - 8, across).has_value());
}

TEST(GuestMemory, RejectsBadSizes) {
    EXPECT_THROW(base::GuestMemory(0), base::InvalidInput);
    EXPECT_THROW(base::GuestMemory(4097), base::InvalidInput);
}

TEST(GuestMemory, ReadsBackWhatWasWritten) {
    base::GuestMemory mem(1 << 20);
    const std::array<std::uint8_t, 4> data{1, 2, 3, 4};
    ASSERT_TRUE(mem.write(0x1000, data));
    std::array<std::uint8_t, 4> back{};
    ASSERT_TRUE(mem.read(0x1000, back));
    EXPECT_EQ(back, data);
    EXPECT_EQ(mem.read_obj<std::uint32_t>(0x1000), 0x04030201u);
    ASSERT_TRUE(mem.write_obj<std::uint16_t>(0x2000, 0xBEEF));
    EXPECT_EQ(mem.read_obj<std::uint16_t>(0x2000), 0xBEEF);
}

TEST(GuestMemory, RefusesEveryAccessOutsideRam) {
    base::GuestMemory mem(1 << 20);
    const std::uint64_t end = 1 << 20;
    std::array<std::uint8_t, 8> buf{};
    EXPECT_TRUE(mem.read(end - 8, buf));
    EXPECT_FALSE(mem.read(end - 7, buf));
    EXPECT_FALSE(mem.write(end, buf));
    EXPECT_FALSE(mem.span(end, 1).has_value());
    EXPECT_TRUE(mem.span(end, 0).has_value());  // empty range at the end
    // Lengths and addresses chosen so that addr + len wraps around.
    const auto max = std::numeric_limits<std::uint64_t>::max();
    EXPECT_FALSE(mem.span(8, max).has_value());
    EXPECT_FALSE(mem.span(max, 2).has_value());
    EXPECT_FALSE(mem.span(max - 3, 8).has_value());
    EXPECT_FALSE(mem.read_obj<std::uint64_t>(end - 4).has_value());
    EXPECT_FALSE(mem.zero(end - 1, 2));
}

TEST(GuestMemory, ClearZeroesEverything) {
    base::GuestMemory mem(1 << 20);
    ASSERT_TRUE(mem.write_obj<std::uint64_t>(0x5000, ~0ull));
    mem.clear();
    EXPECT_EQ(mem.read_obj<std::uint64_t>(0x5000), 0u);
}

}  // namespace
}  // namespace vmm
