#include "devices/pci_config_ports.h"

#include <algorithm>
#include <utility>

#include "x86/layout.h"

namespace devices {

static_assert(layout::kResetControl ==
              layout::kPciConfigAddress + PciConfigPorts::kResetControlOffset);
static_assert(layout::kPciConfigData ==
              layout::kPciConfigAddress + PciConfigPorts::kConfigDataOffset);
static_assert(layout::kResetControlCpuReset == PciConfigPorts::kCpuReset);
static_assert(layout::kResetControlSystemReset == PciConfigPorts::kSystemReset);

PciConfigPorts::PciConfigPorts(std::function<void()> on_reset) : on_reset_(std::move(on_reset)) {}

void PciConfigPorts::reset() {
    reset_control_.store(0, std::memory_order_relaxed);
}

PciConfigPorts::Counters PciConfigPorts::counters() const {
    return {config_reads_.load(std::memory_order_relaxed),
            config_writes_.load(std::memory_order_relaxed),
            resets_.load(std::memory_order_relaxed)};
}

void PciConfigPorts::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    if (is_reset_control(offset, data.size())) {
        data[0] = reset_control_.load(std::memory_order_relaxed);
        return;
    }
    std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
    config_reads_.fetch_add(1, std::memory_order_relaxed);
}

void PciConfigPorts::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    if (!is_reset_control(offset, data.size())) {
        config_writes_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    const std::uint8_t value = data[0];
    reset_control_.store(value & kKeptBits, std::memory_order_relaxed);
    if ((value & kCpuReset) != 0) {
        resets_.fetch_add(1, std::memory_order_relaxed);
        if (on_reset_) {
            on_reset_();
        }
    }
}

}  // namespace devices
