#pragma once
// virtio-rng (entropy device, virtio 1.x section 5.4): fills every
// device-writable buffer the guest posts with bytes from getrandom(). No
// configuration space, no features of its own, one request queue.

#include <atomic>
#include <cstdint>

#include "devices/virtio/device.h"

namespace devices::virtio {

class RngDevice final : public VirtioDevice {
  public:
    // At most this many bytes per request: a guest asking for more gets
    // this much (the driver asks again).
    static constexpr std::size_t kMaxBytesPerRequest = 64 * 1024;
    // At most this many bytes (and one ring's worth of requests) per
    // notification; the rest after the other devices had their turn.
    static constexpr std::size_t kMaxBytesPerNotification = 256 * 1024;

    RngDevice(std::string name, base::GuestMemory& memory);

    void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const override;
    nlohmann::json metrics() const override;

  private:
    void on_notify(unsigned index) override;

    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::uint64_t> requests_{0};
};

}  // namespace devices::virtio
