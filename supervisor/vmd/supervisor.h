#pragma once
// The instances' lives: applies the state machine (supervisor/lifecycle/)
// to what happens (API actions, vmm events, process exits, deadlines),
// commits each transition before acting on it, and acts: spawns vmms into
// their cgroups, presses their buttons, signals, releases what they held,
// tears instances down. Also the waiters (`?wait=true`, GET .../wait) and
// the recovery after a restart (adoption, docs/vmd.md "Crash safety").

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/fd.h"
#include "supervisor/lifecycle/transitions.h"
#include "supervisor/store/records.h"
#include "supervisor/vmd/context.h"
#include "supervisor/vmd/tcp_probe.h"

namespace supervisor::vmd {

class Supervisor {
  public:
    explicit Supervisor(Context& context);
    ~Supervisor();
    Supervisor(const Supervisor&) = delete;
    Supervisor& operator=(const Supervisor&) = delete;

    using Mutation = std::function<void(store::InstanceRecord&)>;

    // Applies `cause` to the instance: refused (nothing changes, `message`
    // says why), or committed together with `extra` (run inside the same
    // transaction on the record about to be written) and then acted on.
    lifecycle::Outcome apply(const std::string& id, const lifecycle::Cause& cause,
                             const Mutation& extra = {});

    // A new or restarted pending instance: makes its files (the boot volume
    // copy, on a worker), then starts it.
    void prepare(const std::string& id);
    // prepare() for each, one per turn of the loop, the first after the
    // caller's answer is on its way: a start plugs a tap and its rules on
    // the loop, and a run of many must not hold every other request up
    // until all are plugged.
    void prepare_soon(const std::vector<std::string>& ids);

    // Once the instance is in `target` (200), can no longer get there (409
    // with the reason), or `timeout` passed (408): `done(status, error)`.
    void wait(const std::string& id, lifecycle::State target, std::chrono::milliseconds timeout,
              std::function<void(int status, const std::string& error)> done);

    // After a restart: adopt the vmms still running, conclude those that
    // ended, resume pending copies and teardowns, re-arm deadlines, remove
    // leftovers.
    void recover();

    // Memory the instances hold together (guest memory + vmm overhead, MiB).
    std::int64_t memory_in_use_mib();

    // Periodic upkeep: console logs under their cap, old terminated
    // instances purged.
    void housekeeping();

    std::size_t live_processes() const { return live_.size(); }

  private:
    struct Live {
        std::int64_t process_id = 0;
        pid_t pid = -1;
        base::Fd pidfd;
        bool own_child = false;
        std::unique_ptr<EventLoop::Watch> watch;
        int inotify_wd = -1;
    };
    struct Waiter {
        std::uint64_t key;
        lifecycle::State target;
        std::unique_ptr<EventLoop::Timer> timer;
        std::function<void(int, const std::string&)> done;
    };

    void act(const store::InstanceRecord& record, const lifecycle::Outcome& outcome,
             const lifecycle::Cause& cause);
    // The first of prepare_soon()'s queue; the timer again for the rest.
    void prepare_next();
    // kFilesReady; a start that finds no free address fails with the reason.
    void files_ready(const std::string& id, const Mutation& extra = {});
    // Checks what the start needs, plugs its tap and makes its seed on a
    // worker; then seed_made() spawns the vmm, or concludes a start that
    // ended meanwhile.
    void launch(const std::string& id);
    void seed_made(const std::string& id, std::int64_t process_id, const store::ImageRecord& image,
                   const std::vector<std::string>& volumes, const std::optional<std::string>& nic,
                   const std::string& seed, const std::string& error);
    // kStartFailed with `error`, the start's process row closed with it.
    void fail_start(const std::string& id, std::int64_t process_id, const std::string& error);
    // Inside a transaction: the process row ended (once), the meter told.
    void close_process(std::int64_t process_id, const std::string& detail);
    void press(const std::string& id, const std::string& action);
    void signal(const std::string& id, int sig);
    void release(const std::string& id);
    void teardown(const std::string& id);
    void arm_deadline(const store::InstanceRecord& record);
    void on_deadline(const std::string& id);
    void watch_process(const std::string& id, std::int64_t process_id, pid_t pid, base::Fd pidfd,
                       bool own_child);
    void on_process_exit(const std::string& id);
    void read_events(const std::string& id);
    void on_inotify();
    void notify_waiters(const std::string& id, lifecycle::State from, lifecycle::State to,
                        const store::InstanceRecord& record);
    void adopt(const store::ProcessRecord& process);
    void resume_action(const store::InstanceRecord& record);
    void remove_leftovers();
    lifecycle::Settings settings_for(const store::InstanceRecord& record) const;
    // The tcp half of the instance's readiness probe, (re)started for a
    // boot that has begun (the spawn, a `rebooting` event); none where its
    // probe has no tcp half or it has no address.
    void start_probe(const store::InstanceRecord& record);
    bool probes_tcp(const store::InstanceRecord& record) const;
    // What the probe missed, for the boot timeout's reason ("" for the
    // debug port alone).
    std::string probe_missed(const store::InstanceRecord& record) const;

    Context& ctx_;
    base::Fd inotify_;
    std::unique_ptr<EventLoop::Watch> inotify_watch_;
    std::map<std::string, Live> live_;
    std::map<int, std::string> watched_events_;  // inotify wd -> instance
    std::map<std::string, std::unique_ptr<EventLoop::Timer>> deadlines_;
    std::multimap<std::string, Waiter> waiters_;
    std::uint64_t next_waiter_ = 0;
    std::map<std::string, Workers::Cancel> copies_;  // boot volume copies in flight
    std::deque<std::string> to_prepare_;             // prepare_soon()'s queue
    EventLoop::Timer prepare_next_;                  // runs prepare_next()
    std::map<std::string, std::int64_t>
        seeds_;  // seeds in the making: the process row they are for
    std::map<std::string, std::unique_ptr<TcpProbe>> probes_;  // booting instances' tcp probes
    // Instances whose guest reported this boot on the debug port: under
    // auto, their ready code alone makes them running.
    std::set<std::string> reports_boot_;
    std::map<std::string, std::int64_t> exit_statuses_;  // from `exit` events, per instance
};

}  // namespace supervisor::vmd
