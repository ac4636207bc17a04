#include "firmware/acpi_madt.h"

#include <string>

#include "base/error.h"
#include "x86/layout.h"

namespace firmware {

Bytes build_madt(unsigned vcpus) {
    if (vcpus == 0 || vcpus > 255) {
        throw base::InvalidInput("the MADT describes 1..255 vCPUs, not " + std::to_string(vcpus));
    }
    Bytes out;
    MadtHeader madt{};
    madt.header = make_table_header("APIC", kMadtRevision);
    madt.local_apic_address = static_cast<std::uint32_t>(layout::kLocalApic);
    madt.flags = 0;  // no PCAT_COMPAT: there is no dual 8259 to disable
    append_struct(out, madt);

    for (unsigned cpu = 0; cpu < vcpus; ++cpu) {
        MadtLocalApic lapic{};
        lapic.type = kMadtTypeLocalApic;
        lapic.length = sizeof lapic;
        lapic.processor_uid = static_cast<std::uint8_t>(cpu);
        lapic.apic_id = static_cast<std::uint8_t>(cpu);
        lapic.flags = kMadtLocalApicEnabled;
        append_struct(out, lapic);
    }

    MadtIoApic ioapic{};
    ioapic.type = kMadtTypeIoApic;
    ioapic.length = sizeof ioapic;
    ioapic.io_apic_id = kMadtIoApicId;
    ioapic.address = static_cast<std::uint32_t>(layout::kIoApic);
    ioapic.gsi_base = 0;
    append_struct(out, ioapic);

    // The PIT's IRQ 0 arrives on IOAPIC pin 2, as on a PC and in QEMU.
    MadtInterruptOverride irq0{};
    irq0.type = kMadtTypeInterruptOverride;
    irq0.length = sizeof irq0;
    irq0.bus = 0;
    irq0.source = 0;
    irq0.gsi = 2;
    irq0.flags = kMpsIntiConforms;
    append_struct(out, irq0);

    // The SCI (the GED's line) is level-triggered, active-high, as its _CRS
    // says; without an override Linux would assume level, active-low.
    MadtInterruptOverride sci{};
    sci.type = kMadtTypeInterruptOverride;
    sci.length = sizeof sci;
    sci.bus = 0;
    sci.source = static_cast<std::uint8_t>(layout::kIrqGed);
    sci.gsi = layout::kIrqGed;
    sci.flags = kMpsIntiActiveHigh | kMpsIntiLevel;
    append_struct(out, sci);

    // LINT1 of every local APIC is the NMI input.
    MadtLocalApicNmi nmi{};
    nmi.type = kMadtTypeLocalApicNmi;
    nmi.length = sizeof nmi;
    nmi.processor_uid = 0xFF;
    nmi.flags = kMpsIntiConforms;
    nmi.lint = 1;
    append_struct(out, nmi);

    seal_table(out);
    return out;
}

}  // namespace firmware
