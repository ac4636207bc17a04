#include "supervisor/vmd/views.h"

#include "supervisor/vmd/clock.h"

namespace supervisor::vmd {

namespace {

template <typename T>
nlohmann::json or_null(const std::optional<T>& v) {
    return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json time_or_null(const std::optional<std::int64_t>& ms) {
    return ms ? nlohmann::json(rfc3339(*ms)) : nlohmann::json(nullptr);
}

}  // namespace

nlohmann::json image_view(const store::ImageRecord& r) {
    return {
        {"id", r.id},
        {"name", r.name},
        {"owner", r.owner},
        {"state", r.state},
        {"progress", r.progress},
        {"reason", or_null(r.reason)},
        {"format", or_null(r.format)},
        {"size_bytes", r.size_bytes},
        {"kernel", or_null(r.kernel)},
        {"initrd", or_null(r.initrd)},
        {"cmdline", or_null(r.cmdline)},
        {"ready_probe", r.ready_probe},
        {"created_at", rfc3339(r.created_at)},
    };
}

nlohmann::json volume_view(const store::VolumeRecord& r,
                           const std::optional<std::string>& attached_to) {
    std::string state = r.state;
    if (state == "available" && attached_to) {
        state = "in-use";
    }
    return {
        {"id", r.id},
        {"name", r.name},
        {"owner", r.owner},
        {"state", state},
        {"reason", or_null(r.reason)},
        {"size_bytes", r.size_bytes},
        {"instance", or_null(attached_to)},
        {"boot", r.boot},
        {"image", or_null(r.image)},
        {"created_at", rfc3339(r.created_at)},
    };
}

nlohmann::json instance_view(const store::InstanceRecord& r,
                             const std::vector<std::string>& volumes) {
    nlohmann::json disk_errors = nlohmann::json::parse(r.disk_errors, nullptr, false);
    if (!disk_errors.is_array()) {
        disk_errors = nlohmann::json::array();
    }
    return {
        {"id", r.id},
        {"name", r.name},
        {"owner", r.owner},
        {"state", r.state},
        {"reason", or_null(r.reason)},
        {"last_error", or_null(r.last_error)},
        {"image", r.image},
        {"persistent", r.persistent},
        {"boot_volume", or_null(r.boot_volume)},
        {"keep_root", r.keep_root},
        {"volumes", volumes},
        {"vcpus", r.vcpus},
        {"memory_mib", r.memory_mib},
        {"boot_timeout_s", r.boot_timeout_s},
        {"ready_probe", r.ready_probe},
        {"address", or_null(r.address)},
        {"mac", r.mac},
        {"boots", r.boots},
        {"starts", r.starts},
        {"disk_errors", disk_errors},
        {"created_at", rfc3339(r.created_at)},
        {"started_at", time_or_null(r.started_at)},
        {"ready_at", time_or_null(r.ready_at)},
        {"stopped_at", time_or_null(r.stopped_at)},
        {"terminated_at", time_or_null(r.terminated_at)},
    };
}

}  // namespace supervisor::vmd
