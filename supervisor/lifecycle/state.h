#pragma once
// An instance's states (docs/vmd.md, "Instance states") and what each one
// holds. Pure: no I/O.

#include <array>
#include <optional>
#include <string_view>

namespace supervisor::lifecycle {

enum class State {
    kPending,      // accepted; its files are being made
    kStarting,     // vmm spawned, guest booting
    kRunning,      // ready
    kRebooting,    // the guest reboots inside its vmm
    kStopping,     // power button pressed, waiting for the guest to power off
    kStopped,      // no process; persistent root and volumes kept
    kFailed,       // a start or a boot failed; the reason is kept
    kTerminating,  // being torn down
    kTerminated,   // gone (listed for an hour)
};

inline constexpr std::array kAllStates = {
    State::kPending, State::kStarting, State::kRunning,     State::kRebooting,  State::kStopping,
    State::kStopped, State::kFailed,   State::kTerminating, State::kTerminated,
};

const char* name(State state);
std::optional<State> parse_state(std::string_view text);

// Counts against the host's memory (the capacity check of `run`).
bool holds_memory(State state);
// May have a vmm process (adoption looks for one).
bool may_have_process(State state);
// Volumes may be attached or detached: no vmm has them open.
bool accepts_volume_changes(State state);

}  // namespace supervisor::lifecycle
