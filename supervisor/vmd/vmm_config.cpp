#include "supervisor/vmd/vmm_config.h"

#include "base/error.h"

namespace supervisor::vmd {

nlohmann::json vmm_config(const VmmConfigInputs& in) {
    const auto& r = in.instance;
    const auto& image = in.image;
    std::string kernel =
        image.kernel ? in.layout.image_kernel(image.id) : in.options.default_kernel;
    if (kernel.empty()) {
        throw base::InvalidInput("image " + image.id +
                                 " has no kernel and vmd has no --default-kernel: import the "
                                 "image with --kernel");
    }
    nlohmann::json disks = nlohmann::json::array();
    // The root disk first: the guest's /dev/vda.
    if (r.persistent) {
        disks.push_back("path=" + in.layout.volume_file(r.boot_volume.value_or("")) + ",id=root");
    } else {
        disks.push_back("path=" + in.layout.image_disk(image.id) + ",id=root,ephemeral");
    }
    for (const auto& v : in.data_volumes) {
        disks.push_back("path=" + in.layout.volume_file(v) + ",id=" + v);
    }
    if (in.seed) {
        // Last, so that data volumes keep their names (/dev/vdb, ...).
        disks.push_back("path=" + *in.seed + ",id=seed,readonly");
    }
    nlohmann::json config{
        {"id", r.id},
        {"kernel", kernel},
        {"cmdline", image.cmdline.value_or(in.options.default_cmdline)},
        // Unsigned: the vmm takes non-negative numbers only.
        {"vcpus", static_cast<std::uint64_t>(r.vcpus)},
        {"memory", static_cast<std::uint64_t>(r.memory_mib)},
        {"serial", "file:" + in.layout.console(r.id)},
        {"api-sock", in.layout.api_socket(r.id)},
        {"events", in.layout.events(r.id)},
        {"disk", disks},
    };
    if (in.net) {
        config["net"] = *in.net;
    }
    if (image.initrd) {
        config["initrd"] = in.layout.image_initrd(image.id);
    }
    return config;
}

}  // namespace supervisor::vmd
