#pragma once
// The VM's virtio devices, built from the configuration in one place: a
// virtio-blk per --disk, a virtio-net per --net and one virtio-rng, each
// behind its virtio-mmio window (layout::kVirtioMmioBase + n * stride) and
// interrupt (layout::kIrqVirtioFirst + n), driven by the I/O thread.
//
// They live as long as the process: disks, overlays and taps survive the
// in-process reboot; attach() registers the notification and interrupt
// eventfds with each new KVM VM.

#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/guest_memory.h"
#include "devices/bus.h"
#include "devices/virtio/mmio_transport.h"
#include "firmware/acpi.h"
#include "vmm/config.h"
#include "vmm/events.h"
#include "vmm/io_thread.h"
#include "vmm/kvm.h"

namespace vmm {

class VirtioDevices {
  public:
    // Opens every disk and tap (InvalidInput naming the one that failed),
    // maps the windows on `mmio` and has `io` watch the queue kicks.
    VirtioDevices(const VmConfig& config, base::GuestMemory& memory, IoThread& io,
                  devices::Bus& mmio, EventLog& events);

    // For the ACPI DSDT.
    std::vector<firmware::VirtioMmioWindow> windows() const;
    // `virtio_mmio.device=` entries, for guests booted with acpi=off.
    std::string cmdline_entries() const;
    // Per boot: ioeventfd on each queue's notify register, irqfd per device.
    void attach(VmFd& vm);
    std::size_t requests_in_flight() const;
    // After the power-on reset of every device (Bus::reset_all): waits until
    // none of them can touch guest memory any more (their requests in flight
    // cancelled or ended, their resets done). False at `deadline`, with
    // *busy naming the devices that are not quiet and what they still hold.
    bool wait_quiet(std::chrono::steady_clock::time_point deadline, std::string* busy) const;
    nlohmann::json metrics() const;

  private:
    struct Slot {
        std::shared_ptr<devices::virtio::MmioTransport> transport;
        firmware::VirtioMmioWindow window;
    };
    void add(std::shared_ptr<devices::virtio::VirtioDevice> device, IoThread& io,
             devices::Bus& mmio);

    std::vector<Slot> slots_;
};

// Before io.start(): the I/O thread serves `transport`'s device: its queue
// kicks, the cancel requests of its resets, and its deferred interrupts at
// the end of every round.
void serve_on_io_thread(IoThread& io,
                        const std::shared_ptr<devices::virtio::MmioTransport>& transport);

}  // namespace vmm
