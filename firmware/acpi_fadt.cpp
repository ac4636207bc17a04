#include "firmware/acpi_fadt.h"

#include "x86/layout.h"

namespace firmware {

Bytes build_fadt(std::uint64_t dsdt_address) {
    Fadt fadt{};
    fadt.header = make_table_header("FACP", kFadtRevision);
    fadt.sci_int = static_cast<std::uint16_t>(layout::kIrqGed);
    fadt.iapc_boot_arch = kBootArch8042 | kBootArchVgaNotPresent;
    fadt.flags = kFadtWbinvd | kFadtPowerButton | kFadtSleepButton | kFadtResetRegSupported |
                 kFadtHwReducedAcpi;
    fadt.reset_reg = io_port_register(layout::kAcpiReset);
    fadt.reset_value = layout::kAcpiResetValue;
    fadt.minor_version = kFadtMinorVersion;
    // §5.2.9: when X_DSDT is set, the 32-bit DSDT field must be zero.
    fadt.x_dsdt = dsdt_address;
    fadt.sleep_control_reg = io_port_register(layout::kAcpiSleepControl);
    fadt.sleep_status_reg = io_port_register(layout::kAcpiSleepStatus);
    Bytes out;
    append_struct(out, fadt);
    seal_table(out);
    return out;
}

}  // namespace firmware
