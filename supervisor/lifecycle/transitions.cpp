#include "supervisor/lifecycle/transitions.h"

#include <signal.h>
#include <string.h>

namespace supervisor::lifecycle {

namespace {

using Op = TimerChange::Op;

Outcome changed(State to, std::vector<Effect> effects = {}, TimerChange timer = {}) {
    Outcome o;
    o.kind = Outcome::Kind::kChanged;
    o.to = to;
    o.effects = std::move(effects);
    o.timer = timer;
    return o;
}

Outcome unchanged(State at, std::vector<Effect> effects = {}, TimerChange timer = {}) {
    Outcome o;
    o.kind = Outcome::Kind::kUnchanged;
    o.to = at;
    o.effects = std::move(effects);
    o.timer = timer;
    return o;
}

Outcome refused(State at, std::string message) {
    Outcome o;
    o.kind = Outcome::Kind::kRefused;
    o.to = at;
    o.message = std::move(message);
    return o;
}

Outcome failed(std::string reason, std::vector<Effect> effects = {}) {
    Outcome o = changed(State::kFailed, std::move(effects), {Op::kClear, TimerKind::kBoot, 0});
    o.message = std::move(reason);
    return o;
}

TimerChange set(TimerKind kind, int seconds) {
    return {Op::kSet, kind, seconds};
}

constexpr TimerChange kClear{Op::kClear, TimerKind::kBoot, 0};

std::string is(State s) {
    return std::string("the instance is ") + name(s);
}

Outcome start(State from, const Settings& settings) {
    switch (from) {
        case State::kStopped:
        case State::kFailed:
            return changed(State::kStarting, {Effect::kSpawn},
                           set(TimerKind::kBoot, settings.boot_timeout_s));
        case State::kPending:
        case State::kStarting:
        case State::kRunning:
        case State::kRebooting:
            return refused(from, is(from) + ": it is started already");
        case State::kStopping:
            return refused(from, is(from) + ": wait until it is stopped, then start it");
        case State::kTerminating:
        case State::kTerminated:
            return refused(from, is(from) + ": it cannot be started again");
    }
    return refused(from, is(from));
}

Outcome stop(State from, const Cause& cause) {
    switch (from) {
        case State::kRunning:
        case State::kRebooting:
            return changed(State::kStopping, {Effect::kPowerButton},
                           set(TimerKind::kStop, cause.timeout_s));
        case State::kStarting:
            return refused(from, is(from) +
                                     ": its guest cannot act on the power button before it is "
                                     "up; wait until it is running, or terminate it");
        case State::kPending:
            return refused(from, is(from) + ": it has not started yet; terminate it instead");
        case State::kStopping:
            return refused(from, is(from) + ": a stop is in progress already");
        case State::kStopped:
            return refused(from, is(from) + " already");
        case State::kFailed:
            return refused(from, is(from) + ": nothing runs; start or terminate it");
        case State::kTerminating:
        case State::kTerminated:
            return refused(from, is(from));
    }
    return refused(from, is(from));
}

Outcome reboot(State from, const Cause& cause, const Settings& settings) {
    switch (from) {
        case State::kRunning:
            if (cause.hard) {
                // The reset's `rebooting` event re-arms the boot deadline;
                // this one ends a reset that never came.
                return changed(State::kRebooting, {Effect::kHardReset},
                               set(TimerKind::kBoot, settings.boot_timeout_s));
            }
            return changed(State::kRebooting, {Effect::kCtrlAltDel},
                           set(TimerKind::kSoftReboot, cause.timeout_s));
        case State::kRebooting:
            return refused(from, is(from) + " already");
        case State::kStarting:
            return refused(from, is(from) + ": wait until it is running");
        default:
            return refused(from, is(from) + ": only a running instance reboots");
    }
}

Outcome terminate(State from, const Cause& cause, const Settings& settings) {
    switch (from) {
        case State::kPending:
        case State::kStopped:
        case State::kFailed:
            // Nothing runs: the teardown goes ahead at once.
            return changed(State::kTerminating, {}, kClear);
        case State::kStarting:
            // A booting guest cannot act on the power button.
            return changed(State::kTerminating, {Effect::kSigterm},
                           set(TimerKind::kKill, settings.kill_grace_s));
        case State::kRunning:
        case State::kRebooting:
            if (cause.force) {
                return changed(State::kTerminating, {Effect::kSigterm},
                               set(TimerKind::kKill, settings.kill_grace_s));
            }
            return changed(State::kTerminating, {Effect::kPowerButton},
                           set(TimerKind::kStop, cause.timeout_s));
        case State::kStopping:
            if (cause.force) {
                return changed(State::kTerminating, {Effect::kSigterm},
                               set(TimerKind::kKill, settings.kill_grace_s));
            }
            // The power button is pressed already; its deadline stands.
            return changed(State::kTerminating);
        case State::kTerminating:
        case State::kTerminated:
            return unchanged(from);  // repeating terminate is not an error
    }
    return unchanged(from);
}

Outcome exited(State from, const Cause& cause) {
    switch (from) {
        case State::kStarting:
        case State::kRunning:
        case State::kRebooting:
            if (cause.exit_status == 0) {
                // The guest powered off by itself.
                return changed(State::kStopped, {Effect::kRelease}, kClear);
            }
            {
                std::string reason = exit_meaning(cause.exit_status, cause.exit_signal);
                if (!cause.detail.empty() && cause.exit_status != 3) {
                    reason += ": " + cause.detail;
                }
                return failed(reason, {Effect::kRelease});
            }
        case State::kStopping:
            return changed(State::kStopped, {Effect::kRelease}, kClear);
        case State::kTerminating:
        case State::kFailed:
        case State::kStopped:
        case State::kPending:
        case State::kTerminated:
            return unchanged(from, {Effect::kRelease},
                             from == State::kTerminating ? kClear : TimerChange{});
    }
    return unchanged(from, {Effect::kRelease});
}

}  // namespace

Outcome transition(State from, const Cause& cause, const Settings& settings) {
    switch (cause.kind) {
        case CauseKind::kFilesReady:
            if (from == State::kPending) {
                return changed(State::kStarting, {Effect::kSpawn},
                               set(TimerKind::kBoot, settings.boot_timeout_s));
            }
            return unchanged(from);  // terminated meanwhile: the teardown has it
        case CauseKind::kStart:
            return start(from, settings);
        case CauseKind::kReady:
            if (from == State::kStarting || from == State::kRebooting) {
                return changed(State::kRunning, {}, kClear);
            }
            return unchanged(from);
        case CauseKind::kRebootingEvent:
            if (from == State::kRunning) {
                return changed(State::kRebooting, {},
                               set(TimerKind::kBoot, settings.boot_timeout_s));
            }
            if (from == State::kRebooting) {
                // The reboot asked for is under way: from now on it must boot in time.
                return unchanged(from, {}, set(TimerKind::kBoot, settings.boot_timeout_s));
            }
            return unchanged(from);  // a reboot before ready keeps the first boot's deadline
        case CauseKind::kReboot:
            return reboot(from, cause, settings);
        case CauseKind::kRebootTimeout:
            if (from == State::kRebooting) {
                return unchanged(from, {Effect::kHardReset},
                                 set(TimerKind::kBoot, settings.boot_timeout_s));
            }
            return unchanged(from);
        case CauseKind::kStop:
            return stop(from, cause);
        case CauseKind::kStopTimeout:
            if (from == State::kStopping && !cause.force) {
                Outcome o = changed(State::kRunning, {}, kClear);
                o.message = "stop timed out after " + std::to_string(cause.timeout_s) +
                            " s: the guest ignored the ACPI power button; the instance is still "
                            "running (stop it with --force to kill it)";
                return o;
            }
            if (from == State::kStopping || from == State::kTerminating) {
                return unchanged(from, {Effect::kSigterm},
                                 set(TimerKind::kKill, settings.kill_grace_s));
            }
            return unchanged(from);
        case CauseKind::kKillTimeout:
            if (from == State::kStopping || from == State::kTerminating || from == State::kFailed) {
                return unchanged(from, {Effect::kSigkill}, kClear);
            }
            return unchanged(from);
        case CauseKind::kPanic:
            if (from == State::kStarting || from == State::kRunning || from == State::kRebooting) {
                // The vmm exits by itself (status 3).
                return failed(exit_meaning(3, std::nullopt));
            }
            return unchanged(from);
        case CauseKind::kBootTimeout:
            if (from == State::kStarting || from == State::kRebooting) {
                return failed("not ready within " + std::to_string(settings.boot_timeout_s) +
                                  " s (boot timeout)" +
                                  (cause.detail.empty() ? "" : ": " + cause.detail) +
                                  "; the vmm was killed",
                              {Effect::kSigkill});
            }
            return unchanged(from);
        case CauseKind::kExited:
            return exited(from, cause);
        case CauseKind::kStartFailed:
            if (from == State::kPending || from == State::kStarting) {
                return failed("could not start the vmm: " + cause.detail, {Effect::kRelease});
            }
            return unchanged(from);
        case CauseKind::kTerminate:
            return terminate(from, cause, settings);
        case CauseKind::kTornDown:
            if (from == State::kTerminating) {
                return changed(State::kTerminated, {}, kClear);
            }
            return unchanged(from);
    }
    return refused(from, "unknown cause");
}

std::string exit_meaning(std::optional<int> status, std::optional<int> signal) {
    if (signal) {
        const char* abbrev = sigabbrev_np(*signal);
        return "the vmm was killed by signal " + std::to_string(*signal) +
               (abbrev != nullptr ? std::string(" (SIG") + abbrev + ")" : "");
    }
    if (!status) {
        return "the vmm was killed (signal unknown: vmd was not its parent and it wrote no exit "
               "event)";
    }
    switch (*status) {
        case 0:
            return "the guest powered off";
        case 1:
            return "the vmm failed on the host (status 1)";
        case 2:
            return "the vmm refused its configuration (status 2)";
        case 3:
            return "guest kernel panic";
        case 4:
            return "the guest asked to reboot and the vmm was told not to (status 4)";
        case 5:
            return "reboot loop: the guest rebooted 3 times in a row without becoming ready "
                   "(status 5)";
        case 6:
            return "KVM could not run the guest (status 6)";
        case 7:
            return "the vmm was killed (status 7: its API's kill, SIGTERM or SIGINT)";
        default:
            return "the vmm exited with status " + std::to_string(*status);
    }
}

WaitVerdict wait_verdict(State target, State from, State to) {
    if (to == target) {
        return WaitVerdict::kReached;
    }
    if (to == State::kTerminated) {
        return WaitVerdict::kUnreachable;
    }
    if (to == State::kTerminating && target != State::kTerminated) {
        return WaitVerdict::kUnreachable;
    }
    switch (target) {
        case State::kRunning:
            return to == State::kStopped || to == State::kFailed ? WaitVerdict::kUnreachable
                                                                 : WaitVerdict::kKeepWaiting;
        case State::kStopped:
            if (to == State::kFailed || (from == State::kStopping && to == State::kRunning)) {
                return WaitVerdict::kUnreachable;  // the stop failed
            }
            return WaitVerdict::kKeepWaiting;
        default:
            return WaitVerdict::kKeepWaiting;
    }
}

const char* name(CauseKind kind) {
    switch (kind) {
        case CauseKind::kFilesReady:
            return "files-ready";
        case CauseKind::kStart:
            return "start";
        case CauseKind::kReady:
            return "ready";
        case CauseKind::kRebootingEvent:
            return "rebooting-event";
        case CauseKind::kReboot:
            return "reboot";
        case CauseKind::kRebootTimeout:
            return "reboot-timeout";
        case CauseKind::kStop:
            return "stop";
        case CauseKind::kStopTimeout:
            return "stop-timeout";
        case CauseKind::kKillTimeout:
            return "kill-timeout";
        case CauseKind::kPanic:
            return "panic";
        case CauseKind::kBootTimeout:
            return "boot-timeout";
        case CauseKind::kExited:
            return "exited";
        case CauseKind::kStartFailed:
            return "start-failed";
        case CauseKind::kTerminate:
            return "terminate";
        case CauseKind::kTornDown:
            return "torn-down";
    }
    return "unknown";
}

const char* name(Effect effect) {
    switch (effect) {
        case Effect::kSpawn:
            return "spawn";
        case Effect::kPowerButton:
            return "power-button";
        case Effect::kCtrlAltDel:
            return "ctrl-alt-del";
        case Effect::kHardReset:
            return "hard-reset";
        case Effect::kSigterm:
            return "sigterm";
        case Effect::kSigkill:
            return "sigkill";
        case Effect::kRelease:
            return "release";
    }
    return "unknown";
}

const char* name(TimerKind kind) {
    switch (kind) {
        case TimerKind::kBoot:
            return "boot";
        case TimerKind::kStop:
            return "stop";
        case TimerKind::kKill:
            return "kill";
        case TimerKind::kSoftReboot:
            return "soft-reboot";
    }
    return "unknown";
}

std::optional<TimerKind> parse_timer_kind(const std::string& text) {
    for (TimerKind k :
         {TimerKind::kBoot, TimerKind::kStop, TimerKind::kKill, TimerKind::kSoftReboot}) {
        if (text == name(k)) {
            return k;
        }
    }
    return std::nullopt;
}

}  // namespace supervisor::lifecycle
