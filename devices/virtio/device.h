#pragma once
// VirtioDevice: the state every virtio 1.x device shares (negotiated
// features, queues, interrupt status, reset) and the hooks a device type
// implements. The transport (devices/virtio/mmio_transport.h) drives it from
// the guest's register accesses; the I/O thread drives it on queue kicks and
// I/O completions.
//
// Threading: one recursive mutex per device, lock() (recursive because a
// backend may complete a request inside the call that submits it). The transport holds it for every
// register access (vCPU threads); the I/O thread holds it while it calls
// on_notify() and while a device completes a request. Everything marked
// "under lock" assumes it is held. The device never calls back into the
// transport or another device while holding it.
//
// Requests in flight: a device counts every request it handed to a backend
// that may still read or write guest memory (request_started() ..
// request_ended()); a queue holds at most its size of them (Queue).
//
// Reset: begin_reset() stops the device at once (inactive, queues not ready,
// interrupt status clear) and bumps generation(): completions of older
// requests are dropped, their used entries and status bytes never written.
// With requests in flight the reset stays pending (reset_pending()) until
// the last of them has ended, and only then is finished: the transport asks
// the I/O thread to cancel them (cancel_requests()) and waits for quiet()
// without holding the lock, so that a driver's reset does not return while
// a backend can still write into guest memory the driver may reuse.
//
// Fairness: one notification serves at most one ring's worth of chains (a
// device may set a smaller budget); a device that stops with work left calls
// serve_again_later(), which re-kicks the queue so that it is served after the
// other devices on the I/O thread had their turn.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/guest_memory.h"
#include "devices/virtio/queue.h"

namespace devices::virtio {

namespace feature {
inline constexpr unsigned kRingIndirectDesc = 28;
inline constexpr unsigned kRingEventIdx = 29;
inline constexpr unsigned kVersion1 = 32;
inline constexpr std::uint64_t bit(unsigned n) {
    return std::uint64_t{1} << n;
}
}  // namespace feature

namespace status {
inline constexpr std::uint32_t kAcknowledge = 1;
inline constexpr std::uint32_t kDriver = 2;
inline constexpr std::uint32_t kDriverOk = 4;
inline constexpr std::uint32_t kFeaturesOk = 8;
inline constexpr std::uint32_t kNeedsReset = 64;
inline constexpr std::uint32_t kFailed = 128;
}  // namespace status

// Device IDs (virtio 1.x, section 5).
enum class DeviceType : std::uint32_t { kNet = 1, kBlock = 2, kEntropy = 4 };

// Bits of the interrupt status register.
inline constexpr std::uint32_t kInterruptUsedBuffer = 1;
inline constexpr std::uint32_t kInterruptConfigChange = 2;

class VirtioDevice {
  public:
    // `device_features` are the type's own bits; the transport-level ones
    // (VERSION_1, RING_EVENT_IDX, RING_INDIRECT_DESC) are added here.
    VirtioDevice(DeviceType type, std::string name, std::uint64_t device_features,
                 unsigned queue_count, base::GuestMemory& memory);
    virtual ~VirtioDevice() = default;
    VirtioDevice(const VirtioDevice&) = delete;
    VirtioDevice& operator=(const VirtioDevice&) = delete;

    DeviceType type() const { return type_; }
    const std::string& name() const { return name_; }
    std::uint64_t offered_features() const { return offered_features_; }
    std::recursive_mutex& lock() const { return mutex_; }
    base::GuestMemory& memory() const { return memory_; }

    // Where interrupts go (the transport's irqfd). Set once before the guest runs.
    void set_interrupt_sink(std::function<void()> raise) { raise_interrupt_ = std::move(raise); }
    // How the device asks to serve queue `index` again later (the transport
    // signals the queue's kick eventfd). Set once before the guest runs.
    void set_requeue_sink(std::function<void(unsigned index)> requeue) {
        requeue_ = std::move(requeue);
    }

    // --- under lock ---

    // The device's configuration space; bytes past its end read as zero.
    virtual void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const = 0;
    virtual void write_config(std::uint64_t offset, std::span<const std::uint8_t> data);

    std::vector<Queue>& queues() { return queues_; }
    std::uint64_t driver_features() const { return driver_features_; }
    bool negotiated(unsigned bit) const { return driver_features_ & feature::bit(bit); }
    // FEATURES_OK: false when the driver chose bits we did not offer or left
    // out VERSION_1 (we are a modern-only device).
    bool accept_features(std::uint64_t driver_features);
    // DRIVER_OK: the transport has validated the queues. False refuses (the
    // transport then sets NEEDS_RESET).
    bool activate();
    bool active() const { return active_; }
    // Stops the device and starts a reset (see the top of this file); it
    // finishes at once unless requests are in flight.
    void begin_reset();
    std::uint64_t generation() const { return generation_; }

    std::uint32_t interrupt_status() const { return interrupt_status_; }
    void acknowledge_interrupt(std::uint32_t bits) { interrupt_status_ &= ~bits; }
    bool needs_reset() const { return needs_reset_; }

    // The driver kicked queue `index` (I/O thread). Ignored unless active.
    void notify(unsigned index);

    // Device -> driver: buffers were used in queue `index`; interrupts the
    // driver when it asked for it. On a thread that defers interrupts (the
    // I/O thread) the decision waits for flush_interrupts(), so that the
    // completions of one I/O round cost the guest one interrupt, not one each.
    void signal_used(unsigned index);
    // The calling thread defers signal_used() until it calls
    // flush_interrupts() on the device (the I/O thread, after each round).
    static void defer_interrupts_on_this_thread();
    // End of an I/O-thread round (takes the lock): serves the queues left
    // quiet (below), then raises the interrupts deferred since the last call.
    void flush_interrupts();
    // The next chain of queue `index` for the device to serve (kChain or
    // kBadChain), or nullopt when there is none: the queue is drained with
    // notifications re-enabled (no wakeup lost), or the ring is broken and
    // the device now needs a reset.
    //
    // With `stay_quiet` a drained queue keeps the driver's notifications off
    // instead and is served again at the end of every I/O-thread round, as
    // if kicked. Only for a device with requests in flight: their completions
    // guarantee another round, so nothing the driver adds meanwhile waits
    // longer than the next completion, and a busy driver stops paying a VM
    // exit per kick.
    std::optional<Queue::PopResult> next_chain(unsigned index, bool stay_quiet = false);
    // The driver broke the device's rules beyond a single request (e.g. an
    // unusable ring): DEVICE_NEEDS_RESET and a configuration-change interrupt.
    void set_needs_reset(const std::string& why);

    // On the I/O thread, after begin_reset(): asks the backend to end the
    // requests still in flight early. Does nothing unless a reset is pending.
    void cancel_requests();

    // --- any thread ---

    // Requests handed to a backend that may still touch guest memory.
    std::size_t requests_in_flight() const { return in_flight_.load(std::memory_order_acquire); }
    // A reset was begun and waits for requests in flight to end.
    bool reset_pending() const { return reset_pending_.load(std::memory_order_acquire); }
    // No request in flight and no reset pending: nothing of this device can
    // touch guest memory until the driver starts it again.
    bool quiet() const { return requests_in_flight() == 0 && !reset_pending(); }
    // Waits (the lock not held) until quiet() or `deadline`; returns quiet().
    bool wait_quiet(std::chrono::steady_clock::time_point deadline) const;

    // Counters for GET /metrics; takes no lock (atomics only).
    virtual nlohmann::json metrics() const;

  protected:
    static std::uint64_t count(const std::atomic<std::uint64_t>& counter) {
        return counter.load(std::memory_order_relaxed);
    }
    virtual bool on_activate() { return true; }
    virtual void on_notify(unsigned index) = 0;
    // The reset finishes: forget every per-driver state (under lock).
    virtual void on_reset() {}
    // See cancel_requests(): the backend's part.
    virtual void on_cancel_requests() {}

    // Under lock: a request went to a backend / came back from it (after its
    // last access to guest memory). The end of the last one finishes a
    // pending reset.
    void request_started();
    void request_ended();
    // Under lock: queue `index` still has work but the device stops here for
    // this notification; it is served again after the other devices.
    void serve_again_later(unsigned index);

    base::GuestMemory& memory_;
    std::atomic<std::uint64_t> bad_requests_{0};  // chains the driver got wrong

  private:
    const DeviceType type_;
    const std::string name_;
    const std::uint64_t offered_features_;
    mutable std::recursive_mutex mutex_;
    std::vector<Queue> queues_;
    void raise_if_needed(unsigned index);
    // notify() without counting a notification: the driver did not kick.
    void notify_quietly(unsigned index);
    void finish_reset();

    std::function<void()> raise_interrupt_;
    std::function<void(unsigned)> requeue_;
    std::uint64_t driver_features_ = 0;
    std::uint64_t generation_ = 0;
    std::uint32_t interrupt_status_ = 0;
    std::uint32_t deferred_used_ = 0;  // queues with used buffers not yet signalled
    std::uint32_t quiet_queues_ = 0;   // drained with notifications off: polled each round
    std::uint32_t requeued_ = 0;       // kicked by serve_again_later(), not by the driver
    bool active_ = false;
    bool needs_reset_ = false;
    std::atomic<std::uint64_t> interrupts_{0};
    std::atomic<std::uint64_t> notifications_{0};

    std::atomic<std::size_t> in_flight_{0};
    std::atomic<bool> reset_pending_{false};
    // wait_quiet() sleeps here; request_ended() and finish_reset() wake it.
    mutable std::mutex quiet_mutex_;
    mutable std::condition_variable quiet_changed_;
};

}  // namespace devices::virtio
