#include "supervisor/vmd/lookup.h"

#include "supervisor/store/images.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/volumes.h"
#include "supervisor/vmd/api_error.h"
#include "supervisor/vmd/ids.h"

namespace supervisor::vmd {

namespace {

template <typename Record, typename ById, typename ByName>
Record find(const std::string& kind, const std::string& prefix, const Caller& caller,
            const std::string& ref, ById by_id, ByName by_name) {
    std::optional<Record> r;
    if (looks_like_id(ref, prefix)) {
        r = by_id(ref);
    } else {
        r = by_name(caller.uid(), ref);
    }
    if (!r || !caller.may_see(r->owner)) {
        throw not_found("no " + kind + " '" + ref + "'");
    }
    return *r;
}

}  // namespace

store::ImageRecord find_image(store::Database& db, const Caller& caller, const std::string& ref) {
    auto r = find<store::ImageRecord>(
        "image", "img", caller, ref,
        [&](const std::string& id) { return store::images::get(db, id); },
        [&](std::int64_t owner, const std::string& name) {
            return store::images::find_by_name(db, owner, name);
        });
    if (r.state == "deleting") {
        throw not_found("no image '" + ref + "' (it is being deleted)");
    }
    return r;
}

store::VolumeRecord find_volume(store::Database& db, const Caller& caller, const std::string& ref) {
    auto r = find<store::VolumeRecord>(
        "volume", "vol", caller, ref,
        [&](const std::string& id) { return store::volumes::get(db, id); },
        [&](std::int64_t owner, const std::string& name) {
            return store::volumes::find_by_name(db, owner, name);
        });
    if (r.state == "deleting") {
        throw not_found("no volume '" + ref + "' (it is being deleted)");
    }
    return r;
}

store::InstanceRecord find_instance(store::Database& db, const Caller& caller,
                                    const std::string& ref) {
    return find<store::InstanceRecord>(
        "instance", "i", caller, ref,
        [&](const std::string& id) { return store::instances::get(db, id); },
        [&](std::int64_t owner, const std::string& name) {
            return store::instances::find_by_name(db, owner, name);
        });
}

}  // namespace supervisor::vmd
