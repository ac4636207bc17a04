#include "devices/virtio/net_backend.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

namespace devices::virtio {

TapBackend::TapBackend(std::unique_ptr<net::Tap> tap, base::IoRing& ring)
    : tap_(std::move(tap)), ring_(ring) {}

ssize_t TapBackend::read_frame(std::span<std::uint8_t> frame) {
    const ssize_t n = ::read(tap_->fd(), frame.data(), frame.size());
    return n < 0 ? -errno : n;
}

ssize_t TapBackend::write_frame(std::span<const iovec> iov) {
    const ssize_t n = ::writev(tap_->fd(), iov.data(), static_cast<int>(iov.size()));
    return n < 0 ? -errno : n;
}

bool TapBackend::set_offload(unsigned tun_flags) {
    return tap_->set_offload(tun_flags);
}

void TapBackend::when_ready(bool readable, std::function<void()> ready) {
    ring_.poll(tap_->fd(), readable ? POLLIN : POLLOUT,
               [ready = std::move(ready)](int) { ready(); });
}

void TapBackend::after(std::chrono::milliseconds delay, std::function<void()> then) {
    ring_.timeout(delay, [then = std::move(then)](int) { then(); });
}

}  // namespace devices::virtio
