#pragma once
// The one entry point for booting a kernel: sniffs the format (ELF vmlinux
// or bzImage), loads it, places the initrd, writes the command line and the
// boot structures, and says how the vCPU must start.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/guest_memory.h"
#include "boot/initrd.h"

namespace boot {

// A file's bytes and the name errors should use (normally its path).
struct KernelImage {
    std::string name;
    std::vector<std::uint8_t> bytes;

    // Reads the whole file. Throws base::InvalidInput naming the path when it
    // is missing, unreadable, not a regular file or larger than max_bytes.
    static KernelImage from_file(const std::string& path,
                                 std::uint64_t max_bytes = std::uint64_t{1} << 30);
};

enum class KernelFormat { BzImage, Elf };

enum class BootMode {
    Linux64,  // 64-bit long mode, paging on (identity map), RSI = boot_params
    Pvh,      // 32-bit protected mode, paging off, EBX = hvm_start_info
};

// What the vCPU must hold at its first instruction; every other general
// register is 0. The mode's segment and paging setup is the caller's.
struct EntryRegisters {
    std::uint64_t rip;
    std::uint64_t rsi;
    std::uint64_t rbx;
};

struct LoadedKernel {
    KernelFormat format;
    BootMode mode;
    std::uint64_t entry;        // guest-physical: rip
    std::uint64_t boot_params;  // layout::kZeroPage (Linux64) or layout::kPvhStartInfo (Pvh)
    EntryRegisters regs;
    std::uint64_t kernel_start;  // guest-physical range the kernel occupies
    std::uint64_t kernel_end;
    std::uint16_t protocol_version;  // bzImage header's; 0x020f synthesized for a vmlinux
    std::optional<InitrdPlacement> initrd;
};

struct LoadOptions {
    std::uint64_t rsdp_addr = 0;  // for PVH's rsdp_paddr and the zero page; 0: unset
    bool prefer_pvh = true;       // an ELF with a PVH note boots through PVH
};

// Loads `kernel` into `mem`. Throws base::InvalidInput for a corrupt or
// unsupported image, a command line too long for the kernel, or memory too
// small for the kernel or initrd; the message names the file.
LoadedKernel load_kernel(base::GuestMemory& mem, const KernelImage& kernel,
                         const std::optional<KernelImage>& initrd, std::string_view cmdline,
                         const LoadOptions& options = {});

// Same, reading the files first.
LoadedKernel load_kernel(base::GuestMemory& mem, const std::string& kernel_path,
                         const std::optional<std::string>& initrd_path, std::string_view cmdline,
                         const LoadOptions& options = {});

}  // namespace boot
