#pragma once
// One thread per vCPU running KVM_RUN and dispatching exits to the port I/O
// and MMIO buses. A VcpuControl shared by all of a VM's vCPUs pauses,
// resumes and stops them; a kick (immediate_exit plus a signal) gets a vCPU
// out of KVM_RUN at once.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "devices/bus.h"
#include "vmm/kvm.h"

namespace vmm {

// Why a vCPU stopped the VM: the machine decides what follows.
enum class VcpuStop {
    kTripleFault,    // KVM_EXIT_SHUTDOWN: the CPU reset itself (a reboot)
    kSystemReset,    // KVM_EXIT_SYSTEM_EVENT reset
    kSystemOff,      // KVM_EXIT_SYSTEM_EVENT shutdown
    kInternalError,  // KVM could not run the guest; detail has the registers
};

class VcpuControl {
  public:
    void request_pause();
    void resume();
    void request_stop();
    bool stop_requested() const { return stop_.load(); }
    bool pause_requested() const { return pause_.load(); }
    // Called by a vCPU thread between runs: blocks while paused.
    void park_if_paused();
    enum class Parked { kAll, kStopped, kTimedOut };
    // Waits until `count` vCPUs are parked, a stop is requested (the boot
    // ends: they never will) or `timeout` passed.
    Parked wait_parked(unsigned count, std::chrono::milliseconds timeout);

  private:
    std::atomic<bool> pause_{false};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable cv_;
    unsigned parked_ = 0;
};

// Counters of VM exits by KVM exit reason (index = KVM_EXIT_*), over all vCPUs.
struct ExitCounters {
    static constexpr std::size_t kReasons = 64;
    std::atomic<std::uint64_t> by_reason[kReasons] = {};
    std::atomic<std::uint64_t> io_port[2] = {};  // [0] in, [1] out
    static const char* reason_name(std::size_t reason);
};

class VcpuRunner {
  public:
    using StopHandler = std::function<void(VcpuStop, const std::string& detail)>;
    using FirstIoHandler = std::function<void()>;

    VcpuRunner(VcpuFd& vcpu, devices::Bus& pio, devices::Bus& mmio, VcpuControl& control,
               ExitCounters& counters, StopHandler on_stop, FirstIoHandler on_first_io);
    ~VcpuRunner();  // stops and joins the thread
    VcpuRunner(const VcpuRunner&) = delete;
    VcpuRunner& operator=(const VcpuRunner&) = delete;

    void start();
    // Forces the vCPU out of KVM_RUN (it then looks at VcpuControl).
    void kick();
    void join();

    // Installs the no-op handler of the kick signal; once per process.
    static void install_kick_signal();

  private:
    void loop();
    void handle_io(kvm_run* run);
    void handle_mmio(kvm_run* run);
    std::string describe_registers() const;

    VcpuFd& vcpu_;
    devices::Bus& pio_;
    devices::Bus& mmio_;
    VcpuControl& control_;
    ExitCounters& counters_;
    StopHandler on_stop_;
    FirstIoHandler on_first_io_;
    bool seen_io_ = false;
    std::thread thread_;
};

}  // namespace vmm
