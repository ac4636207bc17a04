#include "boot/elf_kernel.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/hex.h"
#include "boot/boot_params.h"
#include "x86/layout.h"

namespace boot {

namespace {

// The file as seen by the checks: named, so every error can say which file.
class ElfFile {
  public:
    ElfFile(std::span<const std::uint8_t> bytes, std::string_view name)
        : bytes_(bytes), name_(name) {}

    [[noreturn]] void fail(const std::string& problem) const {
        throw base::InvalidInput(name_ + " is not a usable ELF vmlinux: " + problem);
    }

    // For a sound file that does not fit this guest.
    [[noreturn]] void does_not_fit(const std::string& problem) const {
        throw base::InvalidInput(name_ + ": " + problem + "; give the VM more memory");
    }

    // True when [offset, offset + len) lies in the file; no sum can overflow.
    bool in_file(std::uint64_t offset, std::uint64_t len) const {
        return offset <= bytes_.size() && len <= bytes_.size() - offset;
    }

    std::span<const std::uint8_t> bytes(std::uint64_t offset, std::uint64_t len,
                                        const std::string& what) const {
        if (!in_file(offset, len)) {
            fail(what + " at file offset " + base::hex(offset) + " (" + base::hex(len) +
                 " bytes) runs past the end of the file (" + base::hex(bytes_.size()) + " bytes)");
        }
        return bytes_.subspan(offset, len);
    }

    template <typename T>
    T read(std::uint64_t offset, const std::string& what) const {
        T value;
        std::memcpy(&value, bytes(offset, sizeof(T), what).data(), sizeof(T));
        return value;
    }

  private:
    std::span<const std::uint8_t> bytes_;
    std::string name_;
};

std::uint64_t align_up(std::uint64_t v, std::uint64_t align) {
    return (v + align - 1) / align * align;
}

// Looks for the Xen PHYS32_ENTRY note in one note area.
std::optional<std::uint32_t> find_pvh_note(const ElfFile& f, std::uint64_t offset,
                                           std::uint64_t len, std::uint64_t p_align) {
    const auto area = f.bytes(offset, len, "note area");
    const std::uint64_t align = p_align == 8 ? 8 : 4;
    std::uint64_t pos = 0;
    while (area.size() - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        std::memcpy(&nh, area.data() + pos, sizeof nh);
        const std::uint64_t name_at = pos + sizeof nh;
        const std::uint64_t desc_at = name_at + align_up(nh.n_namesz, align);
        const std::uint64_t next = desc_at + align_up(nh.n_descsz, align);
        if (desc_at > area.size() || nh.n_descsz > area.size() - desc_at) {
            f.fail("note at file offset " + base::hex(offset + pos) + " runs past its note area");
        }
        const std::uint8_t* name = area.data() + name_at;
        if (nh.n_type == kXenElfnotePhys32Entry && nh.n_namesz == 4 &&
            std::memcmp(name, "Xen", 4) == 0) {
            if (nh.n_descsz != 4 && nh.n_descsz != 8) {
                f.fail("Xen PHYS32_ENTRY note has " + std::to_string(nh.n_descsz) +
                       " bytes of data, not 4 or 8");
            }
            std::uint64_t value = 0;
            std::memcpy(&value, area.data() + desc_at, nh.n_descsz);
            if (value > 0xFFFF'FFFF) {
                f.fail("PVH entry " + base::hex(value) +
                       " from the Xen PHYS32_ENTRY note is not a 32-bit address");
            }
            return static_cast<std::uint32_t>(value);
        }
        if (next >= area.size()) {
            break;
        }
        pos = next;
    }
    return std::nullopt;
}

std::optional<std::uint32_t> find_pvh_in_sections(const ElfFile& f, const Elf64_Ehdr& eh) {
    if (eh.e_shoff == 0 || eh.e_shnum == 0) {
        return std::nullopt;
    }
    if (eh.e_shentsize != sizeof(Elf64_Shdr)) {
        f.fail("e_shentsize is " + std::to_string(eh.e_shentsize) + ", not " +
               std::to_string(sizeof(Elf64_Shdr)));
    }
    f.bytes(eh.e_shoff, std::uint64_t{eh.e_shnum} * sizeof(Elf64_Shdr), "section header table");
    for (unsigned i = 0; i < eh.e_shnum; ++i) {
        const auto sh = f.read<Elf64_Shdr>(eh.e_shoff + i * sizeof(Elf64_Shdr), "section header");
        if (sh.sh_type == SHT_NOTE) {
            if (auto entry = find_pvh_note(f, sh.sh_offset, sh.sh_size, sh.sh_addralign)) {
                return entry;
            }
        }
    }
    return std::nullopt;
}

void check_header(const ElfFile& f, const Elf64_Ehdr& eh) {
    if (eh.e_ident[EI_CLASS] != ELFCLASS64) {
        f.fail("it is a 32-bit ELF file; pass a 64-bit x86-64 vmlinux");
    }
    if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
        f.fail("it is big-endian; pass an x86-64 vmlinux");
    }
    if (eh.e_machine != EM_X86_64) {
        f.fail("e_machine is " + std::to_string(eh.e_machine) + ", not x86-64 (" +
               std::to_string(EM_X86_64) + ")");
    }
    if (eh.e_type != ET_EXEC) {
        f.fail("e_type is " + std::to_string(eh.e_type) +
               ", not an executable (ET_EXEC); pass vmlinux, not an object or module");
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr)) {
        f.fail("e_phentsize is " + std::to_string(eh.e_phentsize) + ", not " +
               std::to_string(sizeof(Elf64_Phdr)));
    }
    if (eh.e_phnum == 0 || eh.e_phnum == PN_XNUM) {
        f.fail("it has no program headers (e_phnum " + std::to_string(eh.e_phnum) + ")");
    }
    f.bytes(eh.e_phoff, std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), "program header table");
}

struct Segment {
    unsigned index;
    Elf64_Phdr ph;
};

void check_load_segment(const ElfFile& f, const base::GuestMemory& mem, const Segment& s) {
    const Elf64_Phdr& ph = s.ph;
    const std::string seg = "PT_LOAD segment " + std::to_string(s.index);
    if (ph.p_filesz > ph.p_memsz) {
        f.fail(seg + " has p_filesz " + base::hex(ph.p_filesz) + " larger than p_memsz " +
               base::hex(ph.p_memsz));
    }
    f.bytes(ph.p_offset, ph.p_filesz, seg);
    if (ph.p_memsz > UINT64_MAX - ph.p_paddr) {
        f.fail(seg + " has p_paddr " + base::hex(ph.p_paddr) + " + p_memsz " +
               base::hex(ph.p_memsz) + " overflowing 64 bits");
    }
    if (ph.p_paddr < layout::kHighMem) {
        f.fail(seg + " at " + base::hex(ph.p_paddr) +
               " reaches into the boot area below 1 MiB; link the kernel higher");
    }
    if (!mem.contains(ph.p_paddr, ph.p_memsz)) {
        f.does_not_fit(seg + " [" + base::hex(ph.p_paddr) + ", " +
                       base::hex(ph.p_paddr + ph.p_memsz) + ") lies outside guest RAM (" +
                       base::mib(mem.ram_bytes()) + ")");
    }
}

// Physical address of `entry`: itself when a segment holds it physically,
// else translated through the segment whose virtual range holds it.
std::uint64_t physical_entry(const ElfFile& f, const std::vector<Segment>& loads,
                             std::uint64_t entry) {
    for (const Segment& s : loads) {
        if (entry >= s.ph.p_paddr && entry - s.ph.p_paddr < s.ph.p_memsz) {
            return entry;
        }
    }
    for (const Segment& s : loads) {
        if (entry >= s.ph.p_vaddr && entry - s.ph.p_vaddr < s.ph.p_memsz) {
            return entry - s.ph.p_vaddr + s.ph.p_paddr;
        }
    }
    f.fail("entry point " + base::hex(entry) + " is not inside any PT_LOAD segment");
}

}  // namespace

bool has_elf_magic(std::span<const std::uint8_t> file) {
    return file.size() >= SELFMAG && std::memcmp(file.data(), ELFMAG, SELFMAG) == 0;
}

ElfKernel load_elf_kernel(base::GuestMemory& mem, std::span<const std::uint8_t> file,
                          std::string_view name) {
    const ElfFile f(file, name);
    if (!has_elf_magic(file)) {
        f.fail("missing the ELF magic \\x7fELF at offset 0");
    }
    const auto eh = f.read<Elf64_Ehdr>(0, "ELF header");
    check_header(f, eh);

    std::vector<Segment> loads;
    std::optional<std::uint32_t> pvh_entry;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        const auto ph = f.read<Elf64_Phdr>(eh.e_phoff + i * sizeof(Elf64_Phdr), "program header");
        if (ph.p_type == PT_LOAD && ph.p_memsz != 0) {
            loads.push_back({i, ph});
            check_load_segment(f, mem, loads.back());
        } else if (ph.p_type == PT_NOTE && !pvh_entry) {
            pvh_entry = find_pvh_note(f, ph.p_offset, ph.p_filesz, ph.p_align);
        }
    }
    if (loads.empty()) {
        f.fail("it has no PT_LOAD segments");
    }
    if (!pvh_entry) {
        pvh_entry = find_pvh_in_sections(f, eh);
    }

    std::vector<Segment> by_addr = loads;
    std::sort(by_addr.begin(), by_addr.end(),
              [](const Segment& a, const Segment& b) { return a.ph.p_paddr < b.ph.p_paddr; });
    for (std::size_t i = 1; i < by_addr.size(); ++i) {
        const Elf64_Phdr& prev = by_addr[i - 1].ph;
        if (by_addr[i].ph.p_paddr < prev.p_paddr + prev.p_memsz) {
            f.fail("PT_LOAD segments " + std::to_string(by_addr[i - 1].index) + " and " +
                   std::to_string(by_addr[i].index) + " overlap at " +
                   base::hex(by_addr[i].ph.p_paddr));
        }
    }

    ElfKernel out{};
    out.entry = physical_entry(f, loads, eh.e_entry);
    if (pvh_entry) {
        bool inside = false;
        for (const Segment& s : loads) {
            inside =
                inside || (*pvh_entry >= s.ph.p_paddr && *pvh_entry - s.ph.p_paddr < s.ph.p_memsz);
        }
        if (!inside) {
            f.fail("PVH entry " + base::hex(*pvh_entry) + " is not inside any PT_LOAD segment");
        }
    }
    out.pvh_entry = pvh_entry;
    out.kernel_start = by_addr.front().ph.p_paddr;
    out.kernel_end = by_addr.back().ph.p_paddr + by_addr.back().ph.p_memsz;

    for (const Segment& s : loads) {
        const Elf64_Phdr& ph = s.ph;
        const bool ok = mem.write(ph.p_paddr, file.subspan(ph.p_offset, ph.p_filesz)) &&
                        mem.zero(ph.p_paddr + ph.p_filesz, ph.p_memsz - ph.p_filesz);
        if (!ok) {  // checked above; kept so that a bug cannot write short
            f.does_not_fit("PT_LOAD segment " + std::to_string(s.index) + " does not fit");
        }
    }
    return out;
}

}  // namespace boot
