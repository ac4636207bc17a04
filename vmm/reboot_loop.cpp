#include "vmm/reboot_loop.h"

namespace vmm {

bool RebootLoopDetector::guest_rebooted(Clock::time_point started, Clock::time_point ended) {
    if (!limit_.enabled()) {
        return false;
    }
    if (ended - started < std::chrono::seconds(limit_.within_s)) {
        ++quick_boots_;
    } else {
        quick_boots_ = 0;
    }
    return quick_boots_ >= limit_.boots;
}

}  // namespace vmm
