#include "supervisor/lifecycle/state.h"

namespace supervisor::lifecycle {

const char* name(State state) {
    switch (state) {
        case State::kPending:
            return "pending";
        case State::kStarting:
            return "starting";
        case State::kRunning:
            return "running";
        case State::kRebooting:
            return "rebooting";
        case State::kStopping:
            return "stopping";
        case State::kStopped:
            return "stopped";
        case State::kFailed:
            return "failed";
        case State::kTerminating:
            return "terminating";
        case State::kTerminated:
            return "terminated";
    }
    return "unknown";
}

std::optional<State> parse_state(std::string_view text) {
    for (State s : kAllStates) {
        if (text == name(s)) {
            return s;
        }
    }
    return std::nullopt;
}

bool holds_memory(State state) {
    switch (state) {
        case State::kStopped:
        case State::kFailed:
        case State::kTerminated:
            return false;
        default:
            return true;
    }
}

bool may_have_process(State state) {
    switch (state) {
        case State::kStarting:
        case State::kRunning:
        case State::kRebooting:
        case State::kStopping:
        case State::kTerminating:
            return true;
        default:
            return false;
    }
}

bool accepts_volume_changes(State state) {
    return state == State::kPending || state == State::kStopped || state == State::kFailed;
}

}  // namespace supervisor::lifecycle
