#include "devices/virtio/device.h"

#include <cstdio>
#include <stdexcept>
#include <utility>

#include "base/error.h"

namespace devices::virtio {

VirtioDevice::VirtioDevice(DeviceType type, std::string name, std::uint64_t device_features,
                           unsigned queue_count, base::GuestMemory& memory)
    : memory_(memory),
      type_(type),
      name_(std::move(name)),
      offered_features_(device_features | feature::bit(feature::kVersion1) |
                        feature::bit(feature::kRingEventIdx) |
                        feature::bit(feature::kRingIndirectDesc)),
      queues_(queue_count) {
    if (queue_count > 32) {
        throw base::InternalError(name_ + ": at most 32 queues per device");
    }
}

void VirtioDevice::write_config(std::uint64_t, std::span<const std::uint8_t>) {}

bool VirtioDevice::accept_features(std::uint64_t driver_features) {
    if ((driver_features & ~offered_features_) != 0 ||
        !(driver_features & feature::bit(feature::kVersion1))) {
        return false;
    }
    driver_features_ = driver_features;
    return true;
}

bool VirtioDevice::activate() {
    for (Queue& q : queues_) {
        q.set_event_idx(negotiated(feature::kRingEventIdx));
    }
    if (!on_activate()) {
        return false;
    }
    active_ = true;
    return true;
}

void VirtioDevice::begin_reset() {
    ++generation_;  // completions from here on belong to no driver
    active_ = false;
    for (Queue& q : queues_) {
        q.deactivate();
    }
    interrupt_status_ = 0;
    deferred_used_ = 0;
    quiet_queues_ = 0;
    reset_pending_.store(true, std::memory_order_release);
    if (requests_in_flight() == 0) {
        finish_reset();
    }
}

void VirtioDevice::finish_reset() {
    on_reset();
    for (Queue& q : queues_) {
        q.reset();
    }
    driver_features_ = 0;
    interrupt_status_ = 0;
    deferred_used_ = 0;
    quiet_queues_ = 0;
    requeued_ = 0;
    active_ = false;
    needs_reset_ = false;
    {
        std::lock_guard guard(quiet_mutex_);
        reset_pending_.store(false, std::memory_order_release);
    }
    quiet_changed_.notify_all();
}

void VirtioDevice::cancel_requests() {
    if (reset_pending() && requests_in_flight() > 0) {
        on_cancel_requests();
    }
}

void VirtioDevice::request_started() {
    in_flight_.fetch_add(1, std::memory_order_acq_rel);
}

void VirtioDevice::request_ended() {
    if (in_flight_.fetch_sub(1, std::memory_order_acq_rel) != 1) {
        return;
    }
    if (reset_pending()) {
        finish_reset();  // wakes wait_quiet()
        return;
    }
    {
        std::lock_guard guard(quiet_mutex_);  // no wakeup lost between check and wait
    }
    quiet_changed_.notify_all();
}

bool VirtioDevice::wait_quiet(std::chrono::steady_clock::time_point deadline) const {
    std::unique_lock guard(quiet_mutex_);
    return quiet_changed_.wait_until(guard, deadline, [this] { return quiet(); });
}

void VirtioDevice::serve_again_later(unsigned index) {
    if (index >= queues_.size()) {
        return;
    }
    requeued_ |= 1u << index;
    if (requeue_) {
        requeue_(index);
    }
}

void VirtioDevice::notify(unsigned index) {
    if (index < queues_.size() && (requeued_ & (1u << index)) != 0) {
        requeued_ &= ~(1u << index);  // our own kick, not the driver's
    } else {
        notifications_.fetch_add(1, std::memory_order_relaxed);
    }
    notify_quietly(index);
}

void VirtioDevice::notify_quietly(unsigned index) {
    if (active_ && !needs_reset_ && index < queues_.size() && queues_[index].ready()) {
        on_notify(index);
    }
}

namespace {
thread_local bool t_defer_interrupts = false;
}  // namespace

void VirtioDevice::defer_interrupts_on_this_thread() {
    t_defer_interrupts = true;
}

void VirtioDevice::signal_used(unsigned index) {
    if (index >= queues_.size()) {
        return;
    }
    if (t_defer_interrupts) {
        deferred_used_ |= 1u << index;
        return;
    }
    raise_if_needed(index);
}

void VirtioDevice::flush_interrupts() {
    std::lock_guard guard(mutex_);
    for (std::uint32_t quiet = std::exchange(quiet_queues_, 0); quiet != 0; quiet &= quiet - 1) {
        notify_quietly(static_cast<unsigned>(__builtin_ctz(quiet)));
    }
    const std::uint32_t pending = std::exchange(deferred_used_, 0);
    if (pending == 0 || !active_) {
        return;
    }
    for (unsigned i = 0; i < queues_.size(); ++i) {
        if (pending & (1u << i)) {
            raise_if_needed(i);
        }
    }
}

void VirtioDevice::raise_if_needed(unsigned index) {
    if (!queues_[index].needs_interrupt(memory_)) {
        return;
    }
    interrupt_status_ |= kInterruptUsedBuffer;
    interrupts_.fetch_add(1, std::memory_order_relaxed);
    if (raise_interrupt_) {
        raise_interrupt_();
    }
}

std::optional<Queue::PopResult> VirtioDevice::next_chain(unsigned index, bool stay_quiet) {
    Queue& q = queues_[index];
    if (stay_quiet && q.notifications_enabled()) {
        q.disable_notifications(memory_);  // else an empty pop() asks for the next kick
    }
    for (;;) {
        Queue::PopResult popped = q.pop(memory_);
        switch (popped.status) {
            case Queue::PopStatus::kEmpty:
                if (stay_quiet) {
                    quiet_queues_ |= 1u << index;
                    return std::nullopt;
                }
                if (q.enable_notifications(memory_)) {
                    q.disable_notifications(memory_);
                    continue;  // buffers came in while we looked away
                }
                return std::nullopt;
            case Queue::PopStatus::kBroken:
                set_needs_reset(popped.error);
                return std::nullopt;
            case Queue::PopStatus::kBadChain:
                bad_requests_.fetch_add(1, std::memory_order_relaxed);
                return popped;
            case Queue::PopStatus::kChain:
                return popped;
        }
    }
}

void VirtioDevice::set_needs_reset(const std::string& why) {
    if (needs_reset_) {
        return;
    }
    std::fprintf(stderr, "vmm: %s: the driver broke the device (%s); waiting for a reset\n",
                 name_.c_str(), why.c_str());
    needs_reset_ = true;
    interrupt_status_ |= kInterruptConfigChange;
    if (raise_interrupt_) {
        raise_interrupt_();
    }
}

nlohmann::json VirtioDevice::metrics() const {
    return {{"notifications", count(notifications_)},
            {"interrupts", count(interrupts_)},
            {"bad_requests", count(bad_requests_)}};
}

}  // namespace devices::virtio
