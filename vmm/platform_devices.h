#pragma once
// The legacy platform devices of the machine in x86/layout.h, built and
// wired in one place: each device with its port range on the bus, its
// interrupt line and its callbacks into the machine.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "devices/bus.h"
#include "vmm/async_writer.h"
#include "vmm/config.h"

namespace devices {
class Serial;
class I8042;
class Rtc;
class PvPanic;
class BootProgressPort;
class AcpiPm;
}  // namespace devices

namespace vmm {

// What the devices report to the machine. Called on vCPU threads.
struct PlatformCallbacks {
    std::function<bool(std::uint32_t gsi, bool high)> irq;
    std::function<void()> reset;     // i8042 reset pulse, ACPI reset register
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

    nlohmann::json metrics() const;

    devices::Bus pio{"pio"};
    devices::Bus mmio{"mmio"};
    std::shared_ptr<devices::Serial> serial;
    std::shared_ptr<devices::I8042> i8042;
    std::shared_ptr<devices::Rtc> rtc;
    std::shared_ptr<devices::PvPanic> pvpanic;
    std::shared_ptr<devices::BootProgressPort> progress;
    std::shared_ptr<devices::AcpiPm> acpi_pm;

    // The console's output queue: at most this much waits for its reader.
    static constexpr std::size_t kConsoleQueueBytes = 256 * 1024;
    // How long the VMM's exit waits for a slow reader to take the rest.
    static constexpr std::chrono::milliseconds kConsoleFlushTimeout{1000};

  private:
    PlatformCallbacks callbacks_;
    // Where the console's output goes (a dup of stdout, or a file); shared
    // with the serial port's output callback, which may outlive this.
    std::shared_ptr<AsyncWriter> console_out_;
};

}  // namespace vmm
