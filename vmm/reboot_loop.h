#pragma once
// The reboot-loop rule, for any guest: `boots` boots in a row that each end
// in a reboot the guest asked for less than `within` after they started are
// a reboot loop, and the VMM stops booting (exit status 5). A boot that runs
// longer shows the guest can run, and a reboot by the VM's owner (the API)
// says nothing about the guest: either starts the count over. So a guest may
// reboot as often as it likes as long as its boots last, while one that
// resets again and again within seconds (a kernel that cannot come up, an
// init that reboots at once) is caught after `boots` tries.
//
// Pure: the caller passes the times (tests use made-up ones).

#include <chrono>

#include "vmm/config.h"

namespace vmm {

class RebootLoopDetector {
  public:
    using Clock = std::chrono::steady_clock;

    explicit RebootLoopDetector(RebootLoopLimit limit) : limit_(limit) {}

    // The guest ended the boot that started at `started` by a reset at
    // `ended`. True when that completes a loop: boot no more.
    bool guest_rebooted(Clock::time_point started, Clock::time_point ended);
    // The owner rebooted the VM: the count starts over.
    void owner_rebooted() { quick_boots_ = 0; }

    // Quick boots in a row so far.
    unsigned quick_boots() const { return quick_boots_; }
    const RebootLoopLimit& limit() const { return limit_; }

  private:
    const RebootLoopLimit limit_;
    unsigned quick_boots_ = 0;
};

}  // namespace vmm
