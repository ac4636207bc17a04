#include "vmm/lifecycle.h"

namespace vmm {

void Lifecycle::end_boot(End reason, const std::string& detail) {
    std::lock_guard lock(mutex_);
    if (reason == End::kKilled && !killed_) {
        killed_ = true;
        kill_detail_ = detail;
    }
    if (end_ != End::kNone) {
        return;  // the first reason to end a boot wins
    }
    end_ = reason;
    end_detail_ = detail;
    if (control_ != nullptr) {
        control_->request_stop();
        control_->resume();
    }
    ended_.notify_all();
}

void Lifecycle::new_boot() {
    std::lock_guard lock(mutex_);
    end_ = killed_ ? End::kKilled : End::kNone;
    end_detail_ = killed_ ? kill_detail_ : std::string();
}

void Lifecycle::vcpus_starting(std::shared_ptr<VcpuControl> control) {
    control_ = std::move(control);
    state_ = State::kRunning;
}

void Lifecycle::stop_vcpus() {
    std::lock_guard lock(mutex_);
    if (control_ != nullptr) {
        control_->request_stop();
    }
}

void Lifecycle::vcpus_joined() {
    std::lock_guard lock(mutex_);
    control_.reset();
}

VmController::ActionResult Lifecycle::pause() {
    std::unique_lock lock(mutex_);
    if (state_ != State::kRunning || end_ != End::kNone) {
        return {409, std::string("cannot pause while the VM is ") +
                         (end_ != End::kNone ? "ending its boot" : state_name(state_))};
    }
    // Held across the wait: the boot may end and drop its control meanwhile.
    const std::shared_ptr<VcpuControl> control = control_;
    control->request_pause();
    kick_vcpus();
    lock.unlock();
    if (before_pause_wait_) {
        before_pause_wait_();
    }
    const VcpuControl::Parked parked = control->wait_parked(vcpus_, pause_timeout_);
    lock.lock();
    if (control_ != control || end_ != End::kNone || parked == VcpuControl::Parked::kStopped) {
        // The boot ended while its vCPUs were pausing: whatever the state is
        // now (rebooting, stopped, or the next boot's running) stands.
        return {409, std::string("cannot pause: the boot ended while its vCPUs were pausing "
                                 "(the VM is ") +
                         state_name(state_) + ")"};
    }
    if (parked == VcpuControl::Parked::kTimedOut) {
        control->resume();  // withdrawn: no vCPU parks later behind the state's back
        return {500, "the vCPUs did not pause within " + std::to_string(pause_timeout_.count()) +
                         " ms; they run on"};
    }
    state_ = State::kPaused;
    return {202, ""};
}

VmController::ActionResult Lifecycle::resume() {
    std::lock_guard lock(mutex_);
    if (state_ != State::kPaused) {
        return {409, std::string("cannot resume while the VM is ") + state_name(state_)};
    }
    control_->resume();
    state_ = State::kRunning;
    return {202, ""};
}

Lifecycle::State Lifecycle::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

const char* Lifecycle::state_name(State s) {
    switch (s) {
        case State::kStarting:
            return "starting";
        case State::kRunning:
            return "running";
        case State::kPaused:
            return "paused";
        case State::kRebooting:
            return "rebooting";
        case State::kStopped:
            return "stopped";
    }
    return "unknown";
}

}  // namespace vmm
