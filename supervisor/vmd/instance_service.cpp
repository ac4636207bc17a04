#include "supervisor/vmd/instance_service.h"

#include <sys/statvfs.h>

#include <set>

#include "base/error.h"
#include "net/address_pool.h"
#include "supervisor/lifecycle/ready_probe.h"
#include "supervisor/store/attachments.h"
#include "supervisor/store/client_tokens.h"
#include "supervisor/store/credentials.h"
#include "supervisor/store/images.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/leases.h"
#include "supervisor/store/processes.h"
#include "supervisor/store/volumes.h"
#include "supervisor/vmd/api_error.h"
#include "supervisor/vmd/clock.h"
#include "supervisor/vmd/files.h"
#include "supervisor/vmd/ids.h"
#include "supervisor/vmd/instance_seed.h"
#include "supervisor/vmd/json_body.h"
#include "supervisor/vmd/log.h"
#include "supervisor/vmd/lookup.h"
#include "supervisor/vmd/meter.h"
#include "supervisor/vmd/views.h"
#include "supervisor/vmd/volume_service.h"

namespace supervisor::vmd {

using lifecycle::Cause;
using lifecycle::CauseKind;
using lifecycle::State;

namespace {

constexpr std::int64_t kMiB = 1 << 20;
constexpr std::int64_t kMaxTimeoutS = 3600;

void check_client_token(const std::string& token) {
    if (token.empty() || token.size() > 64) {
        throw base::InvalidInput("client_token must be 1 to 64 characters");
    }
    for (char c : token) {
        if (c < 0x21 || c > 0x7e) {
            throw base::InvalidInput("client_token must be printable ASCII without spaces");
        }
    }
}

std::chrono::milliseconds seconds(std::int64_t s) {
    return std::chrono::milliseconds(s * 1000);
}

}  // namespace

nlohmann::json InstanceService::view(const store::InstanceRecord& r) {
    std::vector<std::string> volumes;
    for (const auto& a : store::attachments::of_instance(ctx_.db, r.id)) {
        if (a.volume != r.boot_volume) {
            volumes.push_back(a.volume);
        }
    }
    auto view = instance_view(r, volumes);
    view["ssh_host_keys"] = host_public_keys(ctx_.layout, r.id);
    return view;
}

nlohmann::json InstanceService::view(const std::string& id) {
    const auto r = store::instances::get(ctx_.db, id);
    return r ? view(*r) : nlohmann::json(nullptr);
}

nlohmann::json InstanceService::list(const Caller& caller) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : store::instances::list(ctx_.db, caller.scope())) {
        out.push_back(view(r));
    }
    return out;
}

nlohmann::json InstanceService::get(const Caller& caller, const std::string& ref) {
    return view(find_instance(ctx_.db, caller, ref));
}

void InstanceService::check_capacity(std::int64_t count, std::int64_t memory_mib,
                                     const store::ImageRecord* persistent_image) {
    const std::int64_t overhead = ctx_.options.vmm_overhead_mib;
    const std::int64_t need = count * (memory_mib + overhead);
    const std::int64_t total = ctx_.options.max_memory_mib;
    const std::int64_t free = total - supervisor_.memory_in_use_mib();
    if (need > free) {
        throw conflict("not enough memory: " + std::to_string(count) + " instance" +
                       (count > 1 ? "s" : "") + " of " + std::to_string(memory_mib) + " MiB (+" +
                       std::to_string(overhead) + " MiB for each vmm) need " +
                       std::to_string(need) + " MiB, " +
                       std::to_string(std::max<std::int64_t>(free, 0)) + " MiB are free of " +
                       std::to_string(total) + " MiB (--max-memory); short by " +
                       std::to_string(need - std::max<std::int64_t>(free, 0)) + " MiB");
    }
    if (persistent_image != nullptr) {
        struct statvfs fs {};
        if (statvfs(ctx_.options.state_dir.c_str(), &fs) != 0) {
            base::throw_errno("statvfs " + ctx_.options.state_dir);
        }
        const std::int64_t available =
            static_cast<std::int64_t>(fs.f_bavail) * static_cast<std::int64_t>(fs.f_frsize) -
            ctx_.options.min_free_disk_mib * kMiB;
        const std::int64_t disk = count * persistent_image->allocated_bytes;
        if (disk > available) {
            throw conflict(
                "not enough disk: " + std::to_string(count) + " boot volume copies of image " +
                persistent_image->id + " need " + std::to_string(disk / kMiB) + " MiB, " +
                std::to_string(std::max<std::int64_t>(available, 0) / kMiB) + " MiB are free on " +
                ctx_.options.state_dir + " above --min-free-disk; short by " +
                std::to_string((disk - std::max<std::int64_t>(available, 0)) / kMiB + 1) + " MiB");
        }
    }
}

void InstanceService::check_addresses(std::int64_t count) {
    if (!ctx_.network.leases()) {
        return;
    }
    // The leases themselves are taken at each start, in its transaction;
    // this only refuses a run that cannot get its addresses now.
    const auto& pool = ctx_.network.pool();
    const auto leased = static_cast<std::int64_t>(store::LeaseStore(ctx_.db).leases().size());
    const auto capacity = static_cast<std::int64_t>(pool.capacity());
    if (leased + count > capacity) {
        throw conflict("not enough addresses: " + std::to_string(count) + " instance" +
                       (count > 1 ? "s" : "") + " need " + std::to_string(count) + ", " +
                       std::to_string(std::max<std::int64_t>(0, capacity - leased)) + " of the " +
                       std::to_string(capacity) + " in " + pool.cidr().to_string() +
                       " are free; stop an instance or give vmd a larger --network-cidr");
    }
}

void InstanceService::run(const Caller& caller, const std::string& text, bool wait, Reply reply) {
    JsonBody body(text, false);
    const std::string image_ref = body.string("image");
    const std::int64_t count = body.integer("count", 1, 1, kMaxCount);
    const bool persistent = body.boolean("persistent_root", false);
    const std::int64_t vcpus = body.integer("vcpus", 1, 1, 254);
    const std::int64_t memory = body.integer("memory_mib", 256, 16, std::int64_t{1} << 20);
    const auto volume_refs = body.strings("volumes");
    const auto name = body.optional_string("name");
    const std::int64_t boot_timeout = body.integer("boot_timeout_s", 120, 1, 86400);
    const auto token = body.optional_string("client_token");
    const bool keep_root = body.boolean("keep_root", false);
    const auto ssh_keys = body.strings("ssh_keys");
    const auto user_data = body.optional_string("user_data");
    const auto probe_override = body.optional_string("ready_probe");
    body.finish();
    if (token) {
        check_client_token(*token);
    }
    check_credentials(ssh_keys, user_data.value_or(""));
    const auto image = find_image(ctx_.db, caller, image_ref);
    if (image.state != "available") {
        throw conflict("image " + image.id + " is " + image.state +
                       (image.reason ? " (" + *image.reason + ")" : "") + ": it cannot run yet");
    }
    const std::string ready_probe = probe_override.value_or(image.ready_probe);
    if (lifecycle::parse_ready_probe(ready_probe).needs_address() && !ctx_.network.leases()) {
        throw base::InvalidInput(
            "ready_probe " + ready_probe + (probe_override ? "" : " (image " + image.id + "'s)") +
            " needs the instance's address, and vmd runs without instance networking "
            "(--network none): give ready_probe debug-port, auto or none");
    }
    if (count > 1 && !volume_refs.empty()) {
        throw base::InvalidInput("a volume goes to one instance: give volumes with count 1");
    }
    if (volume_refs.size() > VolumeService::kMaxDataVolumes) {
        throw base::InvalidInput("an instance has at most " +
                                 std::to_string(VolumeService::kMaxDataVolumes) + " volumes");
    }
    std::vector<store::VolumeRecord> volumes;
    std::set<std::string> seen;
    for (const auto& ref : volume_refs) {
        auto v = find_volume(ctx_.db, caller, ref);
        if (!seen.insert(v.id).second) {
            throw base::InvalidInput("volume " + v.id + " is given twice");
        }
        volumes.push_back(v);
    }
    nlohmann::json canonical{{"image", image.id},
                             {"count", count},
                             {"persistent_root", persistent},
                             {"vcpus", vcpus},
                             {"memory_mib", memory},
                             {"volumes", nlohmann::json::array()},
                             {"name", name ? nlohmann::json(*name) : nlohmann::json(nullptr)},
                             {"boot_timeout_s", boot_timeout},
                             {"keep_root", keep_root},
                             {"ssh_keys", ssh_keys},
                             {"user_data", user_data ? nlohmann::json(*user_data) : nullptr}};
    if (probe_override) {
        canonical["ready_probe"] = *probe_override;
    }
    for (const auto& v : volumes) {
        canonical["volumes"].push_back(v.id);
    }
    const auto duration = seconds(boot_timeout + 10);
    if (token) {
        if (auto seen_token = store::client_tokens::get(ctx_.db, caller.uid(), *token)) {
            if (seen_token->request != canonical.dump()) {
                throw conflict("client token '" + *token +
                               "' was used before with other parameters "
                               "(IdempotentParameterMismatch)");
            }
            std::vector<std::string> ids;
            nlohmann::json views = nlohmann::json::array();
            for (const auto& id : nlohmann::json::parse(seen_token->instances)) {
                if (auto r = store::instances::get(ctx_.db, id.get<std::string>())) {
                    ids.push_back(r->id);
                    views.push_back(view(*r));
                }
            }
            if (wait) {
                wait_all(ids, State::kRunning, duration, 200, reply);
            } else {
                reply(200, {{"instances", views}});
            }
            return;
        }
    }
    // A request seen before is answered above: what it made since (its
    // volumes attached, its names taken) must not refuse its retry.
    for (const auto& v : volumes) {
        if (v.state != "available") {
            throw conflict("volume " + v.id + " is " + v.state);
        }
        if (auto a = store::attachments::of_volume(ctx_.db, v.id)) {
            throw conflict("volume " + v.id + " is attached to " + a->instance);
        }
    }
    std::vector<std::string> names;
    for (std::int64_t i = 1; i <= count; ++i) {
        if (name) {
            names.push_back(count == 1 ? *name : *name + "-" + std::to_string(i));
            check_name("instance", names.back());
            if (auto other = store::instances::find_by_name(ctx_.db, caller.uid(), names.back())) {
                throw conflict("instance name '" + names.back() + "' is in use by " + other->id);
            }
        }
    }
    check_capacity(count, memory, persistent ? &image : nullptr);
    check_addresses(count);

    std::vector<std::string> ids;
    {
        store::Transaction tx(ctx_.db);
        const auto now = now_ms();
        for (std::int64_t i = 0; i < count; ++i) {
            store::InstanceRecord r;
            r.id = new_id("i");
            r.name = name ? names[static_cast<std::size_t>(i)] : r.id;
            r.owner = caller.uid();
            r.state = lifecycle::name(State::kPending);
            r.image = image.id;
            r.persistent = persistent;
            r.keep_root = keep_root;
            r.vcpus = vcpus;
            r.memory_mib = memory;
            r.boot_timeout_s = boot_timeout;
            r.ready_probe = ready_probe;
            r.mac = mac_for(r.id);
            r.created_at = now;
            if (persistent) {
                store::VolumeRecord boot;
                boot.id = new_id("vol");
                boot.name = r.id + "-root";
                boot.owner = r.owner;
                boot.state = "creating";
                boot.size_bytes = image.size_bytes;
                boot.boot = true;
                boot.image = image.id;
                boot.created_at = now;
                store::volumes::insert(ctx_.db, boot);
                if (ctx_.meter) {
                    ctx_.meter->volume_created(boot, now);
                }
                r.boot_volume = boot.id;
            }
            store::instances::insert(ctx_.db, r);
            store::credentials::put(ctx_.db, {r.id, ssh_keys, user_data});
            if (r.boot_volume) {
                store::attachments::insert(ctx_.db, {*r.boot_volume, r.id, now});
            }
            for (const auto& v : volumes) {
                store::attachments::insert(ctx_.db, {v.id, r.id, now});
            }
            ids.push_back(r.id);
        }
        if (token) {
            store::client_tokens::insert(
                ctx_.db, {caller.uid(), *token, canonical.dump(), nlohmann::json(ids).dump(), now});
        }
        tx.commit();
    }
    std::string list;
    for (const auto& id : ids) {
        list += (list.empty() ? "" : ", ") + id;
    }
    log_line("run: " + std::to_string(count) + " instance" + (count > 1 ? "s" : "") + " of image " +
             image.id + " for uid " + std::to_string(caller.uid()) + ": " + list);
    crash_point("run-committed");
    supervisor_.prepare_soon(ids);
    if (wait) {
        wait_all(ids, State::kRunning, duration, 201, reply);
        return;
    }
    nlohmann::json views = nlohmann::json::array();
    for (const auto& id : ids) {
        views.push_back(view(id));
    }
    reply(201, {{"instances", views}});
}

void InstanceService::wait_all(const std::vector<std::string>& ids, State target,
                               std::chrono::milliseconds timeout, int status, Reply reply) {
    struct Shared {
        std::size_t left;
        int worst = 0;
        std::string error;
    };
    auto shared = std::make_shared<Shared>();
    shared->left = ids.size();
    auto finish = [this, ids, status, reply, shared] {
        nlohmann::json views = nlohmann::json::array();
        for (const auto& id : ids) {
            views.push_back(view(id));
        }
        if (shared->worst != 0) {
            reply(shared->worst, {{"error", shared->error}, {"instances", views}});
        } else {
            reply(status, {{"instances", views}});
        }
    };
    if (ids.empty()) {
        finish();
        return;
    }
    for (const auto& id : ids) {
        supervisor_.wait(id, target, timeout, [shared, finish](int s, const std::string& error) {
            if (s != 200 && shared->worst == 0) {
                shared->worst = s;
                shared->error = error;
            }
            if (--shared->left == 0) {
                finish();
            }
        });
    }
}

void InstanceService::wait_one(const std::string& id, State target,
                               std::chrono::milliseconds timeout, Reply reply) {
    wait_all({id}, target, timeout, 200, [reply](int status, const nlohmann::json& answer) {
        reply(status, status < 300 ? answer["instances"][0] : answer);
    });
}

void InstanceService::start(const Caller& caller, const std::string& ref, const std::string& text,
                            bool wait, Reply reply) {
    JsonBody body(text, true);
    body.finish();
    const auto r = find_instance(ctx_.db, caller, ref);
    const auto state = lifecycle::parse_state(r.state);
    if (state == State::kStopped || state == State::kFailed) {
        if (store::processes::live_of(ctx_.db, r.id)) {
            throw conflict("instance " + r.id + "'s previous vmm is still ending; try again");
        }
        check_capacity(1, r.memory_mib, nullptr);
    }
    lifecycle::Outcome o;
    try {
        o = supervisor_.apply(r.id, Cause(CauseKind::kStart));
    } catch (const net::PoolExhausted& e) {
        throw conflict("instance " + r.id + " cannot start: " + e.what());
    }
    if (o.refused()) {
        throw conflict(o.message);
    }
    if (wait) {
        wait_one(r.id, State::kRunning, seconds(r.boot_timeout_s + 10), reply);
        return;
    }
    reply(202, view(r.id));
}

void InstanceService::stop(const Caller& caller, const std::string& ref, const std::string& text,
                           bool wait, Reply reply) {
    JsonBody body(text, true);
    const std::int64_t timeout = body.integer("timeout_s", 30, 1, kMaxTimeoutS);
    const bool force = body.boolean("force", false);
    body.finish();
    const auto r = find_instance(ctx_.db, caller, ref);
    Cause c(CauseKind::kStop);
    c.timeout_s = static_cast<int>(timeout);
    c.force = force;
    const auto o = supervisor_.apply(r.id, c);
    if (o.refused()) {
        throw conflict(o.message);
    }
    if (wait) {
        const auto limit = seconds(timeout + (force ? ctx_.options.kill_grace_s : 0) + 10);
        wait_one(r.id, State::kStopped, limit, reply);
        return;
    }
    reply(202, view(r.id));
}

void InstanceService::reboot(const Caller& caller, const std::string& ref, const std::string& text,
                             bool wait, Reply reply) {
    JsonBody body(text, true);
    const bool hard = body.boolean("hard", false);
    const std::int64_t timeout = body.integer("timeout_s", 60, 1, kMaxTimeoutS);
    body.finish();
    const auto r = find_instance(ctx_.db, caller, ref);
    Cause c(CauseKind::kReboot);
    c.hard = hard;
    c.timeout_s = static_cast<int>(timeout);
    const auto o = supervisor_.apply(r.id, c);
    if (o.refused()) {
        throw conflict(o.message);
    }
    if (wait) {
        wait_one(r.id, State::kRunning, seconds(timeout + r.boot_timeout_s + 10), reply);
        return;
    }
    reply(202, view(r.id));
}

void InstanceService::terminate(const Caller& caller, const std::string& ref,
                                const std::string& text, bool wait, Reply reply) {
    JsonBody body(text, true);
    const bool force = body.boolean("force", false);
    const bool keep_root = body.boolean("keep_root", false);
    const std::int64_t timeout = body.integer("timeout_s", 30, 1, kMaxTimeoutS);
    body.finish();
    const auto r = find_instance(ctx_.db, caller, ref);
    if (r.state == lifecycle::name(State::kTerminated)) {
        reply(200, view(r));
        return;
    }
    Cause c(CauseKind::kTerminate);
    c.force = force;
    c.timeout_s = static_cast<int>(timeout);
    supervisor_.apply(r.id, c, [&](store::InstanceRecord& rec) {
        if (r.state != lifecycle::name(State::kTerminating)) {
            rec.keep_root = keep_root || rec.keep_root;
        }
    });
    crash_point("terminate-committed");
    if (wait) {
        wait_one(r.id, State::kTerminated, seconds(timeout + ctx_.options.kill_grace_s + 10),
                 reply);
        return;
    }
    const auto now = store::instances::get(ctx_.db, r.id);
    reply(now && now->state == lifecycle::name(State::kTerminated) ? 200 : 202, view(r.id));
}

void InstanceService::wait(const Caller& caller, const std::string& ref, const std::string& state,
                           std::int64_t timeout_s, Reply reply) {
    const auto target = lifecycle::parse_state(state);
    if (!target) {
        throw base::InvalidInput(
            "state must be one of pending, starting, running, rebooting, "
            "stopping, stopped, failed, terminating, terminated; not '" +
            state + "'");
    }
    const auto r = find_instance(ctx_.db, caller, ref);
    supervisor_.wait(r.id, *target, seconds(timeout_s),
                     [this, id = r.id, reply](int status, const std::string& error) {
                         if (status == 200) {
                             reply(200, view(id));
                         } else {
                             reply(status, {{"error", error}, {"instance", view(id)}});
                         }
                     });
}

ConsoleChunk InstanceService::console(const Caller& caller, const std::string& ref,
                                      std::int64_t offset) {
    const auto r = find_instance(ctx_.db, caller, ref);
    const std::int64_t from = std::max<std::int64_t>(0, offset - r.console_dropped);
    ConsoleChunk chunk;
    chunk.text = read_range(ctx_.layout.console(r.id), from, kConsoleChunk);
    chunk.next_offset = r.console_dropped + from + static_cast<std::int64_t>(chunk.text.size());
    return chunk;
}

}  // namespace supervisor::vmd
