#include "firmware/acpi_dsdt.h"

#include <cstdio>

#include "firmware/aml.h"
#include "x86/layout.h"

namespace firmware {
namespace {

using aml::Polarity;
using aml::Sharing;
using aml::Trigger;

// An ISA device's interrupt: edge-triggered, active-high, not shared.
Bytes isa_irq(std::uint32_t irq) {
    return aml::extended_interrupt(irq, Trigger::Edge, Polarity::ActiveHigh, Sharing::Exclusive);
}

Bytes com1() {
    return aml::device(
        "COM1", {aml::name("_HID", aml::eisa_id("PNP0501")), aml::name("_UID", aml::integer(0)),
                 aml::name("_CRS", aml::resource_template({aml::io_port(layout::kCom1, 8),
                                                           isa_irq(layout::kIrqCom1)}))});
}

Bytes i8042_keyboard() {
    // Linux's i8042 PNP probe takes the first port as data, the second as
    // command/status.
    return aml::device(
        "PS2K", {aml::name("_HID", aml::eisa_id("PNP0303")),
                 aml::name("_CRS", aml::resource_template({aml::io_port(layout::kI8042Data, 1),
                                                           aml::io_port(layout::kI8042Command, 1),
                                                           isa_irq(layout::kIrqI8042Keyboard)}))});
}

Bytes cmos_rtc() {
    return aml::device(
        "RTC", {aml::name("_HID", aml::eisa_id("PNP0B00")),
                aml::name("_CRS", aml::resource_template({aml::io_port(layout::kRtcIndex, 2),
                                                          isa_irq(layout::kIrqRtc)}))});
}

Bytes pvpanic() {
    return aml::device(
        "PEVT", {aml::name("_HID", aml::string("QEMU0001")),
                 aml::name("_CRS", aml::resource_template({aml::io_port(layout::kPvPanic, 1)}))});
}

Bytes power_button() {
    return aml::device(
        "PWRB", {aml::name("_HID", aml::eisa_id("PNP0C0C")), aml::name("_UID", aml::integer(0))});
}

// §5.6.9: the GED's single interrupt; _EVT(Arg0 = GSI) reads which events
// are pending from the event register and notifies their devices.
Bytes generic_event_device() {
    Bytes pending = aml::bit_and(aml::local(0), aml::integer(layout::kGedPowerButton));
    Bytes evt = aml::method(
        "_EVT", 1, true,
        {aml::store(aml::name_string("GDAT"), aml::local(0)),
         aml::if_then(aml::logical_equal(pending, aml::integer(layout::kGedPowerButton)),
                      {aml::notify(aml::name_string("\\_SB.PWRB"),
                                   aml::integer(kNotifyPowerButtonPressed))})});
    return aml::device(
        "GED", {aml::name("_HID", aml::string("ACPI0013")), aml::name("_UID", aml::integer(0)),
                aml::name("_CRS", aml::resource_template({aml::extended_interrupt(
                                      layout::kIrqGed, Trigger::Level, Polarity::ActiveHigh,
                                      Sharing::Exclusive)})),
                aml::operation_region("GDST", aml::RegionSpace::SystemIO, layout::kGedEvent, 4),
                aml::field("GDST", aml::FieldAccess::DWord, aml::FieldUpdate::WriteAsZeros,
                           {{"GDAT", 32}}),
                evt});
}

Bytes virtio_mmio(unsigned index, const VirtioMmioWindow& window) {
    char name[8];
    std::snprintf(name, sizeof name, "VR%02X", index & 0xFF);
    return aml::device(
        name,
        {aml::name("_HID", aml::string("LNRO0005")), aml::name("_UID", aml::integer(index)),
         aml::name("_CRS",
                   aml::resource_template(
                       {aml::memory32_fixed(static_cast<std::uint32_t>(window.addr),
                                            static_cast<std::uint32_t>(window.size), true),
                        aml::extended_interrupt(window.gsi, Trigger::Edge, Polarity::ActiveHigh,
                                                Sharing::Exclusive)}))});
}

}  // namespace

Bytes build_dsdt_aml(std::span<const VirtioMmioWindow> virtio) {
    std::vector<Bytes> devices{com1(),    i8042_keyboard(), cmos_rtc(),
                               pvpanic(), power_button(),   generic_event_device()};
    for (std::size_t i = 0; i < virtio.size(); ++i) {
        devices.push_back(virtio_mmio(static_cast<unsigned>(i), virtio[i]));
    }
    // \_S5_: SLP_TYPa, SLP_TYPb, then two reserved values.
    Bytes body = aml::name("_S5", aml::package({aml::integer(layout::kSleepTypeS5), aml::integer(0),
                                                aml::integer(0), aml::integer(0)}));
    Bytes sb = aml::scope("\\_SB", devices);
    body.insert(body.end(), sb.begin(), sb.end());
    return body;
}

Bytes build_dsdt(std::span<const VirtioMmioWindow> virtio) {
    Bytes out;
    append_struct(out, make_table_header("DSDT", kDsdtRevision));
    Bytes body = build_dsdt_aml(virtio);
    out.insert(out.end(), body.begin(), body.end());
    seal_table(out);
    return out;
}

}  // namespace firmware
