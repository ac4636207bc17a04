#pragma once
// Synthetic kernels for the boot tests: small bzImages and ELF files built in
// memory, with the knobs the tests corrupt.

#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "boot/boot_params.h"

namespace boot::test_images {

// The message of the base::InvalidInput `f` throws, or a marker when none.
inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const base::InvalidInput& e) {
        return e.what();
    }
    return "(no InvalidInput thrown)";
}

// Success when `f` throws base::InvalidInput whose message contains `part`.
inline ::testing::AssertionResult throws_with(const std::function<void()>& f,
                                              std::string_view part) {
    const std::string msg = error_of(f);
    if (msg.find(part) != std::string::npos) {
        return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << "message \"" << msg << "\" lacks \"" << part << "\"";
}

struct BzSpec {
    std::uint8_t setup_sects = 4;
    std::uint16_t version = 0x020F;
    std::uint8_t loadflags = kLoadedHigh;
    std::uint16_t xloadflags = kXlfKernel64 | kXlfCanBeLoadedAbove4G;
    std::uint32_t cmdline_size = 2047;
    std::uint32_t initrd_addr_max = 0x7FFF'FFFF;
    std::uint32_t init_size = 0x40'0000;      // 4 MiB
    std::uint32_t kernel_bytes = 0x1'0000;    // protected-mode code after the setup
    std::uint8_t header_len = 0x26C - 0x202;  // the jump's offset byte at 0x201
};

// Byte i of the protected-mode code.
inline std::uint8_t bz_kernel_byte(std::size_t i) {
    return static_cast<std::uint8_t>(i * 7 + 3);
}

inline std::vector<std::uint8_t> make_bzimage(const BzSpec& spec = {}) {
    const std::size_t sects = spec.setup_sects == 0 ? 4 : spec.setup_sects;
    const std::size_t setup = (sects + 1) * 512;
    std::vector<std::uint8_t> file(setup + spec.kernel_bytes, 0);
    SetupHeader h{};
    h.setup_sects = spec.setup_sects;
    h.syssize = (spec.kernel_bytes + 15) / 16;
    h.vid_mode = 0xFFFF;
    h.boot_flag = kBootFlag;
    h.jump = static_cast<std::uint16_t>(0xEB | spec.header_len << 8);
    h.header = kHdrSMagic;
    h.version = spec.version;
    h.type_of_loader = 0;
    h.loadflags = spec.loadflags;
    h.heap_end_ptr = 0x1234;
    h.initrd_addr_max = spec.initrd_addr_max;
    h.kernel_alignment = 0x20'0000;
    h.relocatable_kernel = 1;
    h.min_alignment = 21;
    h.xloadflags = spec.xloadflags;
    h.cmdline_size = spec.cmdline_size;
    h.pref_address = 0x100'0000;
    h.init_size = spec.init_size;
    std::memcpy(file.data() + kSetupHeaderOffset, &h, sizeof h);
    for (std::size_t i = 0; i < spec.kernel_bytes; ++i) {
        file[setup + i] = bz_kernel_byte(i);
    }
    return file;
}

// ---- ELF --------------------------------------------------------------------

struct ElfSegment {
    std::uint32_t type = PT_LOAD;
    std::uint64_t paddr = 0;
    std::uint64_t vaddr = 0;
    std::vector<std::uint8_t> data;  // p_filesz bytes
    std::uint64_t memsz = 0;         // 0: data.size()
    std::uint64_t align = 4;
};

inline std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) {
        v[i] = static_cast<std::uint8_t>(seed + i * 13);
    }
    return v;
}

// A note as a linker lays it out with 4-byte alignment.
inline std::vector<std::uint8_t> make_note(const std::string& name, std::uint32_t type,
                                           const std::vector<std::uint8_t>& desc) {
    Elf64_Nhdr nh{static_cast<std::uint32_t>(name.size() + 1),
                  static_cast<std::uint32_t>(desc.size()), type};
    const std::size_t name_at = sizeof nh;
    const std::size_t desc_at = name_at + (name.size() + 1 + 3) / 4 * 4;
    std::vector<std::uint8_t> out(desc_at + (desc.size() + 3) / 4 * 4, 0);
    std::memcpy(out.data(), &nh, sizeof nh);
    std::copy(name.begin(), name.end(), out.begin() + name_at);
    std::copy(desc.begin(), desc.end(), out.begin() + desc_at);
    return out;
}

inline std::vector<std::uint8_t> xen_pvh_note(std::uint64_t entry, std::size_t desc_bytes = 4) {
    std::vector<std::uint8_t> desc(desc_bytes);
    std::memcpy(desc.data(), &entry, desc_bytes);
    return make_note("Xen", kXenElfnotePhys32Entry, desc);
}

struct ElfSpec {
    std::uint64_t entry = 0x100'0000;
    std::vector<ElfSegment> segments;
    std::vector<std::uint8_t> note_section;  // non-empty: one SHT_NOTE section
    std::uint16_t machine = EM_X86_64;
    std::uint16_t type = ET_EXEC;
    std::uint8_t elf_class = ELFCLASS64;
};

// File layout: ELF header, program headers, segment data (each segment at
// a 16-byte aligned offset), then the note section and section headers.
inline std::vector<std::uint8_t> make_elf(const ElfSpec& spec) {
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = spec.elf_class;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = spec.type;
    eh.e_machine = spec.machine;
    eh.e_version = EV_CURRENT;
    eh.e_entry = spec.entry;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<std::uint16_t>(spec.segments.size());

    std::vector<std::uint8_t> file(sizeof eh + spec.segments.size() * sizeof(Elf64_Phdr));
    std::vector<Elf64_Phdr> phdrs;
    for (const ElfSegment& s : spec.segments) {
        file.resize((file.size() + 15) / 16 * 16, 0);
        Elf64_Phdr ph{};
        ph.p_type = s.type;
        ph.p_flags = PF_R | PF_X;
        ph.p_offset = file.size();
        ph.p_vaddr = s.vaddr != 0 ? s.vaddr : s.paddr;
        ph.p_paddr = s.paddr;
        ph.p_filesz = s.data.size();
        ph.p_memsz = s.memsz != 0 ? s.memsz : s.data.size();
        ph.p_align = s.align;
        phdrs.push_back(ph);
        file.insert(file.end(), s.data.begin(), s.data.end());
    }
    if (!spec.note_section.empty()) {
        file.resize((file.size() + 15) / 16 * 16, 0);
        const std::uint64_t note_at = file.size();
        file.insert(file.end(), spec.note_section.begin(), spec.note_section.end());
        file.resize((file.size() + 15) / 16 * 16, 0);
        Elf64_Shdr sh[2]{};
        sh[1].sh_type = SHT_NOTE;
        sh[1].sh_offset = note_at;
        sh[1].sh_size = spec.note_section.size();
        sh[1].sh_addralign = 4;
        eh.e_shoff = file.size();
        eh.e_shentsize = sizeof(Elf64_Shdr);
        eh.e_shnum = 2;
        const auto* p = reinterpret_cast<const std::uint8_t*>(sh);
        file.insert(file.end(), p, p + sizeof sh);
    }
    std::memcpy(file.data(), &eh, sizeof eh);
    for (std::size_t i = 0; i < phdrs.size(); ++i) {
        std::memcpy(file.data() + sizeof eh + i * sizeof(Elf64_Phdr), &phdrs[i],
                    sizeof(Elf64_Phdr));
    }
    return file;
}

inline Elf64_Phdr get_phdr(const std::vector<std::uint8_t>& file, std::size_t i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, file.data() + sizeof(Elf64_Ehdr) + i * sizeof ph, sizeof ph);
    return ph;
}

inline void set_phdr(std::vector<std::uint8_t>& file, std::size_t i, const Elf64_Phdr& ph) {
    std::memcpy(file.data() + sizeof(Elf64_Ehdr) + i * sizeof ph, &ph, sizeof ph);
}

inline Elf64_Ehdr get_ehdr(const std::vector<std::uint8_t>& file) {
    Elf64_Ehdr eh;
    std::memcpy(&eh, file.data(), sizeof eh);
    return eh;
}

inline void set_ehdr(std::vector<std::uint8_t>& file, const Elf64_Ehdr& eh) {
    std::memcpy(file.data(), &eh, sizeof eh);
}

// A plausible vmlinux: text at 16 MiB (virtual 0xffffffff81000000), data
// with a bss tail, optionally a PT_NOTE with the Xen PVH entry.
inline ElfSpec vmlinux_like(bool with_pvh_note) {
    ElfSpec spec;
    spec.entry = 0x100'0000;
    spec.segments.push_back(
        {PT_LOAD, 0x100'0000, 0xFFFF'FFFF'8100'0000, pattern(0x3000, 1), 0, 0x20'0000});
    spec.segments.push_back(
        {PT_LOAD, 0x120'0000, 0xFFFF'FFFF'8120'0000, pattern(0x1000, 2), 0x5000, 0x20'0000});
    if (with_pvh_note) {
        std::vector<std::uint8_t> notes = make_note("GNU", 3, pattern(20, 9));
        const auto xen = xen_pvh_note(0x100'0400, 8);
        notes.insert(notes.end(), xen.begin(), xen.end());
        spec.segments.push_back({PT_NOTE, 0x100'2000, 0, notes, 0, 4});
    }
    return spec;
}

}  // namespace boot::test_images
