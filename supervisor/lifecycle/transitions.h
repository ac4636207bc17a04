#pragma once
// The transition table of docs/vmd.md as one pure function: a state and a
// cause give the next state (or a refusal with the message the caller
// shows), what vmd must do to the vmm after committing it, and the
// deadline the new state waits on. vmd commits the outcome before acting
// on its effects; on restart the stored state and deadline say where to
// resume.

#include <optional>
#include <string>
#include <vector>

#include "supervisor/lifecycle/state.h"

namespace supervisor::lifecycle {

enum class CauseKind {
    kFilesReady,      // a pending instance's files are made: spawn its vmm
    kStart,           // API start
    kReady,           // the readiness probe passed (`ready` event for debug-port)
    kRebootingEvent,  // the vmm reports the guest rebooting
    kReboot,          // API reboot (soft: Ctrl-Alt-Del; hard: reset)
    kRebootTimeout,   // a soft reboot was not taken up in time: hard reset
    kStop,            // API stop
    kStopTimeout,     // the guest did not power off in time
    kKillTimeout,     // SIGTERM did not end the vmm in time
    kPanic,           // `panic` event
    kBootTimeout,     // no readiness within the boot timeout
    kExited,          // the vmm process ended
    kStartFailed,     // vmd could not start the vmm (files, cgroup, spawn)
    kTerminate,       // API terminate
    kTornDown,        // a terminating instance's teardown is done
};

const char* name(CauseKind kind);

struct Cause {
    explicit Cause(CauseKind k) : kind(k) {}
    CauseKind kind;
    bool force = false;  // kStop, kStopTimeout (the stop's), kTerminate
    bool hard = false;   // kReboot
    int timeout_s = 0;   // kStop, kReboot, kTerminate: the action's; kStopTimeout: what passed
    // kExited: the status, or the signal, or neither (unknown: vmd was not
    // the parent and the vmm wrote no `exit` event).
    std::optional<int> exit_status;
    std::optional<int> exit_signal;
    // kExited: the last line of vmm.log; kStartFailed: the error;
    // kBootTimeout: what the readiness probe missed ("no answer on ADDRESS:22")
    std::string detail;
};

// What vmd does to the vmm once the outcome is committed.
enum class Effect {
    kSpawn,        // start a vmm for the instance
    kPowerButton,  // PUT /vm/actions power-button
    kCtrlAltDel,   // PUT /vm/actions ctrl-alt-del
    kHardReset,    // PUT /vm/actions reboot
    kSigterm,      // the vmm ends (status 7)
    kSigkill,
    kRelease,  // the process is gone: free its cgroup, socket (later: tap, lease)
};

const char* name(Effect effect);

// The deadline the state waits on, and what its expiry means.
enum class TimerKind {
    kBoot,        // → kBootTimeout
    kStop,        // → kStopTimeout
    kKill,        // → kKillTimeout
    kSoftReboot,  // → kRebootTimeout
};

const char* name(TimerKind kind);
std::optional<TimerKind> parse_timer_kind(const std::string& text);

struct TimerChange {
    enum class Op { kKeep, kClear, kSet } op = Op::kKeep;
    TimerKind kind = TimerKind::kBoot;
    int seconds = 0;
};

struct Outcome {
    enum class Kind {
        kChanged,    // to a new state (maybe with effects)
        kUnchanged,  // the state stays (maybe with effects: an escalation, a release)
        kRefused,    // the request does not fit the state; `message` says why
    } kind = Kind::kUnchanged;
    State to = State::kPending;
    std::string message;  // refusal; reason (to failed); last_error (a stop that timed out)
    std::vector<Effect> effects;
    TimerChange timer;

    bool refused() const { return kind == Kind::kRefused; }
};

struct Settings {
    int boot_timeout_s = 120;
    int kill_grace_s = 5;  // from SIGTERM to SIGKILL
};

Outcome transition(State from, const Cause& cause, const Settings& settings);

// What a vmm's exit status (or signal, or neither) means, for `reason`.
std::string exit_meaning(std::optional<int> status, std::optional<int> signal);

// `wait` for a state: reached, keep waiting, or it cannot come any more
// (a stop that failed when waiting for stopped; failed when waiting for
// running). `from` → `to` is the transition just made (equal at first).
enum class WaitVerdict { kReached, kKeepWaiting, kUnreachable };
WaitVerdict wait_verdict(State target, State from, State to);

}  // namespace supervisor::lifecycle
