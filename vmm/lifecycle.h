#pragma once
// Lifecycle: the run state of one VM that all of its threads agree on (the
// boot loop in Machine::run, the vCPUs that end a boot, the control API and
// the signal thread) and the current boot's VcpuControl. It holds no KVM
// object, so that its races are unit-tested (tests/unit/vmm_lifecycle_test.cpp);
// Machine derives from it and keeps its boot records under the same mutex.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "vmm/api_server.h"
#include "vmm/vcpu_runner.h"

namespace vmm {

class Lifecycle {
  public:
    enum class State { kStarting, kRunning, kPaused, kRebooting, kStopped };
    // kReboot: the guest reset the machine; kOwnerReboot: the API's reboot.
    enum class End { kNone, kPoweroff, kReboot, kOwnerReboot, kPanic, kKvmError, kKilled };

    // How long the API's pause waits for every vCPU to park (by default).
    static constexpr std::chrono::milliseconds kPauseTimeout{5000};

    explicit Lifecycle(unsigned vcpus, std::chrono::milliseconds pause_timeout = kPauseTimeout)
        : vcpus_(vcpus), pause_timeout_(pause_timeout) {}
    virtual ~Lifecycle() = default;
    Lifecycle(const Lifecycle&) = delete;
    Lifecycle& operator=(const Lifecycle&) = delete;

    // Ends the current boot for `reason`; the first reason wins. Any thread.
    void end_boot(End reason, const std::string& detail);

    // The API's pause and resume: 202 when done, 409 when the state does not
    // allow it (or the boot ended while pause waited for the vCPUs), 500 when
    // the vCPUs did not park within the pause timeout (the pause is withdrawn:
    // they run on).
    VmController::ActionResult pause();
    VmController::ActionResult resume();

    State state() const;
    static const char* state_name(State s);

  protected:
    // The boot loop begins a boot, before it builds the VM: the last boot's
    // end is forgotten, unless it was a kill (which ends this boot too).
    void new_boot();
    // The boot's vCPUs are about to run, sharing `control`: the VM runs.
    // Called with mutex_ held.
    void vcpus_starting(std::shared_ptr<VcpuControl> control);
    // The boot has ended: asks its vCPUs to stop, before they are joined.
    void stop_vcpus();
    // The boot's vCPU threads are joined: its control goes.
    void vcpus_joined();

    // Forces every vCPU of the current boot out of KVM_RUN, so that it sees
    // a pause or stop request. Called with mutex_ held.
    virtual void kick_vcpus() = 0;

    // Test seam: runs inside pause() after mutex_ is released and before
    // it waits for the vCPUs to park (the window a boot may end in).
    std::function<void()> before_pause_wait_;

    mutable std::mutex mutex_;
    std::condition_variable ended_;
    State state_ = State::kStarting;
    End end_ = End::kNone;
    std::string end_detail_;
    // The current boot's; shared with a pause() in progress, which must
    // outlive the boot it was waiting for.
    std::shared_ptr<VcpuControl> control_;
    bool killed_ = false;  // a kill is never forgotten, even behind a reboot
    std::string kill_detail_;
    const unsigned vcpus_;
    const std::chrono::milliseconds pause_timeout_;
};

}  // namespace vmm
