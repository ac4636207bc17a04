#include "vmm/virtio_devices.h"

#include <cstdio>
#include <cstring>

#include "base/hex.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/net_backend.h"
#include "devices/virtio/rng.h"
#include "storage/disk.h"
#include "x86/layout.h"

namespace vmm {

namespace {

using devices::virtio::MmioTransport;

// Reports a failing disk: every error is counted by the device; the event
// and the log line go out for the 1st, 2nd, 4th, 8th, ... so a dead disk
// under a busy guest cannot flood them.
class DiskErrorReporter {
  public:
    DiskErrorReporter(EventLog& events, std::string disk)
        : events_(events), disk_(std::move(disk)) {}
    void operator()(const std::string& op, int error) {
        const std::uint64_t n = ++count_;
        if ((n & (n - 1)) != 0) {
            return;
        }
        std::fprintf(stderr, "vmm: disk %s: %s failed: %s (%llu errors so far)\n", disk_.c_str(),
                     op.c_str(), std::strerror(-error), static_cast<unsigned long long>(n));
        events_.emit(
            "disk-error",
            {{"disk", disk_}, {"op", op}, {"error", std::strerror(-error)}, {"errors", n}});
    }

  private:
    EventLog& events_;
    std::string disk_;
    std::uint64_t count_ = 0;  // only the I/O thread reports
};

}  // namespace

VirtioDevices::VirtioDevices(const VmConfig& config, base::GuestMemory& memory, IoThread& io,
                             devices::Bus& mmio, EventLog& events) {
    io.on_start([] { devices::virtio::VirtioDevice::defer_interrupts_on_this_thread(); });
    for (std::size_t i = 0; i < config.disks.size(); ++i) {
        const DiskConfig& d = config.disks[i];
        const std::string id = d.id.empty() ? "disk" + std::to_string(i) : d.id;
        storage::DiskOptions options;
        options.path = d.path;
        options.read_only = d.read_only;
        options.ephemeral = d.ephemeral;
        options.direct = d.direct;
        auto reporter = std::make_shared<DiskErrorReporter>(events, id);
        add(std::make_shared<devices::virtio::BlockDevice>(
                "virtio-blk " + id, id, storage::open_disk(io.ring(), options), memory,
                [reporter](const std::string& op, int error) { (*reporter)(op, error); }),
            io, mmio);
    }
    for (std::size_t i = 0; i < config.nets.size(); ++i) {
        const NetConfig& n = config.nets[i];
        const std::string id = n.id.empty() ? "net" + std::to_string(i) : n.id;
        add(std::make_shared<devices::virtio::NetDevice>(
                "virtio-net " + id,
                std::make_unique<devices::virtio::TapBackend>(std::make_unique<net::Tap>(n.tap),
                                                              io.ring()),
                n.mac.value_or(default_mac(config.id, i)), memory),
            io, mmio);
    }
    add(std::make_shared<devices::virtio::RngDevice>("virtio-rng", memory), io, mmio);
}

void VirtioDevices::add(std::shared_ptr<devices::virtio::VirtioDevice> device, IoThread& io,
                        devices::Bus& mmio) {
    const std::size_t n = slots_.size();
    Slot slot;
    slot.window.addr = layout::kVirtioMmioBase + n * layout::kVirtioMmioStride;
    slot.window.size = MmioTransport::kWindowSize;
    slot.window.gsi = layout::kIrqVirtioFirst + static_cast<std::uint32_t>(n);
    slot.transport = std::make_shared<MmioTransport>(device);
    mmio.add(slot.window.addr, slot.window.size, slot.transport);
    serve_on_io_thread(io, slot.transport);
    slots_.push_back(std::move(slot));
}

void serve_on_io_thread(IoThread& io, const std::shared_ptr<MmioTransport>& transport) {
    const std::shared_ptr<devices::virtio::VirtioDevice> device = transport->device_ptr();
    for (std::size_t q = 0; q < transport->kick_fds().size(); ++q) {
        io.watch(transport->kick_fds()[q].get(), [device, q] {
            std::lock_guard lock(device->lock());
            device->notify(static_cast<unsigned>(q));
        });
    }
    io.watch(transport->cancel_fd(), [device] {
        std::lock_guard lock(device->lock());
        device->cancel_requests();
    });
    io.after_each_round([device] { device->flush_interrupts(); });
}

std::vector<firmware::VirtioMmioWindow> VirtioDevices::windows() const {
    std::vector<firmware::VirtioMmioWindow> out;
    for (const Slot& s : slots_) {
        out.push_back(s.window);
    }
    return out;
}

std::string VirtioDevices::cmdline_entries() const {
    std::string out;
    for (const Slot& s : slots_) {
        out += " virtio_mmio.device=4K@" + base::hex(s.window.addr) + ":" +
               std::to_string(s.window.gsi);
    }
    return out;
}

void VirtioDevices::attach(VmFd& vm) {
    for (const Slot& s : slots_) {
        const auto& kicks = s.transport->kick_fds();
        for (std::size_t q = 0; q < kicks.size(); ++q) {
            vm.add_ioeventfd(s.window.addr + MmioTransport::kQueueNotifyOffset,
                             static_cast<std::uint32_t>(q), kicks[q].get());
        }
        vm.add_irqfd(s.transport->irq_fd(), s.window.gsi);
    }
}

std::size_t VirtioDevices::requests_in_flight() const {
    std::size_t n = 0;
    for (const Slot& s : slots_) {
        n += s.transport->device().requests_in_flight();
    }
    return n;
}

bool VirtioDevices::wait_quiet(std::chrono::steady_clock::time_point deadline,
                               std::string* busy) const {
    bool quiet = true;
    for (const Slot& s : slots_) {
        quiet = s.transport->device().wait_quiet(deadline) && quiet;
    }
    if (!quiet && busy != nullptr) {
        busy->clear();
        for (const Slot& s : slots_) {
            const auto& d = s.transport->device();
            if (!d.quiet()) {
                *busy += (busy->empty() ? "" : ", ") + d.name() + " (" +
                         std::to_string(d.requests_in_flight()) + " requests in flight)";
            }
        }
    }
    return quiet;
}

nlohmann::json VirtioDevices::metrics() const {
    nlohmann::json m = nlohmann::json::object();
    for (const Slot& s : slots_) {
        m[s.transport->device().name()] = s.transport->device().metrics();
    }
    return m;
}

}  // namespace vmm
