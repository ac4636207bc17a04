#include "supervisor/vmd/volume_service.h"

#include <fcntl.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fd.h"
#include "supervisor/lifecycle/state.h"
#include "supervisor/store/attachments.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/volumes.h"
#include "supervisor/vmd/api_error.h"
#include "supervisor/vmd/clock.h"
#include "supervisor/vmd/files.h"
#include "supervisor/vmd/ids.h"
#include "supervisor/vmd/json_body.h"
#include "supervisor/vmd/log.h"
#include "supervisor/vmd/lookup.h"
#include "supervisor/vmd/meter.h"
#include "supervisor/vmd/views.h"

namespace supervisor::vmd {

namespace {

constexpr std::int64_t kMinSize = 1 << 20;
constexpr std::int64_t kMaxSize = std::int64_t{64} << 40;

}  // namespace

void VolumeService::recover() {
    for (const auto& state : {"creating", "deleting"}) {
        for (const auto& v : store::volumes::in_state(ctx_.db, state)) {
            if (v.boot && std::string(state) == "creating") {
                continue;  // its instance's preparation redoes the copy
            }
            remove_path(ctx_.layout.volume_file(v.id));
            store::Transaction tx(ctx_.db);
            store::attachments::remove(ctx_.db, v.id);
            store::volumes::remove(ctx_.db, v.id);
            if (ctx_.meter) {
                ctx_.meter->volume_deleted(v.id, now_ms());
            }
            tx.commit();
            log_line(
                "volume " + v.id + " (" + v.name + "): " +
                (std::string(state) == "creating" ? "creation interrupted; removed" : "deleted"));
        }
    }
}

nlohmann::json VolumeService::view(const store::VolumeRecord& v) {
    const auto a = store::attachments::of_volume(ctx_.db, v.id);
    return volume_view(v, a ? std::optional<std::string>(a->instance) : std::nullopt);
}

nlohmann::json VolumeService::list(const Caller& caller) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : store::volumes::list(ctx_.db, caller.scope())) {
        if (v.state != "deleting") {
            out.push_back(view(v));
        }
    }
    return out;
}

nlohmann::json VolumeService::get(const Caller& caller, const std::string& ref) {
    return view(find_volume(ctx_.db, caller, ref));
}

nlohmann::json VolumeService::create(const Caller& caller, const std::string& text) {
    JsonBody body(text, false);
    const std::string name = body.string("name");
    const std::int64_t size = body.integer("size_bytes", -1, kMinSize, kMaxSize);
    body.finish();
    if (size < 0) {
        throw base::InvalidInput("the field \"size_bytes\" is missing");
    }
    check_name("volume", name);
    if (size % 512 != 0) {
        throw base::InvalidInput("size_bytes must be a multiple of 512, not " +
                                 std::to_string(size));
    }
    if (auto other = store::volumes::find_by_name(ctx_.db, caller.uid(), name)) {
        throw conflict("volume name '" + name + "' is in use by " + other->id);
    }
    store::VolumeRecord v;
    v.id = new_id("vol");
    v.name = name;
    v.owner = caller.uid();
    v.state = "creating";
    v.size_bytes = size;
    v.created_at = now_ms();
    {
        store::Transaction tx(ctx_.db);
        store::volumes::insert(ctx_.db, v);
        if (ctx_.meter) {
            ctx_.meter->volume_created(v, v.created_at);
        }
        tx.commit();
    }
    try {
        ensure_dir(ctx_.layout.volumes_dir(), 0700);
        const std::string path = ctx_.layout.volume_file(v.id);
        base::Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd.valid() || ftruncate(fd.get(), size) != 0 || fsync(fd.get()) != 0) {
            base::throw_errno("cannot create " + path);
        }
    } catch (const base::Error&) {
        remove_path(ctx_.layout.volume_file(v.id));
        store::Transaction tx(ctx_.db);
        store::volumes::remove(ctx_.db, v.id);
        if (ctx_.meter) {
            ctx_.meter->volume_deleted(v.id, now_ms());
        }
        tx.commit();
        throw;
    }
    store::Transaction tx(ctx_.db);
    v.state = "available";
    store::volumes::update(ctx_.db, v);
    tx.commit();
    log_line("volume " + v.id + " (" + v.name + "): created, " + std::to_string(size) +
             " bytes, for uid " + std::to_string(v.owner));
    return view(v);
}

nlohmann::json VolumeService::remove(const Caller& caller, const std::string& ref) {
    auto v = find_volume(ctx_.db, caller, ref);
    if (auto a = store::attachments::of_volume(ctx_.db, v.id)) {
        throw conflict(
            "volume " + v.id + " is attached to " + a->instance + ": detach it first" +
            (v.boot ? " (it is that instance's boot volume: terminate the instance)" : ""));
    }
    if (v.state == "creating") {
        throw conflict("volume " + v.id + " is still being made");
    }
    {
        store::Transaction tx(ctx_.db);
        v.state = "deleting";
        store::volumes::update(ctx_.db, v);
        tx.commit();
    }
    std::string error;
    if (!remove_path(ctx_.layout.volume_file(v.id), &error)) {
        throw base::HostError(error);
    }
    store::Transaction tx(ctx_.db);
    store::volumes::remove(ctx_.db, v.id);
    if (ctx_.meter) {
        ctx_.meter->volume_deleted(v.id, now_ms());
    }
    tx.commit();
    log_line("volume " + v.id + " (" + v.name + "): deleted");
    return volume_view(v, std::nullopt);
}

nlohmann::json VolumeService::attach(const Caller& caller, const std::string& ref,
                                     const std::string& text) {
    JsonBody body(text, false);
    const std::string instance_ref = body.string("instance");
    body.finish();
    auto v = find_volume(ctx_.db, caller, ref);
    const auto instance = find_instance(ctx_.db, caller, instance_ref);
    if (instance.owner != v.owner) {
        throw not_found("no instance '" + instance_ref + "'");
    }
    if (v.state != "available") {
        throw conflict("volume " + v.id + " is " + v.state);
    }
    if (auto a = store::attachments::of_volume(ctx_.db, v.id)) {
        throw conflict("volume " + v.id + " is attached to " + a->instance + " already");
    }
    const auto state = lifecycle::parse_state(instance.state);
    if (!state || !lifecycle::accepts_volume_changes(*state)) {
        throw conflict("instance " + instance.id + " is " + instance.state +
                       ": volumes are attached to a stopped instance (stop it first)");
    }
    std::size_t data = 0;
    for (const auto& a : store::attachments::of_instance(ctx_.db, instance.id)) {
        data += a.volume == instance.boot_volume ? 0 : 1;
    }
    if (data >= kMaxDataVolumes) {
        throw conflict("instance " + instance.id + " has " + std::to_string(data) +
                       " volumes, the most it can have");
    }
    store::Transaction tx(ctx_.db);
    store::attachments::insert(ctx_.db, {v.id, instance.id, now_ms()});
    tx.commit();
    log_line("volume " + v.id + " (" + v.name + "): attached to " + instance.id);
    return view(v);
}

nlohmann::json VolumeService::detach(const Caller& caller, const std::string& ref,
                                     const std::string& text) {
    JsonBody body(text, true);
    body.finish();
    auto v = find_volume(ctx_.db, caller, ref);
    const auto a = store::attachments::of_volume(ctx_.db, v.id);
    if (!a) {
        throw conflict("volume " + v.id + " is not attached");
    }
    const auto found = store::instances::get(ctx_.db, a->instance);
    if (!found) {
        throw base::InternalError("volume " + v.id + " is attached to a missing instance");
    }
    const auto& instance = *found;
    if (instance.boot_volume == v.id) {
        throw conflict("volume " + v.id + " is the boot volume of " + instance.id +
                       ": terminate the instance (with keep_root to keep the volume)");
    }
    const auto state = lifecycle::parse_state(instance.state);
    if (!state || !lifecycle::accepts_volume_changes(*state)) {
        throw conflict("instance " + instance.id + " is " + instance.state +
                       ": volumes are detached from a stopped instance (stop it first)");
    }
    store::Transaction tx(ctx_.db);
    store::attachments::remove(ctx_.db, v.id);
    tx.commit();
    log_line("volume " + v.id + " (" + v.name + "): detached from " + instance.id);
    return view(v);
}

}  // namespace supervisor::vmd
