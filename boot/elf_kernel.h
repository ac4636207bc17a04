#pragma once
// ELF64 x86-64 kernels (vmlinux): copy the PT_LOAD segments to their
// physical addresses and find the entry points: e_entry for the 64-bit Linux
// boot protocol, the Xen PHYS32_ENTRY note for PVH.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "base/guest_memory.h"

namespace boot {

struct ElfKernel {
    std::uint64_t entry;                     // e_entry as a physical address
    std::optional<std::uint32_t> pvh_entry;  // XEN_ELFNOTE_PHYS32_ENTRY, when present
    std::uint64_t kernel_start;              // lowest p_paddr of a PT_LOAD
    std::uint64_t kernel_end;                // highest p_paddr + p_memsz
};

// True when `file` starts with the ELF magic (it may still be invalid).
bool has_elf_magic(std::span<const std::uint8_t> file);

// Validates the whole file first (header, program headers, every PT_LOAD
// against the file, guest RAM and the other segments, notes), then copies
// p_filesz bytes of each segment to p_paddr and zeroes the rest up to
// p_memsz. Segments may not reach below layout::kHighMem, where the boot
// structures live. Throws base::InvalidInput naming `name` and the problem.
ElfKernel load_elf_kernel(base::GuestMemory& mem, std::span<const std::uint8_t> file,
                          std::string_view name);

}  // namespace boot
