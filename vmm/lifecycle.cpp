#include "vmm/lifecycle.h"

namespace vmm {

void Lifecycle::end_boot(End reason, const std::string& detail) {
    std::lock_guard lock(mutex_);
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
    end_ = End::kNone;
    end_detail_.clear();
}

void Lifecycle::vcpus_starting(std::unique_ptr<VcpuControl> control) {
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
    if (state_ != State::kRunning) {
        return {409, std::string("cannot pause while the VM is ") + state_name(state_)};
    }
    control_->request_pause();
    kick_vcpus();
    VcpuControl* control = control_.get();
    lock.unlock();
    if (before_pause_wait_) {
        before_pause_wait_();
    }
    if (!control->wait_parked(vcpus_, kPauseTimeout)) {
        return {500, "the vCPUs did not pause within 5 s"};
    }
    lock.lock();
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
