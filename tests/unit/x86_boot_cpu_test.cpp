#include <gtest/gtest.h>

#include <algorithm>

#include "base/error.h"
#include "x86/boot_cpu.h"
#include "x86/layout.h"

namespace x86 {
namespace {

std::uint64_t read64(const base::GuestMemory& mem, std::uint64_t addr) {
    return mem.read_obj<std::uint64_t>(addr).value();
}

TEST(BootCpu, LongModeEntryMapsFourGibIdentityWithHugePages) {
    base::GuestMemory mem(16 << 20);
    kvm_sregs sregs{};
    sregs.cr0 = 0x6000'0010;  // CD and NW set, as KVM hands a vCPU out of reset
    kvm_regs regs{};
    long_mode_entry(mem, 0x100'0200, 0x7000, sregs, regs);

    EXPECT_EQ(sregs.cr3, layout::kPml4);
    EXPECT_EQ(read64(mem, layout::kPml4) & ~0xFFFull, layout::kPdpt);
    for (std::uint64_t gib = 0; gib < 4; ++gib) {
        const std::uint64_t pd = read64(mem, layout::kPdpt + gib * 8) & ~0xFFFull;
        EXPECT_EQ(pd, layout::kPageDirs + gib * 0x1000);
        for (std::uint64_t i : {0ull, 1ull, 511ull}) {
            const std::uint64_t entry = read64(mem, pd + i * 8);
            EXPECT_EQ(entry & ~0xFFFull, (gib << 30) + (i << 21)) << "identity";
            EXPECT_EQ(entry & 0x83, 0x83u) << "present, writable, 2 MiB page";
        }
    }
    EXPECT_TRUE(sregs.cr0 & 1) << "protected mode";
    EXPECT_TRUE(sregs.cr0 & (1ull << 31)) << "paging";
    EXPECT_FALSE(sregs.cr0 & (3ull << 29)) << "caches on";
    EXPECT_TRUE(sregs.cr4 & (1u << 5)) << "PAE";
    EXPECT_EQ(sregs.efer & 0x500, 0x500u) << "LME and LMA";
    EXPECT_EQ(sregs.cs.l, 1) << "64-bit code segment";
    EXPECT_EQ(sregs.gdt.base, layout::kGdt);
    EXPECT_EQ(regs.rip, 0x100'0200u);
    EXPECT_EQ(regs.rsi, 0x7000u) << "the zero page";
    EXPECT_EQ(regs.rsp, layout::kBootStack);
    EXPECT_EQ(regs.rflags, 0x2u);
}

TEST(BootCpu, PvhEntryIsFlat32BitProtectedModeWithoutPaging) {
    base::GuestMemory mem(16 << 20);
    kvm_sregs sregs{};
    sregs.cr0 = 0x6000'0010;
    sregs.cr4 = 0x20;
    sregs.efer = 0x500;
    kvm_regs regs{};
    pvh_entry(mem, 0x100'0000, 0x6000, sregs, regs);
    EXPECT_TRUE(sregs.cr0 & 1);
    EXPECT_FALSE(sregs.cr0 & (1ull << 31));
    EXPECT_EQ(sregs.cr4, 0u);
    EXPECT_EQ(sregs.efer, 0u);
    EXPECT_EQ(sregs.cs.l, 0);
    EXPECT_EQ(sregs.cs.db, 1) << "32-bit code segment";
    EXPECT_EQ(sregs.cs.base, 0u);
    EXPECT_EQ(sregs.cs.limit, 0xFFFF'FFFFu);
    EXPECT_EQ(regs.rbx, 0x6000u) << "PVH start_info in EBX";
    EXPECT_EQ(regs.rip, 0x100'0000u);
}

TEST(BootCpu, TooLittleMemoryForThePageTablesIsTheUsersError) {
    base::GuestMemory mem(32 << 10);  // ends below the page directories
    kvm_sregs sregs{};
    kvm_regs regs{};
    EXPECT_THROW(long_mode_entry(mem, 0, 0, sregs, regs), base::InvalidInput);
}

TEST(BootCpu, FreshCpuMsrsFpuAndLintPins) {
    const auto msrs = initial_msrs();
    auto find = [&](std::uint32_t index) {
        return std::find_if(msrs.begin(), msrs.end(),
                            [&](const kvm_msr_entry& e) { return e.index == index; });
    };
    ASSERT_NE(find(0x2FF), msrs.end());
    EXPECT_EQ(find(0x2FF)->data, (1u << 11) | 0x6u) << "MTRRs on, write-back default";
    ASSERT_NE(find(0xC000'0082), msrs.end());
    EXPECT_EQ(find(0xC000'0082)->data, 0u) << "LSTAR cleared";
    EXPECT_EQ(initial_fpu().fcw, 0x37F);
    EXPECT_EQ(initial_fpu().mxcsr, 0x1F80u);

    kvm_lapic_state lapic{};
    set_lint_pins(lapic);
    auto delivery_mode = [&](std::size_t reg) { return (lapic.regs[reg + 1] >> 0) & 0x7; };
    EXPECT_EQ(delivery_mode(0x350), 7) << "LINT0: ExtINT";
    EXPECT_EQ(delivery_mode(0x360), 4) << "LINT1: NMI";
}

}  // namespace
}  // namespace x86
