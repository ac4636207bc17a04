#pragma once
// The legacy platform devices of the machine in x86/layout.h, built and
// wired in one place: each device with its port range on the bus, its
// interrupt line and its callbacks into the machine.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/fd.h"
#include "devices/bus.h"
#include "vmm/async_writer.h"
#include "vmm/config.h"
#include "vmm/kvm.h"

namespace devices {
class Serial;
class I8042;
class Rtc;
class PvPanic;
class BootProgressPort;
class AcpiPm;
class PciConfigPorts;
}  // namespace devices

namespace vmm {

// What the devices report to the machine. Called on vCPU threads.
struct PlatformCallbacks {
    std::function<bool(std::uint32_t gsi, bool high)> irq;
    // i8042 reset pulse, ACPI reset register, reset control register;
    // `how` names which, for the reboot's event and log line.
    std::function<void(const char* how)> reset;
    std::function<void()> poweroff;  // ACPI S5
    std::function<void()> panic;     // pvpanic
    std::function<void(std::uint8_t code, std::chrono::steady_clock::time_point)> progress;
};

class PlatformDevices {
  public:
    // Throws InvalidInput when the serial file cannot be opened.
    PlatformDevices(const VmConfig& config, PlatformCallbacks callbacks);
    ~PlatformDevices();
    PlatformDevices(const PlatformDevices&) = delete;
    PlatformDevices& operator=(const PlatformDevices&) = delete;

    // Per boot, on the new VM: what KVM handles for these devices without an
    // exit to the VMM (the writes to 0xCF8, which select nothing here).
    void attach(VmFd& vm) const;

    nlohmann::json metrics() const;

    devices::Bus pio{"pio"};
    devices::Bus mmio{"mmio"};
    std::shared_ptr<devices::Serial> serial;
    std::shared_ptr<devices::I8042> i8042;
    std::shared_ptr<devices::Rtc> rtc;
    std::shared_ptr<devices::PvPanic> pvpanic;
    std::shared_ptr<devices::BootProgressPort> progress;
    std::shared_ptr<devices::AcpiPm> acpi_pm;
    std::shared_ptr<devices::PciConfigPorts> pci_config;  // 0xCF8-0xCFF, with 0xCF9

    // The console's output queue: at most this much waits for its reader.
    static constexpr std::size_t kConsoleQueueBytes = 256 * 1024;
    // How long the VMM's exit waits for a slow reader to take the rest.
    static constexpr std::chrono::milliseconds kConsoleFlushTimeout{1000};

  private:
    PlatformCallbacks callbacks_;
    // Where the console's output goes (a dup of stdout, or a file); shared
    // with the serial port's output callback, which may outlive this.
    std::shared_ptr<AsyncWriter> console_out_;
    // Signalled by KVM on dword writes to 0xCF8; never read (a counter that
    // saturates, not a queue).
    base::Fd config_address_sink_;
};

}  // namespace vmm
