// The instance state machine, every state against every cause, checked
// against a table written out here from docs/vmd.md (not from the code).

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <string>

#include "supervisor/lifecycle/state.h"
#include "supervisor/lifecycle/transitions.h"

namespace supervisor::lifecycle {
namespace {

// "to[+effect...][@timer:seconds|@clear]"; "=state" when unchanged; "refused".
std::string describe(const Outcome& o) {
    if (o.refused()) {
        return "refused";
    }
    std::string s = (o.kind == Outcome::Kind::kUnchanged ? "=" : "") + std::string(name(o.to));
    for (Effect e : o.effects) {
        s += std::string("+") + name(e);
    }
    switch (o.timer.op) {
        case TimerChange::Op::kKeep:
            break;
        case TimerChange::Op::kClear:
            s += "@clear";
            break;
        case TimerChange::Op::kSet:
            s += std::string("@") + name(o.timer.kind) + ":" + std::to_string(o.timer.seconds);
            break;
    }
    return s;
}

const Settings kSettings{120, 5};

struct Row {
    const char* cause;
    Cause value;
    // Expected, in kAllStates' order: pending, starting, running, rebooting,
    // stopping, stopped, failed, terminating, terminated.
    std::array<const char*, 9> expected;
};

Cause make(CauseKind kind) {
    return Cause{kind};
}

Cause with_timeout(CauseKind kind, int s, bool force = false, bool hard = false) {
    Cause c{kind};
    c.timeout_s = s;
    c.force = force;
    c.hard = hard;
    return c;
}

Cause exit_status(int status) {
    Cause c{CauseKind::kExited};
    c.exit_status = status;
    c.detail = "vmm: last words";
    return c;
}

const std::vector<Row>& table() {
    static const std::vector<Row> rows = {
        {"files-ready",
         make(CauseKind::kFilesReady),
         {"starting+spawn@boot:120", "=starting", "=running", "=rebooting", "=stopping", "=stopped",
          "=failed", "=terminating", "=terminated"}},
        {"start",
         make(CauseKind::kStart),
         {"refused", "refused", "refused", "refused", "refused", "starting+spawn@boot:120",
          "starting+spawn@boot:120", "refused", "refused"}},
        {"ready",
         make(CauseKind::kReady),
         {"=pending", "running@clear", "=running", "running@clear", "=stopping", "=stopped",
          "=failed", "=terminating", "=terminated"}},
        {"rebooting event",
         make(CauseKind::kRebootingEvent),
         {"=pending", "=starting", "rebooting@boot:120", "=rebooting@boot:120", "=stopping",
          "=stopped", "=failed", "=terminating", "=terminated"}},
        {"soft reboot",
         with_timeout(CauseKind::kReboot, 60),
         {"refused", "refused", "rebooting+ctrl-alt-del@soft-reboot:60", "refused", "refused",
          "refused", "refused", "refused", "refused"}},
        {"hard reboot",
         with_timeout(CauseKind::kReboot, 60, false, true),
         {"refused", "refused", "rebooting+hard-reset@boot:120", "refused", "refused", "refused",
          "refused", "refused", "refused"}},
        {"reboot timeout",
         make(CauseKind::kRebootTimeout),
         {"=pending", "=starting", "=running", "=rebooting+hard-reset@boot:120", "=stopping",
          "=stopped", "=failed", "=terminating", "=terminated"}},
        {"stop",
         with_timeout(CauseKind::kStop, 30),
         {"refused", "refused", "stopping+power-button@stop:30", "stopping+power-button@stop:30",
          "refused", "refused", "refused", "refused", "refused"}},
        {"forced stop",
         with_timeout(CauseKind::kStop, 30, true),
         {"refused", "refused", "stopping+power-button@stop:30", "stopping+power-button@stop:30",
          "refused", "refused", "refused", "refused", "refused"}},
        {"stop timeout",
         with_timeout(CauseKind::kStopTimeout, 30),
         {"=pending", "=starting", "=running", "=rebooting", "running@clear", "=stopped", "=failed",
          "=terminating+sigterm@kill:5", "=terminated"}},
        {"forced stop timeout",
         with_timeout(CauseKind::kStopTimeout, 30, true),
         {"=pending", "=starting", "=running", "=rebooting", "=stopping+sigterm@kill:5", "=stopped",
          "=failed", "=terminating+sigterm@kill:5", "=terminated"}},
        {"kill timeout",
         make(CauseKind::kKillTimeout),
         {"=pending", "=starting", "=running", "=rebooting", "=stopping+sigkill@clear", "=stopped",
          "=failed+sigkill@clear", "=terminating+sigkill@clear", "=terminated"}},
        {"panic",
         make(CauseKind::kPanic),
         {"=pending", "failed@clear", "failed@clear", "failed@clear", "=stopping", "=stopped",
          "=failed", "=terminating", "=terminated"}},
        {"boot timeout",
         make(CauseKind::kBootTimeout),
         {"=pending", "failed+sigkill@clear", "=running", "failed+sigkill@clear", "=stopping",
          "=stopped", "=failed", "=terminating", "=terminated"}},
        {"exit 0",
         exit_status(0),
         {"=pending+release", "stopped+release@clear", "stopped+release@clear",
          "stopped+release@clear", "stopped+release@clear", "=stopped+release", "=failed+release",
          "=terminating+release@clear", "=terminated+release"}},
        {"exit 3",
         exit_status(3),
         {"=pending+release", "failed+release@clear", "failed+release@clear",
          "failed+release@clear", "stopped+release@clear", "=stopped+release", "=failed+release",
          "=terminating+release@clear", "=terminated+release"}},
        {"exit 6",
         exit_status(6),
         {"=pending+release", "failed+release@clear", "failed+release@clear",
          "failed+release@clear", "stopped+release@clear", "=stopped+release", "=failed+release",
          "=terminating+release@clear", "=terminated+release"}},
        {"start failed",
         [] {
             Cause c{CauseKind::kStartFailed};
             c.detail = "no such file";
             return c;
         }(),
         {"failed+release@clear", "failed+release@clear", "=running", "=rebooting", "=stopping",
          "=stopped", "=failed", "=terminating", "=terminated"}},
        {"terminate",
         with_timeout(CauseKind::kTerminate, 30),
         {"terminating@clear", "terminating+sigterm@kill:5", "terminating+power-button@stop:30",
          "terminating+power-button@stop:30", "terminating", "terminating@clear",
          "terminating@clear", "=terminating", "=terminated"}},
        {"forced terminate",
         with_timeout(CauseKind::kTerminate, 30, true),
         {"terminating@clear", "terminating+sigterm@kill:5", "terminating+sigterm@kill:5",
          "terminating+sigterm@kill:5", "terminating+sigterm@kill:5", "terminating@clear",
          "terminating@clear", "=terminating", "=terminated"}},
        {"torn down",
         make(CauseKind::kTornDown),
         {"=pending", "=starting", "=running", "=rebooting", "=stopping", "=stopped", "=failed",
          "terminated@clear", "=terminated"}},
    };
    return rows;
}

TEST(Lifecycle, EveryStateAgainstEveryCause) {
    std::map<CauseKind, int> covered;
    for (const Row& row : table()) {
        ++covered[row.value.kind];
        for (std::size_t i = 0; i < kAllStates.size(); ++i) {
            EXPECT_EQ(describe(transition(kAllStates[i], row.value, kSettings)), row.expected[i])
                << row.cause << " in " << name(kAllStates[i]);
        }
    }
    EXPECT_EQ(covered.size(), 15u) << "a cause kind is missing from the table";
}

TEST(Lifecycle, RefusalsAndReasonsSayWhy) {
    auto o = transition(State::kRunning, make(CauseKind::kStart), kSettings);
    EXPECT_NE(o.message.find("running"), std::string::npos) << o.message;
    o = transition(State::kStarting, with_timeout(CauseKind::kStop, 30), kSettings);
    EXPECT_NE(o.message.find("terminate"), std::string::npos) << o.message;

    o = transition(State::kStopping, with_timeout(CauseKind::kStopTimeout, 30), kSettings);
    EXPECT_NE(o.message.find("stop timed out after 30 s"), std::string::npos) << o.message;
    EXPECT_NE(o.message.find("power button"), std::string::npos) << o.message;

    o = transition(State::kStarting, make(CauseKind::kBootTimeout), Settings{7, 5});
    EXPECT_NE(o.message.find("not ready within 7 s"), std::string::npos) << o.message;
    Cause probe_missed{CauseKind::kBootTimeout};
    probe_missed.detail = "no answer on 198.18.0.5:22";
    o = transition(State::kRebooting, probe_missed, Settings{60, 5});
    EXPECT_EQ(
        o.message,
        "not ready within 60 s (boot timeout): no answer on 198.18.0.5:22; the vmm was killed");

    o = transition(State::kRunning, make(CauseKind::kPanic), kSettings);
    EXPECT_EQ(o.message, "guest kernel panic");

    o = transition(State::kRunning, exit_status(6), kSettings);
    EXPECT_NE(o.message.find("status 6"), std::string::npos) << o.message;
    EXPECT_NE(o.message.find("vmm: last words"), std::string::npos) << o.message;

    Cause killed{CauseKind::kExited};
    killed.exit_signal = SIGKILL;
    o = transition(State::kRunning, killed, kSettings);
    EXPECT_NE(o.message.find("signal 9 (SIGKILL)"), std::string::npos) << o.message;

    Cause unknown{CauseKind::kExited};
    o = transition(State::kRunning, unknown, kSettings);
    EXPECT_NE(o.message.find("signal unknown"), std::string::npos) << o.message;

    Cause start_failed{CauseKind::kStartFailed};
    start_failed.detail = "cgroup: no space";
    o = transition(State::kStarting, start_failed, kSettings);
    EXPECT_EQ(o.message, "could not start the vmm: cgroup: no space");
}

TEST(Lifecycle, ExitMeaningsCoverTheVmmsStatuses) {
    for (int status = 1; status <= 7; ++status) {
        const std::string m = exit_meaning(status, std::nullopt);
        EXPECT_FALSE(m.empty());
        if (status != 3) {
            EXPECT_NE(m.find("status " + std::to_string(status)), std::string::npos) << m;
        }
    }
    EXPECT_EQ(exit_meaning(3, std::nullopt), "guest kernel panic");
    EXPECT_NE(exit_meaning(42, std::nullopt).find("42"), std::string::npos);
}

TEST(Lifecycle, StateNamesRoundTrip) {
    for (State s : kAllStates) {
        EXPECT_EQ(parse_state(name(s)), s);
    }
    EXPECT_FALSE(parse_state("paused"));
    EXPECT_FALSE(parse_state(""));
}

TEST(Lifecycle, WhatEachStateHolds) {
    std::string memory, process, volumes;
    for (State s : kAllStates) {
        memory += holds_memory(s) ? "1" : "0";
        process += may_have_process(s) ? "1" : "0";
        volumes += accepts_volume_changes(s) ? "1" : "0";
    }
    // pending starting running rebooting stopping stopped failed terminating terminated
    EXPECT_EQ(memory, "111110010");
    EXPECT_EQ(process, "011110010");
    EXPECT_EQ(volumes, "100001100");
}

TEST(Lifecycle, WaitVerdicts) {
    using W = WaitVerdict;
    EXPECT_EQ(wait_verdict(State::kRunning, State::kStarting, State::kRunning), W::kReached);
    EXPECT_EQ(wait_verdict(State::kRunning, State::kPending, State::kStarting), W::kKeepWaiting);
    EXPECT_EQ(wait_verdict(State::kRunning, State::kStarting, State::kFailed), W::kUnreachable);
    EXPECT_EQ(wait_verdict(State::kRunning, State::kStopped, State::kStopped), W::kUnreachable);
    // A stop that timed out: back to running, and stopped will not come.
    EXPECT_EQ(wait_verdict(State::kStopped, State::kStopping, State::kRunning), W::kUnreachable);
    // A running instance may yet be stopped (or power off by itself).
    EXPECT_EQ(wait_verdict(State::kStopped, State::kRunning, State::kRunning), W::kKeepWaiting);
    EXPECT_EQ(wait_verdict(State::kStopped, State::kRunning, State::kFailed), W::kUnreachable);
    EXPECT_EQ(wait_verdict(State::kTerminated, State::kRunning, State::kTerminating),
              W::kKeepWaiting);
    EXPECT_EQ(wait_verdict(State::kTerminated, State::kTerminating, State::kTerminated),
              W::kReached);
    EXPECT_EQ(wait_verdict(State::kStopped, State::kRunning, State::kTerminating), W::kUnreachable);
    EXPECT_EQ(wait_verdict(State::kFailed, State::kFailed, State::kTerminated), W::kUnreachable);
    EXPECT_EQ(wait_verdict(State::kFailed, State::kStarting, State::kRunning), W::kKeepWaiting);
}

TEST(Lifecycle, TimerKindNamesRoundTrip) {
    for (TimerKind k :
         {TimerKind::kBoot, TimerKind::kStop, TimerKind::kKill, TimerKind::kSoftReboot}) {
        EXPECT_EQ(parse_timer_kind(name(k)), k);
    }
    EXPECT_FALSE(parse_timer_kind("nap"));
}

}  // namespace
}  // namespace supervisor::lifecycle
