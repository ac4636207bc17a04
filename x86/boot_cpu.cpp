#include "x86/boot_cpu.h"

#include <cstring>

#include "base/error.h"
#include "x86/layout.h"

namespace x86 {

namespace {

constexpr std::uint64_t kCr0Pe = 1u << 0;
constexpr std::uint64_t kCr0Et = 1u << 4;
constexpr std::uint64_t kCr0Pg = 1ul << 31;
// A vCPU comes out of reset with CD and NW set; left on, every guest memory
// access is uncached and the kernel crawls.
constexpr std::uint64_t kCr0CacheDisable = (1ul << 30) | (1ul << 29);

// GDT entries: base 0, limit 4 GiB, with the access/flag bits of each kind.
constexpr std::uint64_t kGdtNull = 0;
constexpr std::uint64_t kGdtCode64 = 0x00AF'9B00'0000'FFFF;
constexpr std::uint64_t kGdtCode32 = 0x00CF'9B00'0000'FFFF;
constexpr std::uint64_t kGdtData = 0x00CF'9300'0000'FFFF;
constexpr std::uint64_t kGdtTss = 0x008F'8B00'0000'FFFF;
constexpr std::uint16_t kCodeSelector = 0x08;
constexpr std::uint16_t kDataSelector = 0x10;
constexpr std::uint16_t kTssSelector = 0x18;

kvm_segment segment_from_gdt(std::uint64_t entry, std::uint16_t selector) {
    kvm_segment s{};
    s.base = ((entry >> 16) & 0xFF'FFFF) | (((entry >> 56) & 0xFF) << 24);
    const std::uint32_t limit = (entry & 0xFFFF) | (((entry >> 48) & 0xF) << 16);
    s.g = (entry >> 55) & 1;
    s.limit = s.g ? (limit << 12) | 0xFFF : limit;
    s.selector = selector;
    s.type = (entry >> 40) & 0xF;
    s.present = (entry >> 47) & 1;
    s.dpl = (entry >> 45) & 3;
    s.db = (entry >> 54) & 1;
    s.s = (entry >> 44) & 1;
    s.l = (entry >> 53) & 1;
    s.avl = (entry >> 52) & 1;
    s.unusable = s.present ? 0 : 1;
    return s;
}

void write_gdt(base::GuestMemory& mem, std::uint64_t code_entry, kvm_sregs& sregs) {
    const std::uint64_t gdt[] = {kGdtNull, code_entry, kGdtData, kGdtTss};
    for (std::size_t i = 0; i < std::size(gdt); ++i) {
        if (!mem.write_obj(layout::kGdt + i * 8, gdt[i])) {
            throw base::InvalidInput("guest memory too small for the boot GDT");
        }
    }
    if (!mem.write_obj<std::uint64_t>(layout::kIdt, 0)) {
        throw base::InvalidInput("guest memory too small for the boot IDT");
    }
    sregs.gdt.base = layout::kGdt;
    sregs.gdt.limit = sizeof gdt - 1;
    sregs.idt.base = layout::kIdt;
    sregs.idt.limit = 7;
    sregs.cs = segment_from_gdt(code_entry, kCodeSelector);
    const kvm_segment data = segment_from_gdt(kGdtData, kDataSelector);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.tr = segment_from_gdt(kGdtTss, kTssSelector);
}

void write_identity_page_tables(base::GuestMemory& mem) {
    constexpr std::uint64_t kPresentWritable = 0x3;
    constexpr std::uint64_t kHugePage = 0x80;
    bool ok = mem.zero(layout::kPml4, layout::kPageDirsEnd - layout::kPml4);
    ok = ok && mem.write_obj<std::uint64_t>(layout::kPml4, layout::kPdpt | kPresentWritable);
    for (std::uint64_t gib = 0; gib < 4; ++gib) {
        const std::uint64_t pd = layout::kPageDirs + gib * 0x1000;
        ok = ok && mem.write_obj<std::uint64_t>(layout::kPdpt + gib * 8, pd | kPresentWritable);
        for (std::uint64_t i = 0; i < 512; ++i) {
            const std::uint64_t phys = (gib << 30) + (i << 21);
            ok =
                ok && mem.write_obj<std::uint64_t>(pd + i * 8, phys | kPresentWritable | kHugePage);
        }
    }
    if (!ok) {
        throw base::InvalidInput("guest memory too small for the boot page tables");
    }
}

}  // namespace

std::vector<kvm_msr_entry> initial_msrs() {
    std::vector<kvm_msr_entry> msrs;
    for (std::uint32_t index : {0x174u, 0x175u, 0x176u, 0xC000'0081u, 0xC000'0082u, 0xC000'0083u,
                                0xC000'0084u, 0xC000'0102u}) {
        msrs.push_back({index, 0, 0});
    }
    msrs.push_back({0x1A0, 0, 1});                 // IA32_MISC_ENABLE: fast strings
    msrs.push_back({0x2FF, 0, (1u << 11) | 0x6});  // MTRRdefType: enabled, WB
    return msrs;
}

kvm_fpu initial_fpu() {
    kvm_fpu fpu{};
    fpu.fcw = 0x37F;
    fpu.mxcsr = 0x1F80;
    return fpu;
}

void set_lint_pins(kvm_lapic_state& lapic) {
    auto set_delivery_mode = [&](std::size_t reg, std::uint32_t mode) {
        std::uint32_t value;
        std::memcpy(&value, lapic.regs + reg, sizeof value);
        value = (value & ~0x700u) | (mode << 8);
        std::memcpy(lapic.regs + reg, &value, sizeof value);
    };
    set_delivery_mode(0x350, 7);  // LVT LINT0: ExtINT
    set_delivery_mode(0x360, 4);  // LVT LINT1: NMI
}

void long_mode_entry(base::GuestMemory& mem, std::uint64_t entry, std::uint64_t zero_page,
                     kvm_sregs& sregs, kvm_regs& regs) {
    write_gdt(mem, kGdtCode64, sregs);
    write_identity_page_tables(mem);
    sregs.cr3 = layout::kPml4;
    sregs.cr4 |= 1u << 5;  // PAE
    sregs.cr0 = (sregs.cr0 & ~kCr0CacheDisable) | kCr0Pe | kCr0Et | kCr0Pg;
    sregs.efer |= (1u << 8) | (1u << 10);  // LME, LMA
    regs = kvm_regs{};
    regs.rflags = 0x2;
    regs.rip = entry;
    regs.rsi = zero_page;
    regs.rsp = regs.rbp = layout::kBootStack;
}

void pvh_entry(base::GuestMemory& mem, std::uint64_t entry, std::uint64_t start_info,
               kvm_sregs& sregs, kvm_regs& regs) {
    write_gdt(mem, kGdtCode32, sregs);
    sregs.cr0 = (sregs.cr0 & ~(kCr0CacheDisable | kCr0Pg)) | kCr0Pe | kCr0Et;
    sregs.cr4 = 0;
    sregs.efer = 0;
    regs = kvm_regs{};
    regs.rflags = 0x2;
    regs.rip = entry;
    regs.rbx = start_info;
}

}  // namespace x86
