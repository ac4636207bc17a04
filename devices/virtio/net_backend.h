#pragma once
// NetBackend: where a virtio-net device's frames go and come from. In the
// VMM a tap (TapBackend, below); in tests and fuzzers a fake the test
// drives. Every frame starts with the 12-byte virtio-net header. All calls,
// and all the callbacks they take, happen on the I/O thread.

#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "base/io_ring.h"
#include "net/tap.h"

namespace devices::virtio {

class NetBackend {
  public:
    virtual ~NetBackend() = default;

    // One frame into `frame`: its length, or -errno (-EAGAIN: none waiting).
    virtual ssize_t read_frame(std::span<std::uint8_t> frame) = 0;
    // One frame gathered from `iov`: its length, or -errno (-EAGAIN: no room
    // now, try again when writable).
    virtual ssize_t write_frame(std::span<const iovec> iov) = 0;
    // Offloads the guest accepts on receive (TUN_F_CSUM, TUN_F_TSO4, ...);
    // false when refused.
    virtual bool set_offload(unsigned tun_flags) = 0;
    // Calls `ready` once, later, when a frame may be read (`readable`) or
    // written (otherwise).
    virtual void when_ready(bool readable, std::function<void()> ready) = 0;
    // Calls `then` once, `delay` from now.
    virtual void after(std::chrono::milliseconds delay, std::function<void()> then) = 0;
};

// A tap, polled and timed through the I/O thread's io_uring; frames move
// with plain non-blocking read() and writev().
class TapBackend final : public NetBackend {
  public:
    TapBackend(std::unique_ptr<net::Tap> tap, base::IoRing& ring);

    ssize_t read_frame(std::span<std::uint8_t> frame) override;
    ssize_t write_frame(std::span<const iovec> iov) override;
    bool set_offload(unsigned tun_flags) override;
    void when_ready(bool readable, std::function<void()> ready) override;
    void after(std::chrono::milliseconds delay, std::function<void()> then) override;

  private:
    std::unique_ptr<net::Tap> tap_;
    base::IoRing& ring_;
};

}  // namespace devices::virtio
