#pragma once
// virtio-blk over a storage::Disk (raw file, block device or ephemeral
// overlay). One request queue. Requests are parsed on the I/O thread
// (devices/virtio/blk_request.h), handed to the disk, which completes them
// asynchronously through io_uring with many in flight, and answered when
// they complete. A failing backend costs the guest an I/O error on that
// request, a counter and an event; the VMM and the other devices go on.
// One notification parses at most one ring's worth of requests.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "devices/virtio/blk_request.h"
#include "devices/virtio/device.h"
#include "storage/disk.h"

namespace devices::virtio {

class BlockDevice final : public VirtioDevice {
  public:
    // Called on the I/O thread for every failed backend request: the
    // operation ("read", "write", "flush", ...) and -errno.
    using ErrorSink = std::function<void(const std::string& op, int error)>;

    // `id` is what GET_ID answers (the guest's /sys/block/vdX/serial);
    // at most 20 bytes are used.
    BlockDevice(std::string name, std::string id, std::unique_ptr<storage::Disk> disk,
                base::GuestMemory& memory, ErrorSink on_error);
    ~BlockDevice() override;

    void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const override;
    nlohmann::json metrics() const override;

  private:
    void on_notify(unsigned index) override;
    void on_cancel_requests() override;
    void submit(std::uint16_t head, const blk::Parsed& parsed);
    void complete(std::uint64_t generation, std::uint16_t head, std::uint8_t* status,
                  std::uint32_t used_length, const char* op, bool slow, int result);
    // Leave the queue's notifications off once drained (VirtioDevice::next_chain)?
    // Only while reads or writes are in flight and no flush, discard or
    // write-zeroes, whose wait a new request should not share.
    bool may_stay_quiet() const;
    void finish(std::uint16_t head, std::uint8_t* status, blk::Status value, std::uint32_t used);

    const std::string id_;
    std::unique_ptr<storage::Disk> disk_;
    ErrorSink on_error_;
    std::size_t slow_in_flight_ = 0;  // flushes, discards, write-zeroes (under lock)

    struct Counters {
        std::atomic<std::uint64_t> reads{0}, writes{0}, read_bytes{0}, write_bytes{0};
        std::atomic<std::uint64_t> flushes{0}, discards{0}, write_zeroes{0}, errors{0};
    } counters_;
};

}  // namespace devices::virtio
