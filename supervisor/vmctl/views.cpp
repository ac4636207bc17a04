#include "supervisor/vmctl/views.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "base/error.h"
#include "supervisor/vmctl/table.h"
#include "supervisor/vmctl/units.h"

namespace vmctl {

namespace {

constexpr std::uint64_t kMiB = 1ull << 20;

std::string text_of(const nlohmann::json& value) {
    if (value.is_null()) {
        return "-";
    }
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_boolean()) {
        return value.get<bool>() ? "yes" : "no";
    }
    if (value.is_array()) {
        std::string joined;
        for (const auto& item : value) {
            joined += (joined.empty() ? "" : ", ") + text_of(item);
        }
        return joined.empty() ? "-" : joined;
    }
    if (value.is_object()) {
        std::string joined;
        for (const auto& [key, item] : value.items()) {
            joined += (joined.empty() ? "" : " ") + key + "=" + text_of(item);
        }
        return joined;
    }
    return value.dump();
}

std::string size_cell(const nlohmann::json& object, const std::string& key,
                      std::uint64_t unit = 1) {
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_unsigned()) {
        return "-";
    }
    return format_size(it->get<std::uint64_t>() * unit);
}

std::string image_cell(const nlohmann::json& instance, const ImageNames& images) {
    const std::string id = cell(instance, "image");
    const auto it = images.find(id);
    return it == images.end() ? id : it->second;
}

// What went wrong: the failure's reason, else the last refused action's error.
std::string problem(const nlohmann::json& instance) {
    const std::string reason = cell(instance, "reason");
    if (reason != "-" && !reason.empty()) {
        return reason;
    }
    const std::string last = cell(instance, "last_error");
    return last == "-" ? "" : last;
}

void print_json_or_ids(const Output& output, const nlohmann::json& value) {
    if (output.format == Format::kJson) {
        output.out << value.dump(2) << '\n';
        return;
    }
    for (const auto& item : value.is_array() ? value : nlohmann::json::array({value})) {
        output.out << cell(item, "id") << '\n';
    }
}

// vmd's answer must be a list of objects (or one object) before it is shown.
void expect_shape(const nlohmann::json& value, bool list, const char* what) {
    bool ok = list ? value.is_array() : value.is_object();
    if (ok && list) {
        ok = std::all_of(value.begin(), value.end(), [](const auto& v) { return v.is_object(); });
    }
    if (!ok) {
        throw base::HostError(std::string("vmd's answer is not ") + what + ": " +
                              value.dump().substr(0, 200));
    }
}

}  // namespace

std::string cell(const nlohmann::json& object, const std::string& key) {
    const auto it = object.find(key);
    return it == object.end() ? "-" : text_of(*it);
}

ImageNames image_names(const nlohmann::json& images) {
    ImageNames names;
    for (const auto& image : images) {
        names[cell(image, "id")] = cell(image, "name");
    }
    return names;
}

void print_instances(const Output& output, const nlohmann::json& instances,
                     const ImageNames& images) {
    expect_shape(instances, true, "a list of instances");
    if (output.format != Format::kTable) {
        print_json_or_ids(output, instances);
        return;
    }
    Table table({"ID", "NAME", "STATE", "IMAGE", "ROOT", "VCPUS", "MEMORY", "ADDRESS", "REASON"});
    for (const auto& i : instances) {
        const bool persistent = i.value("persistent", false);
        table.add({cell(i, "id"), cell(i, "name"), cell(i, "state"), image_cell(i, images),
                   persistent ? "persistent" : "ephemeral", cell(i, "vcpus"),
                   size_cell(i, "memory_mib", kMiB), cell(i, "address"), problem(i)});
    }
    table.print(output.out);
}

void print_images(const Output& output, const nlohmann::json& images) {
    expect_shape(images, true, "a list of images");
    if (output.format != Format::kTable) {
        print_json_or_ids(output, images);
        return;
    }
    Table table({"ID", "NAME", "STATE", "SIZE", "FORMAT", "KERNEL", "REASON"});
    for (const auto& i : images) {
        std::string state = cell(i, "state");
        if (state == "importing" && i.contains("progress") && i["progress"].is_number()) {
            state +=
                " " + std::to_string(static_cast<int>(i["progress"].get<double>() * 100)) + "%";
        }
        const std::string kernel = cell(i, "kernel");
        table.add({cell(i, "id"), cell(i, "name"), state, size_cell(i, "size_bytes"),
                   cell(i, "format"), kernel == "-" ? "default" : kernel,
                   cell(i, "reason") == "-" ? "" : cell(i, "reason")});
    }
    table.print(output.out);
}

void print_volumes(const Output& output, const nlohmann::json& volumes) {
    expect_shape(volumes, true, "a list of volumes");
    if (output.format != Format::kTable) {
        print_json_or_ids(output, volumes);
        return;
    }
    Table table({"ID", "NAME", "STATE", "SIZE", "INSTANCE", "BOOT"});
    for (const auto& v : volumes) {
        table.add({cell(v, "id"), cell(v, "name"), cell(v, "state"), size_cell(v, "size_bytes"),
                   cell(v, "instance"), cell(v, "boot")});
    }
    table.print(output.out);
}

namespace {

// One object: as it came with --json, else as a list of one.
void print_one(const Output& output, const nlohmann::json& object, const char* what,
               const std::function<void(const nlohmann::json&)>& print_list) {
    expect_shape(object, false, what);
    if (output.format == Format::kJson) {
        print_json_or_ids(output, object);
        return;
    }
    print_list(nlohmann::json::array({object}));
}

}  // namespace

void print_instance(const Output& output, const nlohmann::json& instance,
                    const ImageNames& images) {
    print_one(output, instance, "an instance",
              [&](const nlohmann::json& list) { print_instances(output, list, images); });
}

void print_image(const Output& output, const nlohmann::json& image) {
    print_one(output, image, "an image",
              [&](const nlohmann::json& list) { print_images(output, list); });
}

void print_volume(const Output& output, const nlohmann::json& volume) {
    print_one(output, volume, "a volume",
              [&](const nlohmann::json& list) { print_volumes(output, list); });
}

void print_instance_details(const Output& output, const nlohmann::json& instance,
                            const ImageNames& images) {
    expect_shape(instance, false, "an instance");
    if (output.format != Format::kTable) {
        print_json_or_ids(output, instance);
        return;
    }
    // The contract's fields in a reading order; fields added later follow.
    static const std::vector<std::string> kOrder = {
        "id",         "name",       "owner",          "state",       "reason",
        "last_error", "image",      "persistent",     "boot_volume", "volumes",
        "vcpus",      "memory_mib", "boot_timeout_s", "ready_probe", "address",
        "mac",        "boots",      "disk_errors",    "created_at",  "started_at",
        "ready_at",   "stopped_at", "terminated_at"};
    std::vector<std::pair<std::string, std::string>> fields;
    auto add = [&](const std::string& key) {
        if (key == "image") {
            const std::string name = image_cell(instance, images);
            const std::string id = cell(instance, "image");
            fields.emplace_back(key, name == id ? id : name + " (" + id + ")");
        } else if (key == "memory_mib") {
            fields.emplace_back("memory", size_cell(instance, key, kMiB));
        } else if (key == "persistent") {
            fields.emplace_back("root", instance.value(key, false) ? "persistent" : "ephemeral");
        } else if (key == "disk_errors" && instance[key].is_array() && !instance[key].empty()) {
            for (const auto& e : instance[key]) {
                fields.emplace_back(key, text_of(e));
            }
        } else {
            fields.emplace_back(key, cell(instance, key));
        }
    };
    for (const auto& key : kOrder) {
        if (instance.contains(key)) {
            add(key);
        }
    }
    for (const auto& [key, value] : instance.items()) {
        if (std::find(kOrder.begin(), kOrder.end(), key) == kOrder.end()) {
            add(key);
        }
    }
    print_fields(output.out, fields);
}

}  // namespace vmctl
