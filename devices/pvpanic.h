#pragma once
// pvpanic (ACPI QEMU0001) at layout::kPvPanic: one byte. Reading it gives
// the events this device supports (kPanicked | kCrashLoaded); a write with
// bit 0 reports a guest kernel panic (the VMM ends the boot), one with bit 1
// that a crash kernel was loaded (kdump is taking over). Other bits are
// ignored. Both callbacks run on the vCPU thread; no lock is held.

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>

#include "devices/bus.h"

namespace devices {

class PvPanic final : public BusDevice {
  public:
    static constexpr std::uint64_t kRangeLength = 1;
    static constexpr std::uint8_t kPanicked = 0x01;
    static constexpr std::uint8_t kCrashLoaded = 0x02;
    static constexpr std::uint8_t kSupported = kPanicked | kCrashLoaded;

    struct Counters {
        std::uint64_t panics = 0;
        std::uint64_t crash_loaded = 0;
        std::uint64_t bad_accesses = 0;
    };

    PvPanic(std::function<void()> on_panic, std::function<void()> on_crash_loaded);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    Counters counters() const;

  private:
    const std::function<void()> on_panic_;
    const std::function<void()> on_crash_loaded_;
    std::atomic<std::uint64_t> panics_{0};
    std::atomic<std::uint64_t> crash_loaded_{0};
    std::atomic<std::uint64_t> bad_accesses_{0};
};

}  // namespace devices
