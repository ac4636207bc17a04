#pragma once
// virtio-net on a tap (virtio 1.x, section 5.1): queue 0 receives, queue 1
// transmits. Frames keep their 12-byte virtio-net header end to end (the tap
// has IFF_VNET_HDR), so checksum and TSO offloads cost nothing here.
//
// The backend (devices/virtio/net_backend.h: the tap, polled through the I/O
// thread's io_uring) says when it is ready; then frames move in batches, and
// the driver gets one interrupt per batch rather than one per frame (a ring
// round trip per frame cost two thirds of the throughput).
// Transmit: each chain's readable buffers go to the tap in one writev
// straight from guest memory; a chain of more than kMaxTxBuffers buffers is
// dropped as a bad request. Receive: a frame is read into a bounce buffer
// and copied into as many receive chains as it needs (MRG_RXBUF,
// num_buffers in the header). While the guest has posted too few buffers
// the frame waits and nothing more is read, so the tap's own queue absorbs
// (and drops) the excess. A tap read or write error is counted, never fatal;
// after a read error receive tries again on its own, later (kRxRetryFirst,
// doubling up to kRxRetryMax while errors go on), without waiting for a kick.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/device.h"
#include "devices/virtio/net_backend.h"

namespace devices::virtio {

class NetDevice final : public VirtioDevice {
  public:
    static constexpr unsigned kRxQueue = 0;
    static constexpr unsigned kTxQueue = 1;

    // The most buffers one transmitted frame may span (one writev).
    static constexpr std::size_t kMaxTxBuffers = 256;
    static constexpr std::chrono::milliseconds kRxRetryFirst{10};
    static constexpr std::chrono::milliseconds kRxRetryMax{1000};

    NetDevice(std::string name, std::unique_ptr<NetBackend> backend,
              std::array<std::uint8_t, 6> mac, base::GuestMemory& memory);
    ~NetDevice() override;

    void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const override;
    nlohmann::json metrics() const override;

  private:
    bool on_activate() override;
    void on_notify(unsigned index) override;
    void on_reset() override;

    // At most this many frames per call, so one busy queue cannot starve
    // the other devices on the I/O thread.
    static constexpr unsigned kFramesPerBatch = 64;

    void transmit();
    void receive();
    // Asks the backend to call us when it is readable (receive) or writable
    // (transmit), at most one request of each kind outstanding.
    void wait_for_backend(bool readable);
    // A read failed: receive again after a delay that doubles while errors go on.
    void retry_receive_later();
    // Copies the waiting frame into receive chains; true when it is delivered.
    bool deliver_frame();

    std::unique_ptr<NetBackend> backend_;
    const std::array<std::uint8_t, 6> mac_;

    // Receive state, under lock().
    std::vector<std::uint8_t> frame_;  // the bounce buffer
    std::size_t frame_bytes_ = 0;      // of a frame waiting for buffers, else 0
    bool rx_waiting_ = false;          // for the backend to be readable
    bool tx_waiting_ = false;          // for the backend to be writable
    bool rx_retry_armed_ = false;
    std::chrono::milliseconds rx_retry_delay_{0};  // 0: the last read did not fail
    struct Partial {
        std::uint16_t head;
        std::uint32_t bytes;
    };
    std::vector<Partial> partial_;  // chains holding parts of the waiting frame
    std::size_t partial_copied_ = 0;
    std::vector<Buffer> first_buffers_;  // where the frame's header went

    struct Counters {
        std::atomic<std::uint64_t> rx_packets{0}, rx_bytes{0}, tx_packets{0}, tx_bytes{0};
        std::atomic<std::uint64_t> rx_errors{0}, tx_errors{0}, rx_dropped{0}, tx_dropped{0};
    } counters_;
};

}  // namespace devices::virtio
