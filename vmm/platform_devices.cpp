#include "vmm/platform_devices.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "devices/acpi_pm.h"
#include "devices/boot_progress_port.h"
#include "devices/i8042.h"
#include "devices/irq.h"
#include "devices/pci_config_ports.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "x86/layout.h"

namespace vmm {

namespace {

std::shared_ptr<devices::IrqLine> irq_line(const PlatformCallbacks& callbacks, std::uint32_t gsi) {
    auto set = callbacks.irq;
    return std::make_shared<devices::FunctionIrqLine>([set, gsi](bool high) { set(gsi, high); });
}

// The device's reset callback: the machine's, told which register asked.
std::function<void()> reset_through(const PlatformCallbacks& callbacks, const char* how) {
    auto reset = callbacks.reset;
    return [reset, how] {
        if (reset) {
            reset(how);
        }
    };
}

}  // namespace

PlatformDevices::PlatformDevices(const VmConfig& config, PlatformCallbacks callbacks)
    : callbacks_(std::move(callbacks)) {
    base::Fd out;
    switch (config.serial.kind) {
        case SerialConfig::Kind::kStdio:
            out.reset(fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0));
            if (!out.valid()) {
                base::throw_errno("the console's stdout");
            }
            break;
        case SerialConfig::Kind::kFile:
            out.reset(
                open(config.serial.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
            if (!out.valid()) {
                throw base::InvalidInput("--serial file:" + config.serial.path + ": " +
                                         std::strerror(errno));
            }
            break;
        case SerialConfig::Kind::kNone:
            break;
    }
    devices::Serial::Output output;
    if (out.valid()) {
        // The guest's bytes are queued for a thread of their own: a reader of
        // stdout that stops, or a full disk, costs console output (counted),
        // never a vCPU stalled in write() or a VMM that cannot exit.
        console_out_ = std::make_shared<AsyncWriter>(std::move(out), kConsoleQueueBytes,
                                                     "vmm-console", kConsoleFlushTimeout);
        output = [writer = console_out_](std::span<const std::uint8_t> bytes) {
            writer->push(bytes, writer->capacity());
        };
    }
    serial = std::make_shared<devices::Serial>(irq_line(callbacks_, layout::kIrqCom1),
                                               std::move(output));
    i8042 = std::make_shared<devices::I8042>(irq_line(callbacks_, layout::kIrqI8042Keyboard),
                                             reset_through(callbacks_, "the i8042 reset pulse"));
    rtc = std::make_shared<devices::Rtc>();
    pvpanic = std::make_shared<devices::PvPanic>(callbacks_.panic, [] {});
    progress = std::make_shared<devices::BootProgressPort>(callbacks_.progress);
    acpi_pm = std::make_shared<devices::AcpiPm>(
        irq_line(callbacks_, layout::kIrqGed), callbacks_.poweroff,
        reset_through(callbacks_, "the ACPI reset register"));
    pci_config = std::make_shared<devices::PciConfigPorts>(
        reset_through(callbacks_, "the reset control register (port 0xCF9)"));

    pio.add(layout::kCom1, devices::Serial::kRegisterCount, serial);
    pio.add(layout::kI8042Data, devices::I8042::kRangeLength, i8042);
    pio.add(layout::kRtcIndex, devices::Rtc::kRangeLength, rtc);
    pio.add(layout::kPvPanic, 1, pvpanic);
    pio.add(layout::kBootProgress, 1, progress);
    pio.add(layout::kAcpiSleepControl, devices::AcpiPm::kRangeLength, acpi_pm);
    pio.add(layout::kPciConfigAddress, devices::PciConfigPorts::kRangeLength, pci_config);

    // Linux reads PCI configuration space as a dword write to 0xCF8 and a
    // read of 0xCFC, tens of thousands of times on some CPUs
    // (devices/pci_config_ports.h). The writes need no answer: KVM takes
    // them, so each read costs one exit to the VMM instead of two.
    config_address_sink_.reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!config_address_sink_.valid()) {
        base::throw_errno("eventfd for port 0xCF8");
    }
}

void PlatformDevices::attach(VmFd& vm) const {
    vm.add_pio_write_sink(layout::kPciConfigAddress, 4, config_address_sink_.get());
}

PlatformDevices::~PlatformDevices() = default;

nlohmann::json PlatformDevices::metrics() const {
    const auto s = serial->counters();
    const auto k = i8042->counters();
    const auto p = acpi_pm->counters();
    const auto pv = pvpanic->counters();
    const auto bp = progress->counters();
    const auto pci = pci_config->counters();
    const auto c = console_out_ != nullptr ? console_out_->counters() : AsyncWriter::Counters{};
    return {
        {"serial",
         {{"tx_bytes", s.bytes_out},
          {"rx_bytes", s.bytes_in},
          {"rx_refused", s.input_refused},
          {"bad_accesses", s.bad_accesses}}},
        {"i8042", {{"resets", k.resets}, {"bad_accesses", k.bad_accesses}}},
        {"acpi",
         {{"poweroffs", p.poweroffs},
          {"resets", p.resets},
          {"power_button_presses", p.power_button_presses}}},
        {"pvpanic", {{"panics", pv.panics}}},
        {"boot_progress", {{"codes", bp.codes}}},
        {"pci_config_ports",
         {{"config_reads", pci.config_reads},
          {"config_writes", pci.config_writes},
          {"resets", pci.resets}}},
        {"console",
         {{"written_bytes", c.written_bytes},
          {"dropped_bytes", c.dropped_bytes},
          {"write_errors", c.write_errors}}},
        {"bus",
         {{"pio_unmapped", pio.unmapped_accesses()}, {"mmio_unmapped", mmio.unmapped_accesses()}}},
    };
}

}  // namespace vmm
