#pragma once
// Machine: one VM's whole life inside this process. It owns guest memory and
// the platform devices for the life of the process, and per boot a KVM VM
// with its vCPU threads. A reboot tears the KVM VM down and builds it anew
// in the same process (memory cleared, devices reset, the kernel reloaded
// from the file opened at the start: BootFiles), so
// what lives outside the VM (disks, taps, the API socket) survives it.
//
// Locks, in the only order any path takes them (a thread holding one may
// take those after it in its chain, never one before):
//   device chain:     a device's own lock (Serial, I8042, ...)
//                     -> vm_lock_ (shared: an interrupt line is set)
//   lifecycle chain:  Lifecycle::mutex_ (state, the boot's control and
//                     runners, boot records) -> VcpuControl's lock
// The chains never nest: nothing that takes a device lock, vm_lock_ or an
// output queue (events, console) is called with Lifecycle::mutex_ held (no
// device access, no interrupt, no event), and Lifecycle::mutex_ is never
// taken under a device lock or vm_lock_. vm_lock_ is taken exclusively only
// by the boot loop, to swap the KVM VM, with no other lock held. The
// queues of EventLog and AsyncWriter are leaves: taken last, never held
// while anything else is called.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "base/guest_memory.h"
#include "vmm/api_server.h"
#include "vmm/config.h"
#include "vmm/events.h"
#include "vmm/guest_setup.h"
#include "vmm/io_thread.h"
#include "vmm/kvm.h"
#include "vmm/lifecycle.h"
#include "vmm/platform_devices.h"
#include "vmm/reboot_loop.h"
#include "vmm/vcpu_runner.h"
#include "vmm/virtio_devices.h"

namespace vmm {

// Exit statuses of the vmm process (also in vmm --help and docs/vmm.md).
enum ExitStatus : int {
    kExitPoweroff = 0,
    kExitHostError = 1,
    kExitInvalidInput = 2,
    kExitGuestPanic = 3,
    kExitRebootRequested = 4,  // with --no-reboot
    kExitRebootLoop = 5,
    kExitKvmError = 6,
    kExitKilled = 7,
};

class Machine : public VmController, private Lifecycle {
  public:
    Machine(const VmConfig& config, EventLog& events);
    ~Machine() override;

    // Boots and runs the guest until its life ends; returns the exit status.
    // Setup failures of the first boot throw (InvalidInput / HostError).
    int run();

    // Console input for the UART; returns how many bytes it took.
    std::size_t feed_console(std::span<const std::uint8_t> bytes);
    // SIGTERM/SIGINT: end the VM like the API's kill.
    void terminate(const std::string& why);

    nlohmann::json status() const override;
    nlohmann::json metrics() const override;
    ActionResult act(const std::string& action) override;

  private:
    struct BootRecord {
        std::chrono::system_clock::time_point started_wall;
        std::chrono::steady_clock::time_point started;
        std::optional<std::chrono::steady_clock::time_point> kernel_started;
        std::optional<std::chrono::steady_clock::time_point> ready;
    };

    // Per boot: the KVM VM, its vCPUs and their threads.
    struct Boot {
        std::unique_ptr<VmFd> vm;
        std::vector<std::unique_ptr<VcpuFd>> vcpus;
        std::vector<std::unique_ptr<VcpuRunner>> runners;
    };

    void start_boot();
    void stop_boot();
    // Reboot: devices reset, requests in flight cancelled and ended, memory
    // cleared. Throws HostError when the host does not end them within
    // kRebootIoWait: the VMM exits (status 1) rather than boot over them.
    void reset_for_reboot();
    static constexpr std::chrono::seconds kRebootIoWait{30};
    void on_progress(std::uint8_t code, std::chrono::steady_clock::time_point when);
    void on_kernel_started();
    bool set_irq_line(std::uint32_t gsi, bool high);
    void kick_vcpus() override;

    const VmConfig config_;
    const BootFiles boot_files_;  // kernel and initrd, opened once for every boot
    EventLog& events_;
    Kvm kvm_;
    base::GuestMemory memory_;
    PlatformDevices devices_;
    // The I/O thread is stopped (and its ring drained) before the virtio
    // devices go: ~Machine resets it first.
    std::unique_ptr<IoThread> io_;
    std::unique_ptr<VirtioDevices> virtio_;
    ExitCounters exits_;

    // Under Lifecycle::mutex_:
    std::vector<BootRecord> boots_;
    RebootLoopDetector reboot_loop_{config_.reboot_loop};  // used by run() only
    std::chrono::steady_clock::time_point process_start_ = std::chrono::steady_clock::now();

    // Devices raise interrupts from any thread; the VM they reach is
    // replaced on reboot, so lines go through this lock (order above).
    mutable std::shared_mutex vm_lock_;
    Boot boot_;  // runners under mutex_, vm and vcpus under vm_lock_
};

}  // namespace vmm
