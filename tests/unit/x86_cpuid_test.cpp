#include <gtest/gtest.h>

#include "x86/cpuid.h"

namespace x86 {
namespace {

kvm_cpuid_entry2 leaf(std::uint32_t function, std::uint32_t index = 0) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.ebx = 0x0000'0800;
    return e;
}

const kvm_cpuid_entry2& find(const CpuidEntries& c, std::uint32_t function,
                             std::uint32_t index = 0) {
    for (const auto& e : c.entries) {
        if (e.function == function && e.index == index) {
            return e;
        }
    }
    throw std::runtime_error("leaf missing");
}

TEST(GuestCpuid, Leaf1CarriesApicIdCountAndHypervisorBit) {
    CpuidEntries supported{{leaf(1)}};
    const auto c = guest_cpuid(supported, 3, 4);
    const auto& e = find(c, 1);
    EXPECT_EQ(e.ebx >> 24, 3u) << "initial APIC id";
    EXPECT_EQ((e.ebx >> 16) & 0xFF, 4u) << "logical processors";
    EXPECT_EQ(e.ebx & 0xFFFF, 0x0800u) << "other fields kept";
    EXPECT_TRUE(e.ecx & (1u << 31)) << "hypervisor present";
    EXPECT_TRUE(e.edx & (1u << 28)) << "HTT with more than one CPU";
    EXPECT_FALSE(find(guest_cpuid(supported, 0, 1), 1).edx & (1u << 28));
}

TEST(GuestCpuid, TscDeadlineTimerIsAnnouncedOnlyWhenKvmEmulatesIt) {
    CpuidEntries supported{{leaf(1)}};
    EXPECT_FALSE(find(guest_cpuid(supported, 0, 1), 1).ecx & (1u << 24));
    CpuidHostFacts facts;
    facts.tsc_deadline_timer = true;
    EXPECT_TRUE(find(guest_cpuid(supported, 0, 1, facts), 1).ecx & (1u << 24));
}

TEST(GuestCpuid, ExtendedTopologyLeafDescribesCores) {
    CpuidEntries supported{{leaf(0xB, 0), leaf(0xB, 1), leaf(0xB, 2)}};
    const auto c = guest_cpuid(supported, 5, 6);
    EXPECT_EQ(find(c, 0xB, 0).ebx, 1u);
    EXPECT_EQ(find(c, 0xB, 0).edx, 5u);
    EXPECT_EQ(find(c, 0xB, 1).ebx, 6u);
    EXPECT_EQ(find(c, 0xB, 1).eax, 3u) << "3 bits hold core ids 0..5";
    EXPECT_EQ((find(c, 0xB, 1).ecx >> 8) & 0xFF, 2u) << "level type: core";
    EXPECT_EQ(find(c, 0xB, 2).ebx, 0u) << "no further levels";
}

TEST(GuestCpuid, AmdCoreCount) {
    CpuidEntries supported{{leaf(0x8000'0008)}};
    EXPECT_EQ(find(guest_cpuid(supported, 0, 8), 0x8000'0008).ecx & 0xFF, 7u);
}

}  // namespace
}  // namespace x86
