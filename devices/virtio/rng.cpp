#include "devices/virtio/rng.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace devices::virtio {

RngDevice::RngDevice(std::string name, base::GuestMemory& memory)
    : VirtioDevice(DeviceType::kEntropy, std::move(name), 0, 1, memory) {}

void RngDevice::read_config(std::uint64_t, std::span<std::uint8_t> data) const {
    std::memset(data.data(), 0, data.size());
}

void RngDevice::on_notify(unsigned index) {
    Queue& q = queues()[index];
    bool used = false;
    std::size_t bytes = 0;
    unsigned chains = 0;
    // Every request completes at once and frees its head: without a budget a
    // driver refilling the ring as fast as we empty it would keep us here.
    for (;;) {
        if (chains == q.size() || bytes >= kMaxBytesPerNotification) {
            serve_again_later(index);
            break;
        }
        auto popped = next_chain(index);
        if (!popped) {
            break;
        }
        ++chains;
        std::uint32_t written = 0;
        const bool good = popped->status == Queue::PopStatus::kChain;
        if (good && !popped->chain.readable.empty()) {
            bad_requests_.fetch_add(1, std::memory_order_relaxed);  // entropy only goes out
        } else if (good) {
            for (const Buffer& b : popped->chain.writable) {
                std::size_t want = std::min(b.host.size(), kMaxBytesPerRequest - written);
                std::size_t got = 0;
                while (got < want) {
                    const ssize_t n = getrandom(b.host.data() + got, want - got, 0);
                    if (n < 0 && errno == EINTR) {
                        continue;
                    }
                    if (n <= 0) {
                        break;
                    }
                    got += static_cast<std::size_t>(n);
                }
                written += static_cast<std::uint32_t>(got);
                if (got < want || written == kMaxBytesPerRequest) {
                    break;
                }
            }
            requests_.fetch_add(1, std::memory_order_relaxed);
            bytes_.fetch_add(written, std::memory_order_relaxed);
            bytes += written;
        }
        q.push(memory_, popped->chain.head, written);
        used = true;
    }
    if (used) {
        signal_used(index);
    }
}

nlohmann::json RngDevice::metrics() const {
    nlohmann::json m = VirtioDevice::metrics();
    m["requests"] = count(requests_);
    m["bytes"] = count(bytes_);
    return m;
}

}  // namespace devices::virtio
