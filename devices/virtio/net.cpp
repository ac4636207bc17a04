#include "devices/virtio/net.h"

#include <linux/if_tun.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace devices::virtio {

namespace {

// Feature bits of virtio-net (virtio 1.x, 5.1.3).
constexpr unsigned kCsum = 0;
constexpr unsigned kGuestCsum = 1;
constexpr unsigned kMac = 5;
constexpr unsigned kGuestTso4 = 7;
constexpr unsigned kGuestTso6 = 8;
constexpr unsigned kHostTso4 = 11;
constexpr unsigned kHostTso6 = 12;
constexpr unsigned kMrgRxbuf = 15;
constexpr unsigned kStatus = 16;

constexpr std::uint16_t kLinkUp = 1;
constexpr std::size_t kHeaderBytes = net::Tap::kVnetHeaderBytes;
constexpr std::size_t kNumBuffersOffset = 10;  // le16 num_buffers in the v1 header
// The largest frame a tap hands over: a 64 KiB GSO frame plus its headers.
constexpr std::size_t kMaxFrameBytes = kHeaderBytes + 65536 + 256;

#pragma pack(push, 1)
struct NetConfig {
    std::uint8_t mac[6];
    std::uint16_t status;
    std::uint16_t max_virtqueue_pairs;
};
#pragma pack(pop)

constexpr std::uint64_t kFeatures =
    feature::bit(kCsum) | feature::bit(kGuestCsum) | feature::bit(kMac) | feature::bit(kGuestTso4) |
    feature::bit(kGuestTso6) | feature::bit(kHostTso4) | feature::bit(kHostTso6) |
    feature::bit(kMrgRxbuf) | feature::bit(kStatus);

// Copies `data` into `buffers` from byte `skip` on; returns bytes copied.
std::size_t scatter(const std::vector<Buffer>& buffers, std::size_t skip,
                    std::span<const std::uint8_t> data) {
    std::size_t copied = 0;
    for (const Buffer& b : buffers) {
        if (copied == data.size()) {
            break;
        }
        if (skip >= b.host.size()) {
            skip -= b.host.size();
            continue;
        }
        const std::size_t n = std::min(b.host.size() - skip, data.size() - copied);
        std::memcpy(b.host.data() + skip, data.data() + copied, n);
        copied += n;
        skip = 0;
    }
    return copied;
}

}  // namespace

NetDevice::NetDevice(std::string name, std::unique_ptr<NetBackend> backend,
                     std::array<std::uint8_t, 6> mac, base::GuestMemory& memory)
    : VirtioDevice(DeviceType::kNet, std::move(name), kFeatures, 2, memory),
      backend_(std::move(backend)),
      mac_(mac),
      frame_(kMaxFrameBytes) {}

NetDevice::~NetDevice() = default;

void NetDevice::read_config(std::uint64_t offset, std::span<std::uint8_t> data) const {
    NetConfig c{};
    std::memcpy(c.mac, mac_.data(), sizeof c.mac);
    c.status = kLinkUp;
    c.max_virtqueue_pairs = 1;
    std::memset(data.data(), 0, data.size());
    if (offset < sizeof c) {
        const std::size_t n = std::min<std::size_t>(data.size(), sizeof c - offset);
        std::memcpy(data.data(), reinterpret_cast<const std::uint8_t*>(&c) + offset, n);
    }
}

bool NetDevice::on_activate() {
    unsigned offload = 0;
    if (negotiated(kGuestCsum)) {
        offload |= TUN_F_CSUM;
        if (negotiated(kGuestTso4)) {
            offload |= TUN_F_TSO4;
        }
        if (negotiated(kGuestTso6)) {
            offload |= TUN_F_TSO6;
        }
    }
    // Should the kernel refuse, frames simply arrive unsegmented and checksummed.
    if (!backend_->set_offload(offload)) {
        backend_->set_offload(0);
    }
    return true;
}

void NetDevice::on_reset() {
    frame_bytes_ = 0;
    partial_.clear();
    partial_copied_ = 0;
    first_buffers_.clear();
    rx_retry_delay_ = std::chrono::milliseconds(0);
}

void NetDevice::on_notify(unsigned index) {
    if (index == kTxQueue) {
        transmit();
    } else {
        receive();
    }
}

void NetDevice::transmit() {
    Queue& q = queues()[kTxQueue];
    bool used = false;
    unsigned taken = 0;
    for (; taken < kFramesPerBatch; ++taken) {
        auto popped = next_chain(kTxQueue);
        if (!popped) {
            break;
        }
        const Chain& chain = popped->chain;
        const bool bad = popped->status == Queue::PopStatus::kBadChain;
        if (bad || !chain.writable.empty() || chain.readable.size() > kMaxTxBuffers ||
            chain.readable_bytes() < kHeaderBytes || chain.readable_bytes() > kMaxFrameBytes) {
            if (!bad) {
                bad_requests_.fetch_add(1, std::memory_order_relaxed);
            }
            counters_.tx_dropped.fetch_add(1, std::memory_order_relaxed);
            q.push(memory_, chain.head, 0);
            used = true;
            continue;
        }
        iovec iov[kMaxTxBuffers];
        std::size_t parts = 0;
        for (const Buffer& b : chain.readable) {
            iov[parts++] = {b.host.data(), b.host.size()};
        }
        const ssize_t n = backend_->write_frame({iov, parts});
        if (n == -EAGAIN) {
            // The tap's queue is full: take the frame again once it drains.
            q.undo_pop();
            wait_for_backend(false);
            break;
        }
        if (n < 0) {
            counters_.tx_errors.fetch_add(1, std::memory_order_relaxed);
        } else {
            counters_.tx_packets.fetch_add(1, std::memory_order_relaxed);
            counters_.tx_bytes.fetch_add(chain.readable_bytes() - kHeaderBytes,
                                         std::memory_order_relaxed);
        }
        q.push(memory_, chain.head, 0);
        used = true;
    }
    if (used) {
        signal_used(kTxQueue);
    }
    if (taken == kFramesPerBatch) {
        serve_again_later(kTxQueue);  // more may wait: after the other devices had a turn
    }
}

void NetDevice::receive() {
    bool used = false;
    for (unsigned got = 0; got < kFramesPerBatch; ++got) {
        if (frame_bytes_ == 0) {
            const ssize_t n = backend_->read_frame(frame_);
            if (n == -EAGAIN) {
                rx_retry_delay_ = std::chrono::milliseconds(0);
                break;
            }
            if (n <= 0) {
                // Not at once (a lasting error would spin), nor only at the
                // driver's next kick (it may never come): later, on our own.
                counters_.rx_errors.fetch_add(1, std::memory_order_relaxed);
                retry_receive_later();
                break;
            }
            rx_retry_delay_ = std::chrono::milliseconds(0);
            if (static_cast<std::size_t>(n) <= kHeaderBytes) {
                counters_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
                continue;
            }
            frame_bytes_ = static_cast<std::size_t>(n);
            partial_copied_ = 0;
            partial_.clear();
        }
        if (!deliver_frame()) {
            break;  // waits for the driver's buffers (its kick calls us again)
        }
        used = true;
    }
    if (used) {
        signal_used(kRxQueue);
    }
    if (frame_bytes_ == 0 && !rx_retry_armed_ && !needs_reset()) {
        wait_for_backend(true);
    }
}

void NetDevice::retry_receive_later() {
    rx_retry_delay_ =
        rx_retry_delay_.count() == 0 ? kRxRetryFirst : std::min(2 * rx_retry_delay_, kRxRetryMax);
    if (rx_retry_armed_ || !active()) {
        return;
    }
    rx_retry_armed_ = true;
    backend_->after(rx_retry_delay_, [this] {
        std::lock_guard lock(this->lock());
        rx_retry_armed_ = false;
        if (active() && !needs_reset()) {
            receive();
        }
    });
}

void NetDevice::wait_for_backend(bool readable) {
    bool& waiting = readable ? rx_waiting_ : tx_waiting_;
    if (waiting || !active()) {
        return;
    }
    waiting = true;
    backend_->when_ready(readable, [this, readable] {
        std::lock_guard lock(this->lock());
        (readable ? rx_waiting_ : tx_waiting_) = false;
        if (!active() || needs_reset()) {
            return;  // the next driver's kick starts over
        }
        if (readable) {
            receive();
        } else {
            transmit();
        }
    });
}

bool NetDevice::deliver_frame() {
    Queue& q = queues()[kRxQueue];
    const bool mergeable = negotiated(kMrgRxbuf);
    while (partial_copied_ < frame_bytes_) {
        auto popped = next_chain(kRxQueue);
        if (!popped) {
            if (needs_reset()) {
                on_reset();  // the ring broke: the frame goes nowhere
            }
            return false;  // else wait for the driver to post buffers
        }
        const Chain& chain = popped->chain;
        const bool bad = popped->status == Queue::PopStatus::kBadChain;
        if (bad || !chain.readable.empty() ||
            chain.writable_bytes() < (partial_.empty() ? kHeaderBytes : 1)) {
            if (!bad) {
                bad_requests_.fetch_add(1, std::memory_order_relaxed);
            }
            q.push(memory_, chain.head, 0);
            continue;
        }
        if (!mergeable && chain.writable_bytes() < frame_bytes_) {
            // The frame does not fit the one buffer it may use: drop it and
            // keep the buffer for the next frame.
            q.undo_pop();
            counters_.rx_dropped.fetch_add(1, std::memory_order_relaxed);
            frame_bytes_ = 0;
            return true;
        }
        const std::span<const std::uint8_t> rest(frame_.data() + partial_copied_,
                                                 frame_bytes_ - partial_copied_);
        const std::size_t n = scatter(chain.writable, 0, rest);
        if (partial_.empty()) {
            first_buffers_ = chain.writable;
        }
        partial_.push_back({chain.head, static_cast<std::uint32_t>(n)});
        partial_copied_ += n;
    }
    // Only now is the number of chains known: it goes into the header the
    // first chain already holds.
    const auto count = static_cast<std::uint16_t>(partial_.size());
    scatter(first_buffers_, kNumBuffersOffset,
            {reinterpret_cast<const std::uint8_t*>(&count), sizeof count});
    for (const Partial& p : partial_) {
        q.push(memory_, p.head, p.bytes);
    }
    counters_.rx_packets.fetch_add(1, std::memory_order_relaxed);
    counters_.rx_bytes.fetch_add(frame_bytes_ - kHeaderBytes, std::memory_order_relaxed);
    on_reset();
    return true;
}

nlohmann::json NetDevice::metrics() const {
    nlohmann::json m = VirtioDevice::metrics();
    m["rx_packets"] = count(counters_.rx_packets);
    m["rx_bytes"] = count(counters_.rx_bytes);
    m["tx_packets"] = count(counters_.tx_packets);
    m["tx_bytes"] = count(counters_.tx_bytes);
    m["rx_errors"] = count(counters_.rx_errors);
    m["tx_errors"] = count(counters_.tx_errors);
    m["rx_dropped"] = count(counters_.rx_dropped);
    m["tx_dropped"] = count(counters_.tx_dropped);
    return m;
}

}  // namespace devices::virtio
