#include "devices/virtio/rng.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

namespace devices::virtio {

RngDevice::RngDevice(std::string name, vmm::GuestMemory& memory)
    : VirtioDevice(DeviceType::kEntropy, std::move(name), 0, 1, memory) {}

void RngDevice::read_config(std::uint64_t, std::span<std::uint8_t> data) const {
    std::memset(data.data(), 0, data.size());
}

void RngDevice::on_notify(unsigned index) {
    Queue& q = queues()[index];
    bool used = false;
    for (;;) {
        Queue::PopResult popped = q.pop(memory_);
        if (popped.status == Queue::PopStatus::kEmpty) {
            if (q.enable_notifications(memory_)) {
                q.disable_notifications(memory_);
                continue;
            }
            break;
        }
        if (popped.status == Queue::PopStatus::kBroken) {
            set_needs_reset(popped.error);
            return;
        }
        std::uint32_t written = 0;
        if (popped.status == Queue::PopStatus::kBadChain || !popped.chain.readable.empty()) {
            bad_requests_.fetch_add(1, std::memory_order_relaxed);
        } else {
            for (const Buffer& b : popped.chain.writable) {
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
        }
        q.push(memory_, popped.chain.head, written);
        used = true;
    }
    if (used) {
        signal_used(index);
    }
}

nlohmann::json RngDevice::metrics() const {
    nlohmann::json m = VirtioDevice::metrics();
    m["requests"] = requests_.load(std::memory_order_relaxed);
    m["bytes"] = bytes_.load(std::memory_order_relaxed);
    return m;
}

}  // namespace devices::virtio
