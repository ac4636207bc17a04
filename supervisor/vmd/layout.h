#pragma once
// Where vmd keeps things (docs/vmd.md, "Processes and files").

#include <string>

namespace supervisor::vmd {

struct Layout {
    std::string state_dir;
    std::string run_dir;

    std::string database() const { return state_dir + "/vmd.db"; }
    std::string lock() const { return state_dir + "/vmd.lock"; }

    std::string images_dir() const { return state_dir + "/images"; }
    std::string image_dir(const std::string& id) const { return images_dir() + "/" + id; }
    std::string image_disk(const std::string& id) const { return image_dir(id) + "/disk.raw"; }
    std::string image_kernel(const std::string& id) const { return image_dir(id) + "/kernel"; }
    std::string image_initrd(const std::string& id) const { return image_dir(id) + "/initrd"; }

    std::string volumes_dir() const { return state_dir + "/volumes"; }
    std::string volume_file(const std::string& id) const {
        return volumes_dir() + "/" + id + ".raw";
    }

    std::string instances_dir() const { return state_dir + "/instances"; }
    std::string instance_dir(const std::string& id) const { return instances_dir() + "/" + id; }
    std::string events(const std::string& id) const { return instance_dir(id) + "/events"; }
    std::string console(const std::string& id) const { return instance_dir(id) + "/console.log"; }
    std::string vmm_log(const std::string& id) const { return instance_dir(id) + "/vmm.log"; }
    std::string vmm_config(const std::string& id) const { return instance_dir(id) + "/vmm.json"; }

    std::string sockets_dir() const { return run_dir + "/vm"; }
    std::string api_socket(const std::string& id) const {
        return sockets_dir() + "/" + id + ".sock";
    }
};

}  // namespace supervisor::vmd
