#pragma once
// Fills guest memory for one boot: the kernel (bzImage or ELF, PVH when the
// kernel has the note), initrd, command line, ACPI tables, the code at the
// reset vector and the MP table.
// Called at every boot, so a reboot reloads the kernel from its file.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/guest_memory.h"
#include "boot/kernel_loader.h"
#include "firmware/acpi.h"
#include "vmm/config.h"

namespace vmm {

struct GuestEntry {
    enum class Mode { kLinux64, kPvh } mode = Mode::kLinux64;
    std::uint64_t entry = 0;
    std::uint64_t boot_info = 0;  // the zero page (RSI) or PVH start_info (EBX)
};

// What the boot tells the guest besides the configuration: the virtio-mmio
// windows (in the DSDT) and text appended to the kernel command line.
struct GuestDevices {
    std::vector<firmware::VirtioMmioWindow> virtio;
    std::string cmdline_extra;
};

// The kernel and initrd of a VM, opened once when the VMM starts: every boot
// reads them through these open files, so a path replaced or removed later
// (mv, install, a package upgrade) changes no boot of this VM. Why not a copy
// in memory: it would hold kernel and initrd (4-40 MiB) in every VMM for its
// whole life, several times the VMM's own resident memory, where the page
// cache keeps one copy for all the VMs that boot the same files. A file
// rewritten in place would still change the next boot: each boot's bytes
// are checked against the first boot's (size and a 64-bit hash), and a boot
// that finds them changed fails with HostError instead of booting them.
class BootFiles {
  public:
    // Opens both; throws InvalidInput naming a file that is missing,
    // unreadable, not a regular file or larger than 1 GiB.
    explicit BootFiles(const VmConfig& config);

    // Reads the files for a boot (throws as above, and HostError when a
    // file's bytes differ from the first boot's).
    boot::KernelImage kernel() const { return read(kernel_); }
    std::optional<boot::KernelImage> initrd() const;

  private:
    struct File {
        std::string path;
        base::Fd fd;
        mutable std::optional<std::pair<std::uint64_t, std::size_t>> first;  // size, hash
    };
    static File open_file(const std::string& path);
    static boot::KernelImage read(const File& file);

    File kernel_;
    std::optional<File> initrd_;
};

// Throws InvalidInput for a corrupt or oversized kernel or initrd, HostError
// for one that changed since the first boot (BootFiles).
GuestEntry prepare_guest_memory(base::GuestMemory& memory, const VmConfig& config,
                                const BootFiles& files, const GuestDevices& devices);

}  // namespace vmm
