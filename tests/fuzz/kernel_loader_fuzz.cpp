// libFuzzer target: the kernel loaders (boot/kernel_loader.h: bzImage and
// ELF vmlinux with the PVH note walker) on arbitrary files, into guest
// memories of several shapes. Input:
//   byte 0: bits 0-1 guest memory (64 MiB; 4 MiB; 8 MiB + 4 MiB above a
//           hole at 8-32 MiB; 2 MiB), bit 2 prefer PVH, bit 3 an initrd,
//           bit 4 an RSDP address, bit 5 a NUL inside the command line
//   byte 1: command line length / 9
//   u16:    initrd length / 16 (with bit 3)
//   rest:   the kernel file
//
// Either load_kernel() throws base::InvalidInput, or it loaded a kernel
// whose every write stayed inside what it reports: the kernel's range, the
// initrd, the command line and the zero page or PVH start info, all inside
// guest RAM, none overlapping another. Which pages were written is read
// from the host (mincore) after clearing guest RAM before each load; the
// loaded bytes, the command line and the boot structures are checked too.
// Any other exception escapes and libFuzzer reports it.

#include <elf.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/guest_memory.h"
#include "boot/boot_params.h"
#include "boot/bzimage.h"
#include "boot/kernel_loader.h"
#include "boot/pvh.h"
#include "tests/fuzz/fuzz_input.h"
#include "x86/layout.h"

namespace {

using fuzz::check;
constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kPage = 4096;

base::GuestMemory& memory(unsigned shape) {
    static std::array<std::unique_ptr<base::GuestMemory>, 4> mems;
    auto& m = mems[shape];
    if (!m) {
        switch (shape) {
            case 0:
                m = std::make_unique<base::GuestMemory>(64 * kMiB);
                break;
            case 1:
                m = std::make_unique<base::GuestMemory>(4 * kMiB);
                break;
            case 2:
                m = std::make_unique<base::GuestMemory>(12 * kMiB,
                                                        base::MemoryHole{8 * kMiB, 32 * kMiB});
                break;
            default:
                m = std::make_unique<base::GuestMemory>(2 * kMiB);
                break;
        }
        // Small pages, so that the host reports written memory page by page.
        for (const auto& r : m->regions()) {
            madvise(r.host, r.size, MADV_NOHUGEPAGE);
        }
    }
    return *m;
}

struct Span {
    std::uint64_t start, end;  // guest-physical [start, end)
};

bool overlap(const Span& a, const Span& b) {
    return a.start < b.end && b.start < a.end;
}

bool in_ram(const base::GuestMemory& mem, const Span& s) {
    return s.end >= s.start && mem.contains(s.start, s.end - s.start);
}

// Every byte written since the last clear() lies in `allowed`: pages the host
// holds for guest RAM must be allowed, or hold only zeros where they are not.
void check_writes(const base::GuestMemory& mem, const std::vector<Span>& allowed) {
    for (const auto& r : mem.regions()) {
        std::vector<unsigned char> resident(r.size / kPage);
        check(mincore(r.host, r.size, resident.data()) == 0, "mincore failed");
        for (std::uint64_t page = 0; page < resident.size(); ++page) {
            if ((resident[page] & 1) == 0) {
                continue;
            }
            const std::uint64_t at = r.guest_start + page * kPage;
            const Span here{at, at + kPage};
            // The bytes of this page that no allowed span covers must be zero.
            std::vector<Span> covered;
            for (const Span& a : allowed) {
                if (overlap(a, here)) {
                    covered.push_back({std::max(a.start, here.start), std::min(a.end, here.end)});
                }
            }
            std::sort(covered.begin(), covered.end(),
                      [](const Span& x, const Span& y) { return x.start < y.start; });
            std::uint64_t next = here.start;
            const std::uint8_t* host = r.host + page * kPage;
            auto zeros = [&](std::uint64_t from, std::uint64_t to) {
                for (std::uint64_t a = from; a < to; ++a) {
                    check(host[a - here.start] == 0, "the loader wrote outside what it reports");
                }
            };
            for (const Span& c : covered) {
                if (c.start > next) {
                    zeros(next, c.start);
                }
                next = std::max(next, c.end);
            }
            zeros(next, here.end);
        }
    }
}

std::vector<std::uint8_t> guest_bytes(const base::GuestMemory& mem, std::uint64_t at,
                                      std::uint64_t len) {
    std::vector<std::uint8_t> out(len);
    check(mem.read(at, out), "a range the loader reports is not guest RAM");
    return out;
}

// What the loader put where, checked against the file.
void check_kernel_bytes(const base::GuestMemory& mem, const boot::LoadedKernel& k,
                        std::span<const std::uint8_t> file) {
    if (k.format == boot::KernelFormat::BzImage) {
        const boot::BzImage image = boot::parse_bzimage(file, "fuzz");
        check(guest_bytes(mem, layout::kHighMem, image.kernel.size()) ==
                  std::vector<std::uint8_t>(image.kernel.begin(), image.kernel.end()),
              "the bzImage's protected-mode code is not at 1 MiB");
        check(k.entry == layout::kHighMem + boot::kBzImage64BitEntryOffset,
              "the bzImage entry is not at 1 MiB + 0x200");
        return;
    }
    Elf64_Ehdr eh;
    std::memcpy(&eh, file.data(), sizeof eh);
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Elf64_Phdr ph;
        std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) {
            continue;
        }
        check(ph.p_paddr >= k.kernel_start && ph.p_paddr + ph.p_memsz <= k.kernel_end,
              "a PT_LOAD segment lies outside the kernel's reported range");
        const auto loaded = guest_bytes(mem, ph.p_paddr, ph.p_memsz);
        check(std::equal(loaded.begin(), loaded.begin() + static_cast<std::ptrdiff_t>(ph.p_filesz),
                         file.begin() + static_cast<std::ptrdiff_t>(ph.p_offset)),
              "a PT_LOAD segment's bytes are not at its p_paddr");
        check(std::all_of(loaded.begin() + static_cast<std::ptrdiff_t>(ph.p_filesz), loaded.end(),
                          [](std::uint8_t b) { return b == 0; }),
              "a PT_LOAD segment's bss is not zero");
    }
}

void check_loaded(base::GuestMemory& mem, const boot::LoadedKernel& k,
                  std::span<const std::uint8_t> file, const std::string& cmdline,
                  std::uint64_t initrd_size, std::uint64_t rsdp) {
    const Span kernel{k.kernel_start, k.kernel_end};
    // An ELF's segments may lie on both sides of the hole (check_kernel_bytes
    // checks each); a bzImage is one piece of RAM.
    check(kernel.start >= layout::kHighMem && kernel.start < kernel.end &&
              (k.format == boot::KernelFormat::Elf || in_ram(mem, kernel)),
          "the kernel's range is not guest RAM above 1 MiB");
    check(k.entry >= kernel.start && k.entry < kernel.end, "the entry point is outside the kernel");
    check(k.regs.rip == k.entry, "rip is not the entry point");
    std::vector<Span> allowed = {kernel};

    const Span line{layout::kCmdline, layout::kCmdline + cmdline.size() + 1};
    check(guest_bytes(mem, line.start, cmdline.size() + 1) ==
              std::vector<std::uint8_t>(cmdline.c_str(), cmdline.c_str() + cmdline.size() + 1),
          "the command line is not in guest memory");
    allowed.push_back(line);

    std::optional<Span> initrd;
    check(k.initrd.has_value() == (initrd_size != 0), "the initrd went missing");
    if (k.initrd) {
        initrd = Span{k.initrd->addr, k.initrd->addr + k.initrd->size};
        check(k.initrd->size == initrd_size && k.initrd->addr % kPage == 0 &&
                  in_ram(mem, *initrd) && !overlap(*initrd, kernel) && !overlap(*initrd, line),
              "the initrd overlaps the kernel or leaves guest RAM");
        allowed.push_back(*initrd);
    }

    Span params{};
    if (k.mode == boot::BootMode::Linux64) {
        check(k.boot_params == layout::kZeroPage && k.regs.rsi == layout::kZeroPage,
              "the zero page is not where rsi points");
        params = {layout::kZeroPage, layout::kZeroPage + sizeof(boot::BootParams)};
        const auto bp = mem.read_obj<boot::BootParams>(layout::kZeroPage);
        check(bp && bp->hdr.cmd_line_ptr == layout::kCmdline && bp->acpi_rsdp_addr == rsdp &&
                  bp->e820_entries >= 1 && bp->e820_entries <= boot::kE820MaxEntries &&
                  bp->sentinel == 0,
              "the zero page is wrong");
        const std::uint64_t ramdisk = bp->hdr.ramdisk_image | std::uint64_t{bp->ext_ramdisk_image}
                                                                  << 32;
        check(!initrd || ramdisk == initrd->start, "the zero page does not point at the initrd");
    } else {
        check(k.boot_params == layout::kPvhStartInfo && k.regs.rbx == layout::kPvhStartInfo,
              "the PVH start info is not where ebx points");
        params = {layout::kPvhStartInfo, layout::kZeroPage};
        const auto info = mem.read_obj<boot::HvmStartInfo>(layout::kPvhStartInfo);
        check(info && info->magic == boot::kHvmStartMagic &&
                  info->cmdline_paddr == layout::kCmdline && info->rsdp_paddr == rsdp &&
                  info->nr_modules == (initrd ? 1u : 0u),
              "the PVH start info is wrong");
    }
    check(!overlap(params, kernel) && !overlap(params, line) &&
              (!initrd || !overlap(params, *initrd)),
          "the boot structures overlap the kernel or initrd");
    allowed.push_back(params);

    check_kernel_bytes(mem, k, file);
    check_writes(mem, allowed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    const std::uint8_t flags = in.u8();
    base::GuestMemory& mem = memory(flags & 3);
    boot::LoadOptions options;
    options.prefer_pvh = (flags & 0x04) != 0;
    options.rsdp_addr = (flags & 0x10) != 0 ? layout::kBiosStart : 0;
    std::string cmdline(std::size_t{in.u8()} * 9, 'x');
    for (std::size_t i = 0; i < cmdline.size(); i += 7) {
        cmdline[i] = ' ';
    }
    if ((flags & 0x20) != 0 && !cmdline.empty()) {
        cmdline[cmdline.size() / 2] = '\0';
    }
    std::optional<boot::KernelImage> initrd;
    if ((flags & 0x08) != 0) {
        initrd = boot::KernelImage{"initrd", std::vector<std::uint8_t>(in.u16() * 16u, 0x17)};
    }
    const auto file = in.rest();
    const boot::KernelImage kernel{"kernel", {file.begin(), file.end()}};

    mem.clear();
    try {
        const auto loaded = boot::load_kernel(mem, kernel, initrd, cmdline, options);
        if (fuzz::verbose()) {
            std::fprintf(stderr, "loaded: %s, %s, entry %#llx, kernel [%#llx, %#llx)\n",
                         loaded.format == boot::KernelFormat::Elf ? "ELF" : "bzImage",
                         loaded.mode == boot::BootMode::Pvh ? "PVH" : "64-bit",
                         static_cast<unsigned long long>(loaded.entry),
                         static_cast<unsigned long long>(loaded.kernel_start),
                         static_cast<unsigned long long>(loaded.kernel_end));
        }
        check_loaded(mem, loaded, kernel.bytes, cmdline, initrd ? initrd->bytes.size() : 0,
                     options.rsdp_addr);
    } catch (const base::InvalidInput& e) {
        // A clean refusal.
        if (fuzz::verbose()) {
            std::fprintf(stderr, "refused: %s\n", e.what());
        }
    }
    return 0;
}
