#pragma once
// Fills guest memory for one boot: the kernel (bzImage or ELF, PVH when the
// kernel has the note), initrd, command line, ACPI tables, the code at the
// reset vector and the MP table.
// Called at every boot, so a reboot reloads the kernel from its file.

#include <cstdint>
#include <string>
#include <vector>

#include "base/guest_memory.h"
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

// Throws InvalidInput for a missing, corrupt or oversized kernel or initrd.
GuestEntry prepare_guest_memory(base::GuestMemory& memory, const VmConfig& config,
                                const GuestDevices& devices);

}  // namespace vmm
