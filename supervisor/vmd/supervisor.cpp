#include "supervisor/vmd/supervisor.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "net/address_pool.h"
#include "supervisor/lifecycle/ready_probe.h"
#include "supervisor/store/attachments.h"
#include "supervisor/store/credentials.h"
#include "supervisor/store/images.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/processes.h"
#include "supervisor/store/volumes.h"
#include "supervisor/vmd/clock.h"
#include "supervisor/vmd/console_log.h"
#include "supervisor/vmd/disk_copy.h"
#include "supervisor/vmd/events_file.h"
#include "supervisor/vmd/files.h"
#include "supervisor/vmd/instance_seed.h"
#include "supervisor/vmd/log.h"
#include "supervisor/vmd/meter.h"
#include "supervisor/vmd/process.h"
#include "supervisor/vmd/vmm_config.h"

namespace supervisor::vmd {

using lifecycle::Cause;
using lifecycle::CauseKind;
using lifecycle::Effect;
using lifecycle::Outcome;
using lifecycle::State;
using lifecycle::TimerChange;

namespace {

State state_of(const store::InstanceRecord& r) {
    auto s = lifecycle::parse_state(r.state);
    if (!s) {
        throw base::InternalError("instance " + r.id + " has an unknown state '" + r.state + "'");
    }
    return *s;
}

std::string label(const store::InstanceRecord& r) {
    return r.name == r.id ? r.id : r.id + " (" + r.name + ")";
}

// Adds a `disk-error` event to the instance's per-disk list.
void merge_disk_error(store::InstanceRecord& r, const nlohmann::json& event) {
    nlohmann::json list = nlohmann::json::parse(r.disk_errors, nullptr, false);
    if (!list.is_array()) {
        list = nlohmann::json::array();
    }
    const std::string disk = event.value("disk", "?");
    nlohmann::json entry{{"disk", disk},
                         {"op", event.value("op", "?")},
                         {"error", event.value("error", "?")},
                         {"count", event.value("errors", 1)},
                         {"last_at", rfc3339(event.value("time", now_ms()))}};
    bool found = false;
    for (auto& e : list) {
        if (e.value("disk", "") == disk) {
            e = entry;
            found = true;
        }
    }
    if (!found) {
        list.push_back(entry);
    }
    r.disk_errors = list.dump();
}

constexpr int kCgroupRemoveAttempts = 50;

// The instance's probe; one that no longer parses (validated when stored, so
// never expected) counts as the debug port, as before there were others.
lifecycle::ReadyProbe probe_of(const store::InstanceRecord& r) {
    try {
        return lifecycle::parse_ready_probe(r.ready_probe);
    } catch (const base::InvalidInput& e) {
        log_line("instance " + r.id + ": " + e.what() + "; waiting for the debug port");
        return lifecycle::parse_ready_probe("debug-port");
    }
}

}  // namespace

Supervisor::Supervisor(Context& context)
    : ctx_(context), prepare_next_(context.loop, [this] { prepare_next(); }) {
    inotify_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!inotify_.valid()) {
        base::throw_errno("inotify for the vmms' events files");
    }
    inotify_watch_ =
        std::make_unique<EventLoop::Watch>(ctx_.loop, inotify_.get(), [this] { on_inotify(); });
}

Supervisor::~Supervisor() = default;

lifecycle::Settings Supervisor::settings_for(const store::InstanceRecord& r) const {
    return {static_cast<int>(r.boot_timeout_s), ctx_.options.kill_grace_s};
}

Outcome Supervisor::apply(const std::string& id, const Cause& cause, const Mutation& extra) {
    store::Transaction tx(ctx_.db);
    auto found = store::instances::get(ctx_.db, id);
    if (!found) {
        throw base::InternalError("no instance " + id);
    }
    store::InstanceRecord& r = *found;
    const State from = state_of(r);
    const Outcome o = lifecycle::transition(from, cause, settings_for(r));
    if (o.refused()) {
        return o;
    }
    const auto now = now_ms();
    r.state = lifecycle::name(o.to);
    if (cause.kind == CauseKind::kStop || cause.kind == CauseKind::kReboot) {
        r.last_error.reset();
    }
    const bool spawns = std::count(o.effects.begin(), o.effects.end(), Effect::kSpawn) > 0;
    if (spawns) {
        r.starts += 1;
        r.started_at = now;
        r.ready_at.reset();
        r.stopped_at.reset();
        r.reason.reset();
        r.last_error.reset();
        r.disk_errors = "[]";
        // What a restarted vmd needs to find the process: its cgroup and
        // where its events begin, before it exists.
        store::ProcessRecord p;
        p.instance = id;
        p.start_no = r.starts;
        p.cgroup = ctx_.cgroups.child_path(id);
        p.events_offset = std::max<std::int64_t>(0, file_size(ctx_.layout.events(id)));
        p.spawned_at = now;
        const std::int64_t process_id = store::processes::insert(ctx_.db, p);
        if (ctx_.meter) {
            ctx_.meter->begin_process(r, process_id, now);
        }
    }
    if (o.kind == Outcome::Kind::kChanged) {
        switch (o.to) {
            case State::kRunning:
                if (from == State::kStopping) {
                    r.last_error = o.message;
                } else {
                    r.ready_at = now;
                }
                break;
            case State::kFailed:
                r.reason = o.message;
                r.stopped_at = now;
                break;
            case State::kStopped:
                r.stopped_at = now;
                break;
            case State::kTerminated:
                r.terminated_at = now;
                break;
            default:
                break;
        }
    }
    switch (o.timer.op) {
        case TimerChange::Op::kKeep:
            break;
        case TimerChange::Op::kClear:
            r.deadline.reset();
            r.action.reset();
            break;
        case TimerChange::Op::kSet:
            r.deadline = now + std::int64_t{o.timer.seconds} * 1000;
            r.action = nlohmann::json{{"timer", lifecycle::name(o.timer.kind)},
                                      {"cause", lifecycle::name(cause.kind)},
                                      {"force", cause.force},
                                      {"timeout_s", cause.timeout_s}}
                           .dump();
            break;
    }
    // The address: leased with the start, given back with the change that
    // ends the vmm (docs/network.md), in this transaction.
    if (spawns) {
        ctx_.network.lease(ctx_.db, r);
    } else if (std::count(o.effects.begin(), o.effects.end(), Effect::kRelease) > 0 ||
               o.to == State::kTerminated) {
        ctx_.network.release(ctx_.db, r);
    }
    if (extra) {
        extra(r);
    }
    if (ctx_.meter && o.kind == Outcome::Kind::kChanged) {
        ctx_.meter->on_change(id);
    }
    store::instances::update(ctx_.db, r);
    tx.commit();

    if (o.kind == Outcome::Kind::kChanged) {
        std::string line = "instance " + label(r) + ": " + lifecycle::name(from) + " -> " +
                           lifecycle::name(o.to) + " (" + lifecycle::name(cause.kind) + ")";
        if (!o.message.empty()) {
            line += ": " + o.message;
        }
        log_line(line);
    }
    if (o.timer.op != TimerChange::Op::kKeep) {
        arm_deadline(r);
    }
    if (o.to != State::kStarting && o.to != State::kRebooting) {
        probes_.erase(id);
        reports_boot_.erase(id);
    } else if (cause.kind == CauseKind::kRebootingEvent && o.to == State::kRebooting) {
        // The guest was reset: its services answer again only once it is up.
        start_probe(r);
    }
    notify_waiters(id, from, o.to, r);
    act(r, o, cause);
    return o;
}

void Supervisor::act(const store::InstanceRecord& r, const Outcome& o, const Cause&) {
    for (Effect e : o.effects) {
        switch (e) {
            case Effect::kSpawn:
                launch(r.id);
                break;
            case Effect::kPowerButton:
                press(r.id, "power-button");
                break;
            case Effect::kCtrlAltDel:
                press(r.id, "ctrl-alt-del");
                break;
            case Effect::kHardReset:
                press(r.id, "reboot");
                break;
            case Effect::kSigterm:
                signal(r.id, SIGTERM);
                break;
            case Effect::kSigkill:
                signal(r.id, SIGKILL);
                break;
            case Effect::kRelease:
                release(r.id);
                break;
        }
    }
    if (o.to == State::kTerminating && live_.count(r.id) == 0) {
        teardown(r.id);
    }
}

void Supervisor::prepare(const std::string& id) {
    auto r = store::instances::get(ctx_.db, id);
    if (!r || state_of(*r) != State::kPending) {
        return;
    }
    if (!r->persistent) {
        files_ready(id);
        return;
    }
    auto image = store::images::get(ctx_.db, r->image);
    if (!image || image->state != "available" || !r->boot_volume) {
        Cause c(CauseKind::kStartFailed);
        c.detail = "its image " + r->image + " is not available";
        apply(id, c);
        return;
    }
    const std::string src = ctx_.layout.image_disk(image->id);
    const std::string dst = ctx_.layout.volume_file(*r->boot_volume);
    const std::int64_t size = image->size_bytes;
    auto error = std::make_shared<std::string>();
    auto cancelled = std::make_shared<bool>(false);
    log_line("instance " + label(*r) + ": copying image " + image->id + " into boot volume " +
             *r->boot_volume);
    copies_[id] = ctx_.workers.run(
        [src, dst, size, error, cancelled](const std::atomic<bool>& cancel) {
            try {
                base::Fd in(open(src.c_str(), O_RDONLY | O_CLOEXEC));
                if (!in.valid()) {
                    base::throw_errno("cannot open " + src);
                }
                base::Fd out(open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
                if (!out.valid()) {
                    base::throw_errno("cannot create " + dst);
                }
                bool crashed_halfway = false;
                const auto result = copy_disk(
                    in.get(), out.get(), size,
                    [&](std::int64_t done) {
                        if (!crashed_halfway && done >= size / 2) {
                            crashed_halfway = true;
                            crash_point("boot-volume-copy-halfway");
                        }
                    },
                    cancel);
                *cancelled = result.cancelled;
            } catch (const base::Error& e) {
                *error = e.what();
            }
        },
        [this, id, error, cancelled] {
            copies_.erase(id);
            auto now = store::instances::get(ctx_.db, id);
            if (!now) {
                return;
            }
            if (state_of(*now) == State::kTerminating) {
                teardown(id);
                return;
            }
            if (*cancelled) {
                return;
            }
            const std::string volume = now->boot_volume.value_or("");
            if (!error->empty()) {
                Cause c(CauseKind::kStartFailed);
                c.detail = "cannot copy the image into the boot volume: " + *error;
                apply(id, c, [&](store::InstanceRecord&) {
                    if (auto v = store::volumes::get(ctx_.db, volume)) {
                        v->state = "failed";
                        v->reason = *error;
                        store::volumes::update(ctx_.db, *v);
                    }
                });
                return;
            }
            files_ready(id, [&](store::InstanceRecord&) {
                if (auto v = store::volumes::get(ctx_.db, volume); v && v->state == "creating") {
                    v->state = "available";
                    store::volumes::update(ctx_.db, *v);
                }
            });
        });
}

void Supervisor::prepare_soon(const std::vector<std::string>& ids) {
    to_prepare_.insert(to_prepare_.end(), ids.begin(), ids.end());
    if (!to_prepare_.empty() && !prepare_next_.armed()) {
        prepare_next_.arm(std::chrono::milliseconds(0));
    }
}

void Supervisor::prepare_next() {
    const std::string id = to_prepare_.front();
    to_prepare_.pop_front();
    if (!to_prepare_.empty()) {
        prepare_next_.arm(std::chrono::milliseconds(0));
    }
    try {
        prepare(id);
    } catch (const base::Error& e) {
        // Committed as pending: the next vmd start prepares it again.
        log_line("instance " + id + ": could not prepare its start: " + e.what());
    }
}

void Supervisor::files_ready(const std::string& id, const Mutation& extra) {
    try {
        apply(id, Cause(CauseKind::kFilesReady), extra);
    } catch (const net::PoolExhausted& e) {
        Cause c(CauseKind::kStartFailed);
        c.detail = e.what();
        apply(id, c, extra);
    }
}

void Supervisor::launch(const std::string& id) {
    const auto r = store::instances::get(ctx_.db, id);
    auto process = store::processes::live_of(ctx_.db, id);
    if (!r || !process) {
        throw base::InternalError("launch of " + id + " without its process row");
    }
    try {
        const auto probe = lifecycle::parse_ready_probe(r->ready_probe);
        if (probe.needs_address() && !r->address) {
            throw base::InvalidInput("its ready probe " + r->ready_probe +
                                     " needs an address and vmd runs without instance networking "
                                     "(--network none); give the instance another --ready-probe");
        }
        const auto image = store::images::get(ctx_.db, r->image);
        if (!image || image->state != "available") {
            throw base::InvalidInput("its image " + r->image + " is not available");
        }
        std::vector<std::string> volumes;
        for (const auto& a : store::attachments::of_instance(ctx_.db, id)) {
            if (a.volume == r->boot_volume) {
                continue;
            }
            const auto v = store::volumes::get(ctx_.db, a.volume);
            if (!v || v->state != "available") {
                throw base::InvalidInput("volume " + a.volume + " is not available");
            }
            volumes.push_back(a.volume);
        }
        if (r->persistent) {
            const auto boot = store::volumes::get(ctx_.db, r->boot_volume.value_or(""));
            if (!boot || boot->state != "available") {
                throw base::InvalidInput("its boot volume " + r->boot_volume.value_or("?") +
                                         " is not available (terminate the instance)");
            }
        }
        const std::string dir = ctx_.layout.instance_dir(id);
        ensure_dir(dir, 0700);
        ensure_dir(ctx_.layout.sockets_dir(), 0700);
        const auto nic = ctx_.network.plug(*r);
        // The seed image and, at the first start, the host keys (mkfs.vfat,
        // mcopy, ssh-keygen) on a worker; the state is committed already,
        // and a vmd that goes down meanwhile launches again (adopt()).
        struct Made {
            std::string seed;
            std::string error;
        };
        auto made = std::make_shared<Made>();
        const std::int64_t process_id = process->id;
        seeds_[id] = process_id;
        ctx_.workers.run(
            [made, layout = ctx_.layout, record = *r,
             credentials = store::credentials::get(ctx_.db, id),
             &network = ctx_.network](const std::atomic<bool>&) {
                try {
                    made->seed = write_instance_seed(layout, record, credentials, network);
                } catch (const base::Error& e) {
                    made->error = e.what();
                }
            },
            [this, id, process_id, nic, made, image = *image, volumes] {
                if (auto it = seeds_.find(id); it != seeds_.end() && it->second == process_id) {
                    seeds_.erase(it);
                }
                seed_made(id, process_id, image, volumes, nic, made->seed, made->error);
            });
    } catch (const base::Error& e) {
        fail_start(id, process->id, e.what());
    }
}

void Supervisor::seed_made(const std::string& id, std::int64_t process_id,
                           const store::ImageRecord& image, const std::vector<std::string>& volumes,
                           const std::optional<std::string>& nic, const std::string& seed,
                           const std::string& error) {
    const auto r = store::instances::get(ctx_.db, id);
    auto process = store::processes::live_of(ctx_.db, id);
    if (!r) {
        return;
    }
    if (state_of(*r) != State::kStarting || !process || process->id != process_id) {
        // The start ended while its seed was made (a boot timeout, a
        // terminate): no vmm comes; what the start holds is given back as
        // at a vmm's exit (unless a new start holds it already).
        const std::string detail = "its start ended before its vmm was spawned";
        log_line("instance " + label(*r) + ": " + detail);
        if (state_of(*r) == State::kStarting) {
            store::Transaction tx(ctx_.db);
            close_process(process_id, detail);
            tx.commit();
            return;
        }
        Cause c(CauseKind::kExited);
        c.detail = detail;
        apply(id, c, [&](store::InstanceRecord&) { close_process(process_id, detail); });
        return;
    }
    if (!error.empty()) {
        fail_start(id, process_id, error);
        return;
    }
    try {
        const std::string dir = ctx_.layout.instance_dir(id);
        const VmmConfigInputs inputs{*r, image, volumes, ctx_.layout, ctx_.options, nic, seed};
        write_file_atomically(ctx_.layout.vmm_config(id), vmm_config(inputs).dump(2) + "\n", 0600);
        touch(ctx_.layout.events(id));
        unlink(ctx_.layout.api_socket(id).c_str());
        append_to_file(ctx_.layout.console(id), "-- vmd: start " + std::to_string(r->starts) +
                                                    " at " + rfc3339(now_ms()) + " --\n");
        if (const std::int64_t dropped =
                trim_console_log(ctx_.layout.console(id), ctx_.options.console_max_bytes);
            dropped > 0) {
            store::Transaction tx(ctx_.db);
            auto now = store::instances::get(ctx_.db, id);
            now->console_dropped += dropped;
            store::instances::update(ctx_.db, *now);
            tx.commit();
        }
        CgroupLimits limits;
        limits.memory_max_bytes = (r->memory_mib + ctx_.options.vmm_overhead_mib) << 20;
        limits.cpu_weight = std::min<std::int64_t>(10000, 100 * r->vcpus);
        limits.pids_max = 64 + r->vcpus;
        base::Fd cgroup = ctx_.cgroups.create_child(id, limits);
        SpawnRequest request;
        request.argv = {ctx_.options.vmm, "--config", ctx_.layout.vmm_config(id)};
        request.env = {"TMPDIR=" + dir, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"};
        request.cgroup_fd = cgroup.get();
        request.cwd = dir;
        request.output_path = ctx_.layout.vmm_log(id);
        exit_statuses_.erase(id);
        Spawned spawned = spawn_into_cgroup(request);
        crash_point("spawned-before-commit");
        {
            store::Transaction tx(ctx_.db);
            process->pid = spawned.pid;
            process->start_time = spawned.start_time;
            store::processes::update(ctx_.db, *process);
            tx.commit();
        }
        log_line("instance " + label(*r) + ": vmm pid " + std::to_string(spawned.pid) +
                 " started in cgroup " + process->cgroup);
        watch_process(id, process->id, spawned.pid, std::move(spawned.pidfd), true);
        if (probe_of(*r).kind == lifecycle::ReadyProbe::Kind::kNone) {
            apply(id, Cause(CauseKind::kReady));
        } else if (const auto now = store::instances::get(ctx_.db, id);
                   now && state_of(*now) == State::kStarting) {
            start_probe(*now);
        }
    } catch (const base::Error& e) {
        fail_start(id, process_id, e.what());
    }
}

void Supervisor::fail_start(const std::string& id, std::int64_t process_id,
                            const std::string& error) {
    Cause c(CauseKind::kStartFailed);
    c.detail = error;
    apply(id, c, [&](store::InstanceRecord&) { close_process(process_id, error); });
}

void Supervisor::close_process(std::int64_t process_id, const std::string& detail) {
    auto p = store::processes::get(ctx_.db, process_id);
    if (p && !p->exited_at) {
        p->exited_at = now_ms();
        p->exit_detail = detail;
        store::processes::update(ctx_.db, *p);
        if (ctx_.meter) {
            ctx_.meter->close_process(p->id, *p->exited_at);
        }
    }
}

void Supervisor::press(const std::string& id, const std::string& action) {
    if (live_.count(id) == 0) {
        return;
    }
    ctx_.vmm.act(ctx_.layout.api_socket(id), action, [id, action](const std::string& error) {
        if (!error.empty()) {
            log_line("instance " + id + ": " + action + " failed: " + error);
        }
    });
}

void Supervisor::signal(const std::string& id, int sig) {
    auto it = live_.find(id);
    if (it == live_.end()) {
        return;
    }
    if (pidfd_signal(it->second.pidfd.get(), sig)) {
        log_line("instance " + id + ": sent " + (sig == SIGKILL ? "SIGKILL" : "SIGTERM") +
                 " to vmm pid " + std::to_string(it->second.pid));
    }
}

void Supervisor::release(const std::string& id) {
    if (auto it = live_.find(id); it != live_.end()) {
        if (it->second.inotify_wd >= 0) {
            inotify_rm_watch(inotify_.get(), it->second.inotify_wd);
            watched_events_.erase(it->second.inotify_wd);
        }
        live_.erase(it);
    }
    exit_statuses_.erase(id);
    unlink(ctx_.layout.api_socket(id).c_str());
    unlink(ctx_.layout.vmm_config(id).c_str());
    if (const auto r = store::instances::get(ctx_.db, id)) {
        ctx_.network.unplug(*r);
    }
    // An adopted vmm's exit may be seen a moment before its cgroup empties.
    const std::string cgroup = ctx_.cgroups.child_path(id);
    auto attempt = std::make_shared<int>(0);
    auto timer = std::make_shared<std::unique_ptr<EventLoop::Timer>>();
    auto try_remove = [this, id, cgroup, attempt, timer] {
        // A later start may have made the cgroup anew: leave that one be.
        if (store::processes::live_of(ctx_.db, id)) {
            timer->reset();
            return;
        }
        std::string error;
        if (CgroupRoot::remove(cgroup, &error)) {
            timer->reset();
            return;
        }
        if (++*attempt >= kCgroupRemoveAttempts) {
            log_line("instance " + id + ": " + error);
            timer->reset();
            return;
        }
        (*timer)->arm(std::chrono::milliseconds(100));
    };
    *timer = std::make_unique<EventLoop::Timer>(ctx_.loop, try_remove);
    std::string error;
    if (!CgroupRoot::remove(cgroup, &error)) {
        (*timer)->arm(std::chrono::milliseconds(100));
    } else {
        timer->reset();
    }
}

void Supervisor::teardown(const std::string& id) {
    auto r = store::instances::get(ctx_.db, id);
    if (!r || state_of(*r) != State::kTerminating || live_.count(id) != 0) {
        return;
    }
    if (auto copy = copies_.find(id); copy != copies_.end()) {
        copy->second->store(true);  // the copy's end comes back here
        return;
    }
    if (seeds_.count(id) != 0) {
        return;  // the seed's end comes back here
    }
    std::optional<std::string> doomed;
    apply(id, Cause(CauseKind::kTornDown), [&](store::InstanceRecord& rec) {
        for (const auto& a : store::attachments::of_instance(ctx_.db, id)) {
            store::attachments::remove(ctx_.db, a.volume);
        }
        if (rec.boot_volume) {
            if (auto v = store::volumes::get(ctx_.db, *rec.boot_volume)) {
                if (rec.keep_root && v->state == "available") {
                    v->boot = false;
                } else {
                    v->state = "deleting";
                    doomed = v->id;
                }
                store::volumes::update(ctx_.db, *v);
            }
        }
    });
    if (doomed) {
        std::string error;
        if (remove_path(ctx_.layout.volume_file(*doomed), &error)) {
            store::Transaction tx(ctx_.db);
            store::volumes::remove(ctx_.db, *doomed);
            if (ctx_.meter) {
                ctx_.meter->volume_deleted(*doomed, now_ms());
            }
            tx.commit();
            log_line("instance " + label(*r) + ": boot volume " + *doomed + " deleted");
        } else {
            log_line("instance " + label(*r) + ": " + error);
        }
    }
    unlink(ctx_.layout.vmm_config(id).c_str());
    unlink(ctx_.layout.events(id).c_str());
    unlink(ctx_.layout.api_socket(id).c_str());
    CgroupRoot::remove(ctx_.cgroups.child_path(id));
}

bool Supervisor::probes_tcp(const store::InstanceRecord& r) const {
    const auto probe = probe_of(r);
    // auto knocks only where the guest has a network card to answer on
    // (not with --network addresses); tcp:PORT knocks wherever it is asked to.
    return r.address &&
           (probe.kind == lifecycle::ReadyProbe::Kind::kTcp ||
            (probe.kind == lifecycle::ReadyProbe::Kind::kAuto && ctx_.network.plumbing()));
}

void Supervisor::start_probe(const store::InstanceRecord& r) {
    probes_.erase(r.id);
    const auto probe = probe_of(r);
    if (!probes_tcp(r) || live_.count(r.id) == 0 ||
        (probe.kind == lifecycle::ReadyProbe::Kind::kAuto && reports_boot_.count(r.id) != 0)) {
        return;
    }
    const auto address = net::Ipv4Address::parse(*r.address);
    if (!address) {
        log_line("instance " + label(r) + ": its address '" + *r.address +
                 "' is no IPv4 address: no tcp probe");
        return;
    }
    const std::string id = r.id;
    const bool is_auto = probe.kind == lifecycle::ReadyProbe::Kind::kAuto;
    probes_[id] = std::make_unique<TcpProbe>(ctx_.loop, *address, probe.port, [this, id, is_auto] {
        if (is_auto) {
            // Events not read yet may say that the guest reports its boot on
            // the debug port: then its ready code decides (and this probe is gone).
            read_events(id);
            if (reports_boot_.count(id) != 0) {
                return;
            }
        }
        // Destroys the probe (apply() ends it with the change to running).
        const auto it = probes_.find(id);
        const std::string target = it != probes_.end() ? it->second->target() : "?";
        log_line("instance " + id + ": answered on " + target);
        apply(id, Cause(CauseKind::kReady));
        probes_.erase(id);
    });
}

std::string Supervisor::probe_missed(const store::InstanceRecord& r) const {
    const auto probe = probe_of(r);
    if (!probes_tcp(r)) {
        return "";
    }
    const std::string tcp = "no answer on " + *r.address + ":" + std::to_string(probe.port);
    return probe.waits_for_debug_port() ? "no ready code on the debug port and " + tcp : tcp;
}

void Supervisor::arm_deadline(const store::InstanceRecord& r) {
    if (!r.deadline) {
        deadlines_.erase(r.id);
        return;
    }
    auto& timer = deadlines_[r.id];
    if (!timer) {
        const std::string id = r.id;
        timer = std::make_unique<EventLoop::Timer>(ctx_.loop, [this, id] { on_deadline(id); });
    }
    timer->arm(std::chrono::milliseconds(std::max<std::int64_t>(0, *r.deadline - now_ms())));
}

void Supervisor::on_deadline(const std::string& id) {
    auto r = store::instances::get(ctx_.db, id);
    if (!r || !r->deadline) {
        deadlines_.erase(id);
        return;
    }
    if (*r->deadline > now_ms()) {
        arm_deadline(*r);
        return;
    }
    const nlohmann::json action = nlohmann::json::parse(r->action.value_or("{}"), nullptr, false);
    const auto kind =
        lifecycle::parse_timer_kind(action.is_object() ? action.value("timer", "") : std::string());
    const std::int64_t expired = *r->deadline;
    if (kind) {
        Cause c(CauseKind::kBootTimeout);
        switch (*kind) {
            case lifecycle::TimerKind::kBoot:
                c.detail = probe_missed(*r);
                break;
            case lifecycle::TimerKind::kStop:
                c = Cause(CauseKind::kStopTimeout);
                c.force = action.value("force", false);
                c.timeout_s = action.value("timeout_s", 0);
                break;
            case lifecycle::TimerKind::kKill:
                c = Cause(CauseKind::kKillTimeout);
                break;
            case lifecycle::TimerKind::kSoftReboot:
                c = Cause(CauseKind::kRebootTimeout);
                log_line("instance " + label(*r) +
                         ": the guest did not reboot on Ctrl-Alt-Del in time; resetting it");
                break;
        }
        apply(id, c);
    }
    // A deadline that no transition replaced is spent.
    r = store::instances::get(ctx_.db, id);
    if (r && r->deadline == expired) {
        store::Transaction tx(ctx_.db);
        r->deadline.reset();
        r->action.reset();
        store::instances::update(ctx_.db, *r);
        tx.commit();
        deadlines_.erase(id);
    }
}

void Supervisor::watch_process(const std::string& id, std::int64_t process_id, pid_t pid,
                               base::Fd pidfd, bool own_child) {
    Live& live = live_[id];
    live.process_id = process_id;
    live.pid = pid;
    live.pidfd = std::move(pidfd);
    live.own_child = own_child;
    live.watch = std::make_unique<EventLoop::Watch>(ctx_.loop, live.pidfd.get(),
                                                    [this, id] { on_process_exit(id); });
    live.inotify_wd = inotify_add_watch(inotify_.get(), ctx_.layout.events(id).c_str(), IN_MODIFY);
    if (live.inotify_wd >= 0) {
        watched_events_[live.inotify_wd] = id;
    }
    read_events(id);
}

void Supervisor::on_inotify() {
    alignas(inotify_event) char buffer[4096];
    std::set<std::string> changed;
    for (;;) {
        const ssize_t n = read(inotify_.get(), buffer, sizeof buffer);
        if (n <= 0) {
            break;
        }
        for (ssize_t at = 0; at < n;) {
            const auto* e = reinterpret_cast<const inotify_event*>(buffer + at);
            if (auto it = watched_events_.find(e->wd); it != watched_events_.end()) {
                changed.insert(it->second);
            }
            at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
        }
    }
    for (const auto& id : changed) {
        if (live_.count(id) != 0) {
            read_events(id);
        }
    }
}

void Supervisor::read_events(const std::string& id) {
    auto process = store::processes::live_of(ctx_.db, id);
    if (!process) {
        return;
    }
    const std::string path = ctx_.layout.events(id);
    std::int64_t committed = process->events_offset;
    const auto instance = store::instances::get(ctx_.db, id);
    const bool ready_code_ignored =
        instance && probe_of(*instance).kind == lifecycle::ReadyProbe::Kind::kTcp;
    // Under auto, while it boots (its shutdown writes codes too).
    const bool auto_probe =
        instance && probe_of(*instance).kind == lifecycle::ReadyProbe::Kind::kAuto &&
        (state_of(*instance) == State::kStarting || state_of(*instance) == State::kRebooting);
    for (;;) {
        const auto lines = read_event_lines(path, committed);
        if (lines.empty()) {
            return;
        }
        std::vector<Mutation> pending;
        std::int64_t offset = committed;
        const auto with_offset = [&](std::int64_t at) {
            return [this, &pending, at, pid = process->id](store::InstanceRecord& r) {
                for (auto& m : pending) {
                    m(r);
                }
                pending.clear();
                auto p = store::processes::get(ctx_.db, pid);
                p->events_offset = at;
                store::processes::update(ctx_.db, *p);
            };
        };
        for (const auto& line : lines) {
            offset = line.end_offset;
            if (!line.event.is_object()) {
                log_line("instance " + id + ": skipped a malformed line in " + path);
                continue;
            }
            const std::string name = line.event.value("event", "");
            if (ctx_.meter) {
                pending.push_back(
                    [this, pid = process->id, event = line.event](store::InstanceRecord&) {
                        ctx_.meter->on_event(pid, event);
                    });
            }
            if (name == "starting" || name == "rebooting") {
                reports_boot_.erase(id);  // a new boot: judged afresh
            }
            if (name == "starting") {
                pending.push_back([](store::InstanceRecord& r) { r.boots += 1; });
            } else if (name == "disk-error") {
                pending.push_back(
                    [event = line.event](store::InstanceRecord& r) { merge_disk_error(r, event); });
                log_line("instance " + id + ": disk error: " + line.event.dump());
            } else if (name == "exit" && line.event.contains("status") &&
                       line.event["status"].is_number_integer()) {
                exit_statuses_[id] = line.event["status"].get<std::int64_t>();
            } else if (name == "progress" && auto_probe) {
                // A guest that reports its boot on the debug port (the
                // project's init) is ready when it says so: its sshd, which
                // it starts before its last steps, must not make it running
                // early. Its next boot is judged afresh.
                if (reports_boot_.insert(id).second) {
                    probes_.erase(id);
                    log_line("instance " + id +
                             ": its guest reports its boot on the debug port; waiting for its "
                             "ready code, not for port 22");
                }
            } else if (name == "ready" && ready_code_ignored) {
                // tcp:PORT alone: the guest's ready code does not count.
            } else if (name == "ready" || name == "rebooting" || name == "panic") {
                const CauseKind kind = name == "ready"       ? CauseKind::kReady
                                       : name == "rebooting" ? CauseKind::kRebootingEvent
                                                             : CauseKind::kPanic;
                apply(id, Cause(kind), with_offset(offset));
                committed = offset;
            }
        }
        if (offset > committed) {
            store::Transaction tx(ctx_.db);
            auto r = store::instances::get(ctx_.db, id);
            with_offset(offset)(*r);
            store::instances::update(ctx_.db, *r);
            tx.commit();
            committed = offset;
        }
    }
}

void Supervisor::on_process_exit(const std::string& id) {
    auto it = live_.find(id);
    if (it == live_.end()) {
        return;
    }
    std::optional<ExitInfo> info;
    if (it->second.own_child) {
        info = reap_child(it->second.pidfd.get());
    }
    // Stop watching the pidfd at once: it stays readable.
    it->second.watch.reset();
    read_events(id);
    Cause c(CauseKind::kExited);
    if (info) {
        c.exit_status = info->status;
        c.exit_signal = info->signal;
    } else if (auto s = exit_statuses_.find(id); s != exit_statuses_.end()) {
        c.exit_status = static_cast<int>(s->second);
    }
    c.detail = last_line(ctx_.layout.vmm_log(id));
    const auto process_id = it->second.process_id;
    log_line("instance " + id + ": vmm pid " + std::to_string(it->second.pid) +
             " ended: " + lifecycle::exit_meaning(c.exit_status, c.exit_signal));
    apply(id, c, [&](store::InstanceRecord&) {
        auto p = store::processes::get(ctx_.db, process_id);
        p->exited_at = now_ms();
        if (c.exit_status) {
            p->exit_status = *c.exit_status;
        }
        if (c.exit_signal) {
            p->exit_signal = *c.exit_signal;
        }
        p->exit_detail = c.detail;
        store::processes::update(ctx_.db, *p);
        if (ctx_.meter) {
            ctx_.meter->close_process(process_id, *p->exited_at);
        }
    });
}

void Supervisor::wait(const std::string& id, State target, std::chrono::milliseconds timeout,
                      std::function<void(int, const std::string&)> done) {
    const auto r = store::instances::get(ctx_.db, id);
    if (!r) {
        done(404, "no instance " + id);
        return;
    }
    const State now = state_of(*r);
    switch (lifecycle::wait_verdict(target, now, now)) {
        case lifecycle::WaitVerdict::kReached:
            done(200, "");
            return;
        case lifecycle::WaitVerdict::kUnreachable:
            done(409, "instance " + label(*r) + " is " + r->state +
                          (r->reason ? ": " + *r->reason : "") + "; it will not become " +
                          lifecycle::name(target));
            return;
        case lifecycle::WaitVerdict::kKeepWaiting:
            break;
    }
    const std::uint64_t key = next_waiter_++;
    Waiter w;
    w.key = key;
    w.target = target;
    w.done = std::move(done);
    w.timer = std::make_unique<EventLoop::Timer>(ctx_.loop, [this, id, key, target, timeout] {
        for (auto it = waiters_.lower_bound(id); it != waiters_.end() && it->first == id; ++it) {
            if (it->second.key == key) {
                auto fn = std::move(it->second.done);
                waiters_.erase(it);
                const auto r2 = store::instances::get(ctx_.db, id);
                fn(408, "instance " + id + " is still " + (r2 ? r2->state : "?") + " after " +
                            std::to_string(timeout.count() / 1000) + " s (waiting for " +
                            lifecycle::name(target) + ")");
                return;
            }
        }
    });
    w.timer->arm(timeout);
    waiters_.emplace(id, std::move(w));
}

void Supervisor::notify_waiters(const std::string& id, State from, State to,
                                const store::InstanceRecord& r) {
    std::vector<std::pair<int, std::function<void(int, const std::string&)>>> calls;
    std::vector<std::string> messages;
    for (auto it = waiters_.lower_bound(id); it != waiters_.end() && it->first == id;) {
        const auto verdict = lifecycle::wait_verdict(it->second.target, from, to);
        if (verdict == lifecycle::WaitVerdict::kKeepWaiting) {
            ++it;
            continue;
        }
        std::string message;
        if (verdict == lifecycle::WaitVerdict::kUnreachable) {
            if (to == State::kFailed && r.reason) {
                message = "instance " + label(r) + " failed: " + *r.reason;
            } else if (from == State::kStopping && to == State::kRunning && r.last_error) {
                message = *r.last_error;
            } else {
                message = "instance " + label(r) + " is " + lifecycle::name(to) +
                          "; it will not become " + lifecycle::name(it->second.target);
            }
        }
        calls.emplace_back(verdict == lifecycle::WaitVerdict::kReached ? 200 : 409,
                           std::move(it->second.done));
        messages.push_back(message);
        it = waiters_.erase(it);
    }
    for (std::size_t i = 0; i < calls.size(); ++i) {
        calls[i].second(calls[i].first, messages[i]);
    }
}

std::int64_t Supervisor::memory_in_use_mib() {
    std::int64_t total = 0;
    for (const auto& r : store::instances::list(ctx_.db)) {
        if (lifecycle::holds_memory(state_of(r))) {
            total += r.memory_mib + ctx_.options.vmm_overhead_mib;
        }
    }
    return total;
}

void Supervisor::recover() {
    for (const auto& p : store::processes::live(ctx_.db)) {
        adopt(p);
    }
    for (const auto& r : store::instances::list(ctx_.db)) {
        const State s = state_of(r);
        if (s == State::kPending) {
            log_line("instance " + label(r) + ": resuming the preparation of its files");
            prepare(r.id);
            continue;
        }
        if (s == State::kTerminating && live_.count(r.id) == 0) {
            teardown(r.id);
            continue;
        }
        if (lifecycle::may_have_process(s) && live_.count(r.id) == 0 &&
            !store::processes::live_of(ctx_.db, r.id)) {
            // The state says a vmm runs but none is known: it is gone.
            Cause c(CauseKind::kExited);
            c.detail = "vmd found no vmm process for it after a restart";
            apply(r.id, c);
            continue;
        }
        if (auto now = store::instances::get(ctx_.db, r.id); now && now->deadline) {
            arm_deadline(*now);
            resume_action(*now);
            const auto action = nlohmann::json::parse(now->action.value_or("{}"), nullptr, false);
            const bool booting =
                action.is_object() &&
                action.value("timer", "") == lifecycle::name(lifecycle::TimerKind::kBoot);
            if (booting &&
                (state_of(*now) == State::kStarting || state_of(*now) == State::kRebooting)) {
                start_probe(*now);
            }
        }
    }
    remove_leftovers();
}

void Supervisor::resume_action(const store::InstanceRecord& r) {
    // vmd may have gone down between committing an action and carrying it
    // out: do again what is harmless to do twice. (A Ctrl-Alt-Del is not:
    // its deadline ends in a hard reset instead.)
    if (live_.count(r.id) == 0 || !r.action) {
        return;
    }
    const auto action = nlohmann::json::parse(*r.action, nullptr, false);
    const std::string timer = action.is_object() ? action.value("timer", "") : "";
    if (timer == lifecycle::name(lifecycle::TimerKind::kStop)) {
        log_line("instance " + label(r) + ": pressing the power button again after the restart");
        press(r.id, "power-button");
    } else if (timer == lifecycle::name(lifecycle::TimerKind::kKill)) {
        signal(r.id, SIGTERM);
    }
}

void Supervisor::adopt(const store::ProcessRecord& p) {
    const auto r = store::instances::get(ctx_.db, p.instance);
    if (!r) {
        return;
    }
    // KVM's worker thread for the vmm's VM sits in its cgroup too: it is
    // neither the vmm nor a stranger to kill.
    std::vector<pid_t> procs = CgroupRoot::procs(p.cgroup);
    std::erase_if(procs, is_kernel_thread);
    std::optional<pid_t> candidate;
    for (pid_t pid : procs) {
        if (p.pid ? pid == *p.pid : !candidate) {
            candidate = pid;
        }
    }
    for (pid_t pid : procs) {
        if (candidate && pid != *candidate) {
            log_line("instance " + label(*r) + ": process " + std::to_string(pid) +
                     " in its cgroup is not its vmm: killed");
            kill(pid, SIGKILL);
        }
    }
    if (candidate) {
        base::Fd fd = open_pidfd(*candidate);
        const auto start = process_start_time(*candidate);
        // The pidfd pins the process: once it is open, a start time read
        // while it has not ended is this process's own.
        const bool same = fd.valid() && start && (!p.start_time || *start == *p.start_time) &&
                          !pidfd_exited(fd.get());
        if (same) {
            if (!p.pid) {
                store::Transaction tx(ctx_.db);
                auto row = *store::processes::get(ctx_.db, p.id);
                row.pid = *candidate;
                row.start_time = *start;
                store::processes::update(ctx_.db, row);
                tx.commit();
            }
            log_line("instance " + label(*r) + ": adopted vmm pid " + std::to_string(*candidate));
            watch_process(r->id, p.id, *candidate, std::move(fd), false);
            if (!lifecycle::may_have_process(state_of(*r))) {
                // It was to be killed (a boot timeout) when vmd went down.
                signal(r->id, SIGKILL);
            }
            return;
        }
    }
    if (!p.pid) {
        const auto lines = read_event_lines(ctx_.layout.events(r->id), p.events_offset);
        if (lines.empty() && state_of(*r) == State::kStarting &&
            r->deadline.value_or(0) > now_ms()) {
            log_line("instance " + label(*r) + ": vmd went down while spawning its vmm; again");
            launch(r->id);
            return;
        }
        if (lines.empty()) {
            Cause c(CauseKind::kStartFailed);
            c.detail = "vmd went down while spawning the vmm; start the instance again";
            apply(r->id, c, [&](store::InstanceRecord&) {
                auto row = *store::processes::get(ctx_.db, p.id);
                row.exited_at = now_ms();
                row.exit_detail = c.detail;
                store::processes::update(ctx_.db, row);
                if (ctx_.meter) {
                    ctx_.meter->close_process(row.id, *row.exited_at);
                }
            });
            return;
        }
    }
    // It ended while vmd was down: its events say how.
    read_events(r->id);
    Cause c(CauseKind::kExited);
    if (auto s = exit_statuses_.find(r->id); s != exit_statuses_.end()) {
        c.exit_status = static_cast<int>(s->second);
    }
    c.detail = last_line(ctx_.layout.vmm_log(r->id));
    log_line("instance " + label(*r) + ": its vmm ended while vmd was down: " +
             lifecycle::exit_meaning(c.exit_status, c.exit_signal));
    apply(r->id, c, [&](store::InstanceRecord&) {
        auto row = *store::processes::get(ctx_.db, p.id);
        row.exited_at = now_ms();
        if (c.exit_status) {
            row.exit_status = *c.exit_status;
        }
        row.exit_detail = c.detail;
        store::processes::update(ctx_.db, row);
        if (ctx_.meter) {
            ctx_.meter->close_process(row.id, *row.exited_at);
        }
    });
}

void Supervisor::remove_leftovers() {
    std::set<std::string> live_cgroups;
    for (const auto& p : store::processes::live(ctx_.db)) {
        live_cgroups.insert(p.cgroup);
    }
    for (const auto& name : ctx_.cgroups.children()) {
        const std::string path = ctx_.cgroups.child_path(name);
        if (live_cgroups.count(path) != 0) {
            continue;
        }
        if (!CgroupRoot::procs(path).empty()) {
            log_line("leaving the cgroup " + path + " alone: it holds processes vmd does not know");
            continue;
        }
        std::string error;
        if (CgroupRoot::remove(path, &error)) {
            log_line("removed the leftover cgroup " + path);
        } else {
            log_line(error);
        }
    }
    if (DIR* d = opendir(ctx_.layout.sockets_dir().c_str())) {
        while (dirent* e = readdir(d)) {
            std::string file = e->d_name;
            const std::size_t dot = file.rfind(".sock");
            if (dot == std::string::npos || dot + 5 != file.size()) {
                continue;
            }
            const std::string id = file.substr(0, dot);
            if (live_.count(id) == 0 && store::instances::get(ctx_.db, id)) {
                unlink((ctx_.layout.sockets_dir() + "/" + file).c_str());
                log_line("removed the leftover socket of instance " + id);
            }
        }
        closedir(d);
    }
    for (const auto& r : store::instances::list(ctx_.db)) {
        if (live_.count(r.id) == 0 && exists(ctx_.layout.vmm_config(r.id))) {
            unlink(ctx_.layout.vmm_config(r.id).c_str());
        }
    }
}

void Supervisor::housekeeping() {
    for (const auto& [id, live] : live_) {
        const std::int64_t dropped =
            trim_console_log(ctx_.layout.console(id), ctx_.options.console_max_bytes);
        if (dropped > 0) {
            store::Transaction tx(ctx_.db);
            auto r = store::instances::get(ctx_.db, id);
            r->console_dropped += dropped;
            store::instances::update(ctx_.db, *r);
            tx.commit();
        }
    }
    store::Transaction tx(ctx_.db);
    const auto purged = store::instances::purge_terminated(
        ctx_.db, now_ms() - ctx_.options.terminated_listed_s * 1000);
    tx.commit();
    for (const auto& id : purged) {
        remove_path(ctx_.layout.instance_dir(id));
        log_line("instance " + id + ": purged (terminated " +
                 std::to_string(ctx_.options.terminated_listed_s) + " s ago)");
    }
}

}  // namespace supervisor::vmd
