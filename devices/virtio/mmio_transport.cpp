#include "devices/virtio/mmio_transport.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/error.h"

namespace devices::virtio {

namespace {

enum Register : std::uint64_t {
    kMagicValue = 0x000,
    kVersionReg = 0x004,
    kDeviceId = 0x008,
    kVendorId = 0x00C,
    kDeviceFeatures = 0x010,
    kDeviceFeaturesSel = 0x014,
    kDriverFeatures = 0x020,
    kDriverFeaturesSel = 0x024,
    kQueueSel = 0x030,
    kQueueNumMax = 0x034,
    kQueueNum = 0x038,
    kQueueReady = 0x044,
    kQueueNotify = 0x050,
    kInterruptStatus = 0x060,
    kInterruptAck = 0x064,
    kStatus = 0x070,
    kQueueDescLow = 0x080,
    kQueueDescHigh = 0x084,
    kQueueDriverLow = 0x090,
    kQueueDriverHigh = 0x094,
    kQueueDeviceLow = 0x0A0,
    kQueueDeviceHigh = 0x0A4,
    kShmLenLow = 0x0B0,
    kShmLenHigh = 0x0B4,
    kShmBaseLow = 0x0B8,
    kShmBaseHigh = 0x0BC,
    kConfigGeneration = 0x0FC,
};

std::uint64_t with_low(std::uint64_t v, std::uint32_t low) {
    return (v & ~0xFFFF'FFFFull) | low;
}
std::uint64_t with_high(std::uint64_t v, std::uint32_t high) {
    return (v & 0xFFFF'FFFFull) | (std::uint64_t{high} << 32);
}

base::Fd make_eventfd() {
    base::Fd fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd.valid()) {
        base::throw_errno("eventfd for a virtio device");
    }
    return fd;
}

void drain(int fd) {
    std::uint64_t count;
    while (::read(fd, &count, sizeof count) == sizeof count) {
    }
}

}  // namespace

MmioTransport::MmioTransport(std::shared_ptr<VirtioDevice> device)
    : device_(std::move(device)), irq_fd_(make_eventfd()), cancel_fd_(make_eventfd()) {
    for (std::size_t i = 0; i < device_->queues().size(); ++i) {
        kick_fds_.push_back(make_eventfd());
    }
    const int irq = irq_fd_.get();
    device_->set_interrupt_sink([irq] { signal(irq); });
    std::vector<int> kicks;
    for (const base::Fd& fd : kick_fds_) {
        kicks.push_back(fd.get());
    }
    device_->set_requeue_sink([kicks](unsigned index) {
        if (index < kicks.size()) {
            signal(kicks[index]);
        }
    });
}

void MmioTransport::signal(int fd) {
    const std::uint64_t one = 1;
    // EAGAIN only when the counter is saturated: an interrupt is pending anyway.
    [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof one);
}

void MmioTransport::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(device_->lock());
    if (offset >= kConfigOffset) {
        device_->read_config(offset - kConfigOffset, data);
        return;
    }
    if (data.size() != 4 || offset % 4 != 0) {
        std::memset(data.data(), 0, data.size());
        return;
    }
    const std::uint32_t value = read_register(offset);
    std::memcpy(data.data(), &value, 4);
}

void MmioTransport::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    const bool is_register = offset < kConfigOffset && data.size() == 4 && offset % 4 == 0;
    std::uint32_t value = 0;
    if (is_register) {
        std::memcpy(&value, data.data(), 4);
        if (offset == kStatus && value == 0) {
            reset_by_driver();
            return;
        }
    }
    std::lock_guard lock(device_->lock());
    if (device_->reset_pending()) {
        return;  // nothing changes until the pending reset is done
    }
    if (offset >= kConfigOffset) {
        device_->write_config(offset - kConfigOffset, data);
        ++config_generation_;
        return;
    }
    if (is_register) {
        write_register(offset, value);
    }
}

Queue* MmioTransport::selected_queue() {
    auto& queues = device_->queues();
    return queue_sel_ < queues.size() ? &queues[queue_sel_] : nullptr;
}

std::uint32_t MmioTransport::read_register(std::uint64_t offset) {
    Queue* q = selected_queue();
    switch (offset) {
        case kMagicValue:
            return kMagic;
        case kVersionReg:
            return kVersion;
        case kDeviceId:
            return static_cast<std::uint32_t>(device_->type());
        case kVendorId:
            return kVendor;
        case kDeviceFeatures:
            return device_features_sel_ < 2
                       ? static_cast<std::uint32_t>(device_->offered_features() >>
                                                    (32 * device_features_sel_))
                       : 0;
        case kQueueNumMax:
            return q ? q->max_size() : 0;
        case kQueueReady:
            return q && q->ready() ? 1 : 0;
        case kInterruptStatus:
            return device_->interrupt_status();
        case kStatus:
            if (device_->reset_pending()) {
                return status::kNeedsReset;  // not 0: the reset is not done
            }
            return status_ | (device_->needs_reset() ? status::kNeedsReset : 0);
        case kShmLenLow:
        case kShmLenHigh:
        case kShmBaseLow:
        case kShmBaseHigh:
            return 0xFFFF'FFFF;  // no shared memory regions
        case kConfigGeneration:
            return config_generation_;
        default:
            return 0;
    }
}

void MmioTransport::write_register(std::uint64_t offset, std::uint32_t value) {
    Queue* q = selected_queue();
    // Queue registers are the driver's only while the queue is not live.
    const bool queue_writable = q && !q->ready() && !(status_ & status::kDriverOk);
    switch (offset) {
        case kDeviceFeaturesSel:
            device_features_sel_ = value;
            break;
        case kDriverFeatures:
            if (driver_features_sel_ < 2 && !(status_ & status::kFeaturesOk)) {
                driver_features_ = driver_features_sel_ == 0 ? with_low(driver_features_, value)
                                                             : with_high(driver_features_, value);
            }
            break;
        case kDriverFeaturesSel:
            driver_features_sel_ = value;
            break;
        case kQueueSel:
            queue_sel_ = value;
            break;
        case kQueueNum:
            if (queue_writable) {
                q->set_size(static_cast<std::uint16_t>(value > 0xFFFF ? 0 : value));
            }
            break;
        case kQueueReady:
            if (!q) {
                break;
            }
            if (value == 0) {
                q->deactivate();
            } else if (queue_writable) {
                std::string why;
                if (!q->activate(device_->memory(), &why)) {
                    device_->set_needs_reset("queue " + std::to_string(queue_sel_) + ": " + why);
                }
            }
            break;
        case kQueueNotify:
            // Reached only when KVM_IOEVENTFD is not registered for it.
            if (value < kick_fds_.size()) {
                signal(kick_fds_[value].get());
            }
            break;
        case kInterruptAck:
            device_->acknowledge_interrupt(value);
            break;
        case kStatus:
            write_status(value);
            break;
        case kQueueDescLow:
        case kQueueDescHigh:
        case kQueueDriverLow:
        case kQueueDriverHigh:
        case kQueueDeviceLow:
        case kQueueDeviceHigh: {
            if (!queue_writable) {
                break;
            }
            const bool high = (offset & 4) != 0;
            const std::uint64_t base = offset & ~std::uint64_t{4};
            auto update = [&](std::uint64_t old) {
                return high ? with_high(old, value) : with_low(old, value);
            };
            if (base == kQueueDescLow) {
                q->set_desc_addr(update(q->desc_addr()));
            } else if (base == kQueueDriverLow) {
                q->set_avail_addr(update(q->avail_addr()));
            } else {
                q->set_used_addr(update(q->used_addr()));
            }
            break;
        }
        default:
            break;
    }
}

void MmioTransport::write_status(std::uint32_t value) {
    const std::uint32_t added = value & ~status_;
    if (value & ~status_ &
        ~(status::kAcknowledge | status::kDriver | status::kFeaturesOk | status::kDriverOk |
          status::kFailed)) {
        return;  // unknown bits (NEEDS_RESET is the device's to set)
    }
    if (status_ & ~value) {
        return;  // the driver may only add bits until it resets
    }
    if (added & status::kFeaturesOk) {
        if (!device_->accept_features(driver_features_)) {
            value &= ~status::kFeaturesOk;  // the driver reads it back and gives up
        }
    }
    if ((added & status::kDriverOk) && (value & status::kFeaturesOk)) {
        if (!device_->activate()) {
            device_->set_needs_reset("the device refused to start");
        } else {
            // One kick per queue: the I/O thread looks at every queue once
            // (buffers posted before DRIVER_OK, receive buffers to fill).
            for (const base::Fd& fd : kick_fds_) {
                signal(fd.get());
            }
        }
    }
    status_ = value;
}

bool MmioTransport::begin_reset_locked() {
    device_->begin_reset();
    status_ = 0;
    device_features_sel_ = 0;
    driver_features_sel_ = 0;
    driver_features_ = 0;
    queue_sel_ = 0;
    drain(irq_fd_.get());
    if (!device_->reset_pending()) {
        return false;
    }
    signal(cancel_fd_.get());
    return true;
}

void MmioTransport::reset_by_driver() {
    {
        std::lock_guard lock(device_->lock());
        if (!begin_reset_locked()) {
            return;
        }
    }
    if (device_->wait_quiet(std::chrono::steady_clock::now() + reset_wait_)) {
        return;
    }
    // Guest-triggered: logged the 1st, 2nd, 4th, 8th, ... time in this VMM.
    static std::atomic<std::uint64_t> resets_left_pending{0};
    const std::uint64_t n = ++resets_left_pending;
    if ((n & (n - 1)) == 0) {
        std::fprintf(stderr,
                     "vmm: %s: the driver's reset waits for %zu requests the host has not "
                     "ended within %lld ms; the device shows DEVICE_NEEDS_RESET until they end "
                     "(%llu such resets so far)\n",
                     device_->name().c_str(), device_->requests_in_flight(),
                     static_cast<long long>(reset_wait_.count()),
                     static_cast<unsigned long long>(n));
    }
}

void MmioTransport::reset() {
    std::lock_guard lock(device_->lock());
    begin_reset_locked();
    for (const base::Fd& fd : kick_fds_) {
        drain(fd.get());
    }
    config_generation_ = 0;
}

}  // namespace devices::virtio
