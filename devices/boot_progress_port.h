#pragma once
// The boot progress port at layout::kBootProgress (0x402): each one-byte
// write is a code from guest/boot_progress.h, handed to the callback with
// the steady_clock time of the write. Codes not in that list are reported
// too (the VMM logs them). Wider writes are ignored and counted. Reads give
// 0xE9, what QEMU's isa-debugcon on the same port reads back.
// The callback runs on the vCPU thread, no lock held, possibly on several
// vCPUs at once.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>

#include "devices/bus.h"

namespace devices {

class BootProgressPort final : public BusDevice {
  public:
    using Report = std::function<void(std::uint8_t code, std::chrono::steady_clock::time_point)>;

    static constexpr std::uint64_t kRangeLength = 1;
    static constexpr std::uint8_t kReadBack = 0xE9;

    struct Counters {
        std::uint64_t codes = 0;
        std::uint64_t bad_accesses = 0;
    };

    explicit BootProgressPort(Report report);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;

    Counters counters() const;

  private:
    const Report report_;
    std::atomic<std::uint64_t> codes_{0};
    std::atomic<std::uint64_t> bad_accesses_{0};
};

}  // namespace devices
