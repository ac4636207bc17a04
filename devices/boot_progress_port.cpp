#include "devices/boot_progress_port.h"

#include <algorithm>
#include <utility>

namespace devices {

BootProgressPort::BootProgressPort(Report report) : report_(std::move(report)) {}

void BootProgressPort::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    if (data.size() != 1 || offset != 0) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
        bad_accesses_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    data[0] = kReadBack;
}

void BootProgressPort::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    const auto when = std::chrono::steady_clock::now();
    if (data.size() != 1 || offset != 0) {
        bad_accesses_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    codes_.fetch_add(1, std::memory_order_relaxed);
    if (report_) {
        report_(data[0], when);
    }
}

BootProgressPort::Counters BootProgressPort::counters() const {
    return {codes_.load(std::memory_order_relaxed), bad_accesses_.load(std::memory_order_relaxed)};
}

}  // namespace devices
