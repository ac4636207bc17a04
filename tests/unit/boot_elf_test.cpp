#include <gtest/gtest.h>

#include <vector>

#include "base/error.h"
#include "boot/elf_kernel.h"
#include "tests/unit/boot_test_images.h"
#include "x86/ram.h"

namespace boot {
namespace {

using test_images::ElfSpec;
using test_images::get_ehdr;
using test_images::get_phdr;
using test_images::make_elf;
using test_images::make_note;
using test_images::pattern;
using test_images::set_ehdr;
using test_images::set_phdr;
using test_images::throws_with;
using test_images::vmlinux_like;
using test_images::xen_pvh_note;

constexpr std::uint64_t kMiB = 1 << 20;

std::vector<std::uint8_t> read(const base::GuestMemory& mem, std::uint64_t addr, std::size_t n) {
    std::vector<std::uint8_t> out(n);
    EXPECT_TRUE(mem.read(addr, out));
    return out;
}

TEST(BootElf, RecognisesTheMagic) {
    EXPECT_TRUE(has_elf_magic(make_elf(vmlinux_like(false))));
    EXPECT_FALSE(has_elf_magic(std::vector<std::uint8_t>{0x7F, 'E', 'L'}));
    EXPECT_FALSE(has_elf_magic(std::vector<std::uint8_t>(64, 0)));
}

TEST(BootElf, CopiesSegmentsAndZeroesTheirTails) {
    base::GuestMemory mem(64 * kMiB);
    ASSERT_TRUE(mem.write(0x120'0000, std::vector<std::uint8_t>(0x5000, 0xEE)));  // stale bytes
    const auto r = load_elf_kernel(mem, make_elf(vmlinux_like(false)), "vmlinux");
    EXPECT_EQ(read(mem, 0x100'0000, 0x3000), pattern(0x3000, 1));
    EXPECT_EQ(read(mem, 0x120'0000, 0x1000), pattern(0x1000, 2));
    EXPECT_EQ(read(mem, 0x120'1000, 0x4000), std::vector<std::uint8_t>(0x4000, 0));
    EXPECT_EQ(r.entry, 0x100'0000u);
    EXPECT_EQ(r.kernel_start, 0x100'0000u);
    EXPECT_EQ(r.kernel_end, 0x120'5000u);
    EXPECT_FALSE(r.pvh_entry.has_value());
}

TEST(BootElf, TranslatesAVirtualEntryToPhysical) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.entry = 0xFFFF'FFFF'8100'0040;
    EXPECT_EQ(load_elf_kernel(mem, make_elf(spec), "k").entry, 0x100'0040u);
    spec.entry = 0xFFFF'FFFF'8120'4000;  // in the second segment's bss
    EXPECT_EQ(load_elf_kernel(mem, make_elf(spec), "k").entry, 0x120'4000u);
}

TEST(BootElf, FindsThePvhNoteInAPtNoteSegment) {
    base::GuestMemory mem(64 * kMiB);
    const auto r = load_elf_kernel(mem, make_elf(vmlinux_like(true)), "k");
    ASSERT_TRUE(r.pvh_entry.has_value());
    EXPECT_EQ(*r.pvh_entry, 0x100'0400u);
    EXPECT_EQ(r.entry, 0x100'0000u);
}

TEST(BootElf, AcceptsAFourBytePvhNote) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.segments.push_back({PT_NOTE, 0x100'2000, 0, xen_pvh_note(0x100'0010, 4), 0, 4});
    EXPECT_EQ(load_elf_kernel(mem, make_elf(spec), "k").pvh_entry, 0x100'0010u);
}

TEST(BootElf, FindsThePvhNoteInASectionWhenNoSegmentHasIt) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.note_section = make_note("GNU", 3, pattern(20, 1));
    const auto xen = xen_pvh_note(0x120'0000, 8);
    spec.note_section.insert(spec.note_section.end(), xen.begin(), xen.end());
    EXPECT_EQ(load_elf_kernel(mem, make_elf(spec), "k").pvh_entry, 0x120'0000u);
}

TEST(BootElf, IgnoresOtherNotes) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    auto notes = make_note("Linux", kXenElfnotePhys32Entry, pattern(4, 0));  // wrong owner
    const auto other = make_note("Xen", 17, pattern(8, 0));                  // wrong type
    notes.insert(notes.end(), other.begin(), other.end());
    spec.segments.push_back({PT_NOTE, 0x100'2000, 0, notes, 0, 4});
    EXPECT_FALSE(load_elf_kernel(mem, make_elf(spec), "k").pvh_entry.has_value());
}

// ---- validation ----------------------------------------------------------

TEST(BootElf, RejectsMissingMagic) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    file[1] = 'X';
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "/v"); },
                            "/v is not a usable ELF vmlinux: missing the ELF magic"));
}

TEST(BootElf, RejectsTruncatedHeader) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    file.resize(40);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); },
                            "ELF header at file offset 0x0 (0x40 bytes) runs past the end of the "
                            "file (0x28 bytes)"));
}

TEST(BootElf, Rejects32BitElf) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.elf_class = ELFCLASS32;
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); }, "32-bit ELF"));
}

TEST(BootElf, RejectsOtherMachines) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.machine = EM_AARCH64;
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); },
                            "e_machine is 183, not x86-64 (62)"));
}

TEST(BootElf, RejectsNonExecutables) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.type = ET_REL;
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); },
                            "not an executable (ET_EXEC)"));
}

TEST(BootElf, RejectsProgramHeaderTableBeyondFileEnd) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto eh = get_ehdr(file);
    eh.e_phoff = file.size() - 10;
    set_ehdr(file, eh);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); },
                            "program header table at file offset"));
}

TEST(BootElf, RejectsNoProgramHeaders) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto eh = get_ehdr(file);
    eh.e_phnum = 0;
    set_ehdr(file, eh);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); }, "no program headers"));
}

TEST(BootElf, RejectsNoLoadSegments) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec;
    spec.segments.push_back({PT_NOTE, 0x100'0000, 0, xen_pvh_note(0x100'0000), 0, 4});
    EXPECT_TRUE(
        throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); }, "no PT_LOAD segments"));
}

TEST(BootElf, RejectsSegmentBeyondFileEnd) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 1);
    ph.p_filesz = 0x4000;  // memsz is 0x5000; the file ends after 0x1000
    set_phdr(file, 1, ph);
    EXPECT_TRUE(
        throws_with([&] { load_elf_kernel(mem, file, "v"); }, "PT_LOAD segment 1 at file offset"));
    EXPECT_TRUE(
        throws_with([&] { load_elf_kernel(mem, file, "v"); }, "runs past the end of the file"));
}

TEST(BootElf, RejectsSegmentWithHugeFileOffset) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 0);
    ph.p_offset = ~std::uint64_t{0} - 8;
    set_phdr(file, 0, ph);
    EXPECT_TRUE(
        throws_with([&] { load_elf_kernel(mem, file, "v"); }, "runs past the end of the file"));
}

TEST(BootElf, RejectsFileszLargerThanMemsz) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 0);
    ph.p_memsz = ph.p_filesz - 1;
    set_phdr(file, 0, ph);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); },
                            "p_filesz 0x3000 larger than p_memsz 0x2fff"));
}

TEST(BootElf, RejectsPaddrPlusMemszOverflow) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 1);
    ph.p_paddr = 0xFFFF'FFFF'FFFF'F000;
    set_phdr(file, 1, ph);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); }, "overflowing 64 bits"));
}

TEST(BootElf, RejectsSegmentOutsideGuestRam) {
    base::GuestMemory mem(18 * kMiB);  // the bss of segment 1 ends at 0x1205000
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, make_elf(vmlinux_like(false)), "/v"); },
                            "/v: PT_LOAD segment 1 [0x1200000, 0x1205000) lies outside guest RAM "
                            "(18 MiB); give the VM more memory"));
}

TEST(BootElf, RejectsSegmentInTheMmioHole) {
    base::GuestMemory mem(5ull << 30, x86::kRamHole);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 1);
    ph.p_paddr = 0xBFFF'F000;  // straddles 3 GiB
    set_phdr(file, 1, ph);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); }, "outside guest RAM"));
}

TEST(BootElf, RejectsSegmentInTheBootArea) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 1);
    ph.p_paddr = 0x7000;
    set_phdr(file, 1, ph);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); },
                            "segment 1 at 0x7000 reaches into the boot area below 1 MiB"));
}

TEST(BootElf, RejectsOverlappingSegments) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 1);
    ph.p_paddr = 0x100'2000;  // segment 0 ends at 0x1003000
    set_phdr(file, 1, ph);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); },
                            "PT_LOAD segments 0 and 1 overlap at 0x1002000"));
}

TEST(BootElf, RejectsEntryOutsideEverySegment) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.entry = 0x300'0000;
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); },
                            "entry point 0x3000000 is not inside any PT_LOAD segment"));
}

TEST(BootElf, RejectsPvhEntryOutsideEverySegment) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.segments.push_back({PT_NOTE, 0x100'2000, 0, xen_pvh_note(0x50'0000), 0, 4});
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); },
                            "PVH entry 0x500000 is not inside any PT_LOAD segment"));
}

TEST(BootElf, RejectsPvhEntryAbove4GiB) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    spec.segments.push_back({PT_NOTE, 0x100'2000, 0, xen_pvh_note(0x1'0000'0000, 8), 0, 4});
    EXPECT_TRUE(
        throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); }, "is not a 32-bit address"));
}

TEST(BootElf, RejectsNoteRunningPastItsSegment) {
    base::GuestMemory mem(64 * kMiB);
    ElfSpec spec = vmlinux_like(false);
    auto note = xen_pvh_note(0x100'0000);
    note[4] = 0x40;  // n_descsz far beyond the note area
    spec.segments.push_back({PT_NOTE, 0x100'2000, 0, note, 0, 4});
    EXPECT_TRUE(
        throws_with([&] { load_elf_kernel(mem, make_elf(spec), "v"); }, "runs past its note area"));
}

TEST(BootElf, RejectsNoteSegmentBeyondFileEnd) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(true));
    auto ph = get_phdr(file, 2);
    ph.p_filesz = file.size();
    set_phdr(file, 2, ph);
    EXPECT_TRUE(throws_with([&] { load_elf_kernel(mem, file, "v"); }, "note area at file offset"));
}

TEST(BootElf, LeavesMemoryUntouchedWhenAnySegmentIsBad) {
    base::GuestMemory mem(64 * kMiB);
    auto file = make_elf(vmlinux_like(false));
    auto ph = get_phdr(file, 1);
    ph.p_paddr = 0x1000'0000;  // 256 MiB: outside
    set_phdr(file, 1, ph);
    EXPECT_THROW(load_elf_kernel(mem, file, "v"), base::InvalidInput);
    EXPECT_EQ(read(mem, 0x100'0000, 16), std::vector<std::uint8_t>(16, 0));
}

}  // namespace
}  // namespace boot
