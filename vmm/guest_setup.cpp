#include "vmm/guest_setup.h"

#include "boot/kernel_loader.h"
#include "firmware/acpi.h"
#include "firmware/reset_code.h"
#include "x86/mptable.h"

namespace vmm {

GuestEntry prepare_guest_memory(base::GuestMemory& memory, const VmConfig& config,
                                const GuestDevices& devices) {
    firmware::AcpiConfig acpi;
    acpi.vcpus = config.vcpus;
    acpi.virtio = devices.virtio;
    const base::GuestAddress rsdp = firmware::write_acpi_tables(memory, acpi);
    firmware::write_reset_code(memory);  // after the tables, which clear its area
    // The MP table holds at most kMpTableMaxVcpus CPUs in its 1 KiB; larger
    // guests find their CPUs in the MADT alone (every kernel we boot has ACPI).
    if (config.vcpus <= x86::kMpTableMaxVcpus) {
        x86::write_mptable(memory, config.vcpus);
    }

    boot::LoadOptions options;
    options.rsdp_addr = rsdp;
    const std::optional<std::string> initrd =
        config.initrd.empty() ? std::nullopt : std::optional<std::string>(config.initrd);
    const boot::LoadedKernel kernel = boot::load_kernel(
        memory, config.kernel, initrd, config.cmdline + devices.cmdline_extra, options);

    GuestEntry entry;
    entry.mode =
        kernel.mode == boot::BootMode::Pvh ? GuestEntry::Mode::kPvh : GuestEntry::Mode::kLinux64;
    entry.entry = kernel.regs.rip;
    entry.boot_info = entry.mode == GuestEntry::Mode::kPvh ? kernel.regs.rbx : kernel.regs.rsi;
    return entry;
}

}  // namespace vmm
