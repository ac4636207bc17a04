#pragma once
// Machine: one VM's whole life inside this process. It owns guest memory and
// the platform devices for the life of the process, and per boot a KVM VM
// with its vCPU threads. A reboot tears the KVM VM down and builds it anew
// in the same process (memory cleared, devices reset, kernel reloaded), so
// what lives outside the VM (disks, taps, the API socket) survives it.

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
#include "vmm/io_thread.h"
#include "vmm/kvm.h"
#include "vmm/platform_devices.h"
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

class Machine : public VmController {
  public:
    // A guest that reboots this many times in a row without reaching
    // "ready" is in a reboot loop: the VMM exits with kExitRebootLoop.
    static constexpr unsigned kMaxBootsWithoutReady = 3;

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
    enum class State { kStarting, kRunning, kPaused, kRebooting, kStopped };
    enum class End { kNone, kPoweroff, kReboot, kPanic, kKvmError, kKilled };

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
    void end_boot(End reason, const std::string& detail);
    void on_progress(std::uint8_t code, std::chrono::steady_clock::time_point when);
    void on_kernel_started();
    bool set_irq_line(std::uint32_t gsi, bool high);
    static const char* state_name(State s);

    const VmConfig config_;
    EventLog& events_;
    Kvm kvm_;
    base::GuestMemory memory_;
    PlatformDevices devices_;
    // The I/O thread is stopped (and its ring drained) before the virtio
    // devices go: ~Machine resets it first.
    std::unique_ptr<IoThread> io_;
    std::unique_ptr<VirtioDevices> virtio_;
    ExitCounters exits_;

    mutable std::mutex mutex_;
    std::condition_variable ended_;
    State state_ = State::kStarting;
    End end_ = End::kNone;
    std::string end_detail_;
    std::vector<BootRecord> boots_;
    unsigned boots_without_ready_ = 0;
    std::chrono::steady_clock::time_point process_start_ = std::chrono::steady_clock::now();

    // Devices raise interrupts from any thread; the VM they reach is
    // replaced on reboot, so lines go through this lock.
    mutable std::shared_mutex vm_lock_;
    std::unique_ptr<VcpuControl> control_;  // the current boot's, under mutex_
    Boot boot_;
};

}  // namespace vmm
