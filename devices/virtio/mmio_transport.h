#pragma once
// The virtio-mmio transport, version 2 (virtio 1.x, section 4.2): the
// register window through which the driver discovers a VirtioDevice,
// negotiates features, sets up queues and drives the device status.
//
// Notifications and interrupts bypass this class at run time: each queue has
// a kick eventfd that KVM signals on a QueueNotify write (KVM_IOEVENTFD, so
// the vCPU does not exit) and the I/O thread waits on; the device raises its
// interrupt through one eventfd that KVM turns into an edge on the device's
// GSI (KVM_IRQFD). The eventfds belong to the transport and outlive the KVM
// VM they are registered with, so the in-process reboot registers them anew.
//
// Accesses to the registers (0x000-0x0FF) must be 32-bit and aligned;
// anything else reads 0 and is ignored on write. The configuration space
// (0x100 onward) takes 1, 2, 4 and 8-byte accesses.
//
// Reset (STATUS = 0): the write does not return while a request of the
// device can still touch guest memory. The transport begins the device's
// reset, signals cancel_fd() (the I/O thread then cancels the requests in
// flight) and waits, without the device's lock, until they have ended, at
// most reset_wait(). Should the host not end them by then (a hung disk), the
// write returns but the reset stays pending: STATUS reads DEVICE_NEEDS_RESET
// instead of 0 (virtio 1.x, 2.4: the driver waits for 0 after a reset) and
// every other register write is ignored until the last request has ended
// and the reset is done. The power-on reset (reset(), the VMM's reboot)
// never waits: its caller waits for VirtioDevice::quiet().

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/fd.h"
#include "devices/bus.h"
#include "devices/virtio/device.h"

namespace devices::virtio {

class MmioTransport final : public BusDevice {
  public:
    static constexpr std::uint64_t kWindowSize = 0x1000;
    static constexpr std::uint64_t kQueueNotifyOffset = 0x050;
    static constexpr std::uint64_t kConfigOffset = 0x100;
    static constexpr std::uint32_t kMagic = 0x74726976;  // "virt"
    static constexpr std::uint32_t kVersion = 2;
    static constexpr std::uint32_t kVendor = 0x554D4551;  // as QEMU and others: "QEMU"

    // Creates the eventfds (HostError when the host refuses).
    explicit MmioTransport(std::shared_ptr<VirtioDevice> device);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    // Power-on state (reboot); called while no vCPU runs.
    void reset() override;

    VirtioDevice& device() { return *device_; }
    const std::shared_ptr<VirtioDevice>& device_ptr() const { return device_; }
    // One per queue, in queue order: signalled on each driver notification
    // (and when the device asks to be served again).
    const std::vector<base::Fd>& kick_fds() const { return kick_fds_; }
    // Signalled to interrupt the driver.
    int irq_fd() const { return irq_fd_.get(); }
    // Signalled when a reset waits for requests in flight: the I/O thread
    // answers with VirtioDevice::cancel_requests().
    int cancel_fd() const { return cancel_fd_.get(); }

    // How long a driver's reset waits for requests in flight.
    static constexpr std::chrono::milliseconds kResetWait{5000};
    std::chrono::milliseconds reset_wait() const { return reset_wait_; }
    void set_reset_wait(std::chrono::milliseconds wait) { reset_wait_ = wait; }

  private:
    std::uint32_t read_register(std::uint64_t offset);
    void write_register(std::uint64_t offset, std::uint32_t value);
    void write_status(std::uint32_t value);
    Queue* selected_queue();
    // The driver wrote 0 to STATUS: reset, waiting as described above.
    void reset_by_driver();
    // Begins the device's reset and clears the registers; true when it waits
    // for requests in flight (cancel_fd() was signalled).
    bool begin_reset_locked();
    static void signal(int fd);

    std::shared_ptr<VirtioDevice> device_;
    std::vector<base::Fd> kick_fds_;
    base::Fd irq_fd_;
    base::Fd cancel_fd_;
    std::chrono::milliseconds reset_wait_ = kResetWait;

    // Register state, under device_->lock().
    std::uint32_t status_ = 0;
    std::uint32_t device_features_sel_ = 0;
    std::uint32_t driver_features_sel_ = 0;
    std::uint64_t driver_features_ = 0;
    std::uint32_t queue_sel_ = 0;
    std::uint32_t config_generation_ = 0;
};

}  // namespace devices::virtio
