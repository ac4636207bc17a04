// Lifecycle, the state every thread of a VM agrees on, with fake vCPU
// threads that park the way VcpuRunner's loop does. The races of the API's
// pause with a boot that ends are made to happen every run: the test seam
// before_pause_wait_ holds open the window between pause() releasing the
// lock and waiting for the vCPUs, and the test ends the boot inside it.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "vmm/lifecycle.h"

namespace vmm {
namespace {

using namespace std::chrono_literals;

class FakeVm : public Lifecycle {
  public:
    explicit FakeVm(unsigned vcpus) : Lifecycle(vcpus, kTestPauseTimeout) {}
    static constexpr std::chrono::milliseconds kTestPauseTimeout{300};
    ~FakeVm() override {
        end_boot(End::kKilled, "test over");
        finish_boot(State::kStopped);
    }

    // What Machine::start_boot does: a new boot whose vCPU threads start,
    // sharing a new control.
    void start_boot() {
        new_boot();
        auto control = std::make_shared<VcpuControl>();
        VcpuControl& c = *control;
        std::lock_guard lock(mutex_);
        vcpus_starting(std::move(control));
        for (unsigned i = 0; i < vcpus_; ++i) {
            threads_.emplace_back([&c, this] {
                while (!c.stop_requested()) {
                    if (stuck_.load()) {
                        std::this_thread::sleep_for(1ms);  // in a device call: never parks
                        continue;
                    }
                    c.park_if_paused();
                    std::this_thread::sleep_for(100us);  // "KVM_RUN" until kicked
                }
            });
        }
    }

    // What Machine::run does when a boot ends (wait for the end, set the
    // state) and then stop_boot (stop and join the vCPUs, drop the control).
    End finish_boot(State next) {
        End reason = wait_for_end(5s);
        {
            std::lock_guard lock(mutex_);
            state_ = next;
        }
        stop_vcpus();
        for (auto& t : threads_) {
            t.join();
        }
        threads_.clear();
        vcpus_joined();
        return reason;
    }

    End wait_for_end(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        ended_.wait_for(lock, timeout, [&] { return end_ != End::kNone; });
        return end_;
    }

    void set_before_pause_wait(std::function<void()> hook) { before_pause_wait_ = std::move(hook); }
    void set_stuck(bool stuck) { stuck_ = stuck; }
    bool pause_requested() {
        std::lock_guard lock(mutex_);
        return control_ != nullptr && control_->pause_requested();
    }
    int kicks() const { return kicks_.load(); }

  private:
    void kick_vcpus() override { ++kicks_; }

    std::vector<std::thread> threads_;
    std::atomic<bool> stuck_{false};
    std::atomic<int> kicks_{0};
};

TEST(VmmLifecycle, PauseParksEveryVcpuAndResumeReleasesThem) {
    FakeVm vm(3);
    vm.start_boot();
    const auto paused = vm.pause();
    EXPECT_EQ(paused.http_status, 202) << paused.error;
    EXPECT_EQ(vm.state(), Lifecycle::State::kPaused);
    EXPECT_GE(vm.kicks(), 1);
    EXPECT_EQ(vm.pause().http_status, 409) << "already paused";
    const auto resumed = vm.resume();
    EXPECT_EQ(resumed.http_status, 202) << resumed.error;
    EXPECT_EQ(vm.state(), Lifecycle::State::kRunning);
    EXPECT_FALSE(vm.pause_requested());
    EXPECT_EQ(vm.resume().http_status, 409) << "already running";
}

// A triple fault (or a reset, a power-off, a kill) while the API waits for
// the vCPUs to park: the boot's control is freed under the waiting thread,
// which must neither touch it (ASan: heap-use-after-free) nor report the
// VM paused over the reboot.
TEST(VmmLifecycle, BootEndingWhilePauseWaitsIsNotReportedAsPaused) {
    FakeVm vm(2);
    vm.start_boot();
    vm.set_before_pause_wait([&] {
        vm.end_boot(Lifecycle::End::kReboot, "triple fault on vCPU 1");
        vm.finish_boot(Lifecycle::State::kRebooting);
    });
    const auto result = vm.pause();
    EXPECT_EQ(result.http_status, 409) << result.error;
    EXPECT_NE(result.error.find("rebooting"), std::string::npos) << result.error;
    EXPECT_EQ(vm.state(), Lifecycle::State::kRebooting) << "not paused over the reboot";
}

// The same, with the next boot already running when the wait ends: its
// vCPUs were never asked to pause, so the VM must not be reported paused.
TEST(VmmLifecycle, NextBootIsNotReportedPausedByAPauseOfTheLastOne) {
    FakeVm vm(2);
    vm.start_boot();
    vm.set_before_pause_wait([&] {
        vm.end_boot(Lifecycle::End::kReboot, "triple fault on vCPU 0");
        vm.finish_boot(Lifecycle::State::kRebooting);
        vm.start_boot();
    });
    const auto result = vm.pause();
    EXPECT_EQ(result.http_status, 409) << result.error;
    EXPECT_EQ(vm.state(), Lifecycle::State::kRunning);
    EXPECT_FALSE(vm.pause_requested()) << "the new boot's vCPUs run on";
    vm.set_before_pause_wait(nullptr);
    EXPECT_EQ(vm.pause().http_status, 202) << "and the new boot can be paused";
}

// vCPUs that do not park in time (stuck in a device call): the pause fails
// and is withdrawn, so they do not park later behind the state's back.
TEST(VmmLifecycle, PauseThatTimesOutIsWithdrawn) {
    FakeVm vm(2);
    vm.start_boot();
    vm.set_stuck(true);
    const auto start = std::chrono::steady_clock::now();
    const auto result = vm.pause();
    EXPECT_EQ(result.http_status, 500);
    EXPECT_GE(std::chrono::steady_clock::now() - start, FakeVm::kTestPauseTimeout);
    EXPECT_LT(std::chrono::steady_clock::now() - start, FakeVm::kTestPauseTimeout + 2s);
    EXPECT_EQ(vm.state(), Lifecycle::State::kRunning);
    EXPECT_FALSE(vm.pause_requested()) << "a vCPU that gets unstuck must not park";
}

// A kill that arrives while a reboot is already under way is not lost: the
// next boot ends at once for it.
TEST(VmmLifecycle, KillDuringARebootEndsTheNextBoot) {
    FakeVm vm(1);
    vm.start_boot();
    vm.end_boot(Lifecycle::End::kReboot, "the guest reset the machine");
    vm.end_boot(Lifecycle::End::kKilled, "terminated by SIGTERM");
    vm.finish_boot(Lifecycle::State::kRebooting);
    vm.start_boot();
    EXPECT_EQ(vm.wait_for_end(1s), Lifecycle::End::kKilled);
}

}  // namespace
}  // namespace vmm
