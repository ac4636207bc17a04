#include "devices/pvpanic.h"

#include <algorithm>
#include <utility>

namespace devices {

PvPanic::PvPanic(std::function<void()> on_panic, std::function<void()> on_crash_loaded)
    : on_panic_(std::move(on_panic)), on_crash_loaded_(std::move(on_crash_loaded)) {}

void PvPanic::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    if (data.size() != 1 || offset != 0) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
        bad_accesses_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    data[0] = kSupported;
}

void PvPanic::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    if (data.size() != 1 || offset != 0) {
        bad_accesses_.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    if ((data[0] & kCrashLoaded) != 0) {
        crash_loaded_.fetch_add(1, std::memory_order_relaxed);
        if (on_crash_loaded_) {
            on_crash_loaded_();
        }
    }
    if ((data[0] & kPanicked) != 0) {
        panics_.fetch_add(1, std::memory_order_relaxed);
        if (on_panic_) {
            on_panic_();
        }
    }
}

PvPanic::Counters PvPanic::counters() const {
    return {panics_.load(std::memory_order_relaxed), crash_loaded_.load(std::memory_order_relaxed),
            bad_accesses_.load(std::memory_order_relaxed)};
}

}  // namespace devices
