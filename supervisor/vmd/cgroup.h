#pragma once
// The cgroup v2 directory under which each vmm gets a cgroup of its own
// (--cgroup-root), with the limits vmd sets there: memory.max, cpu.weight,
// pids.max where the host delegates those controllers.

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/fd.h"

namespace supervisor::vmd {

struct CgroupLimits {
    std::int64_t memory_max_bytes = 0;
    std::int64_t cpu_weight = 100;
    std::int64_t pids_max = 64;
};

class CgroupRoot {
  public:
    // Touches nothing yet: vmd's API handlers work without a cgroup (their
    // unit tests run where there is none).
    explicit CgroupRoot(std::string path);
    // Creates the root if needed (its parent must be in a cgroup v2
    // hierarchy) and enables memory, cpu and pids for its children where the
    // parent offers them. Throws HostError naming what is wrong. Before any
    // child is made.
    void prepare();

    const std::string& path() const { return path_; }
    std::string child_path(const std::string& name) const { return path_ + "/" + name; }
    // The controllers of memory, cpu and pids that children cannot use.
    const std::vector<std::string>& missing_controllers() const { return missing_; }

    // Creates the child cgroup (an empty leftover is reused) and sets the
    // limits its controllers allow; returns its directory, for
    // CLONE_INTO_CGROUP. Throws HostError.
    base::Fd create_child(const std::string& name, const CgroupLimits& limits) const;
    // Names of the child cgroups that exist.
    std::vector<std::string> children() const;

    // The processes in a cgroup (empty when it is gone).
    static std::vector<pid_t> procs(const std::string& cgroup);
    // Removes an empty cgroup; absent is fine. False (and why) when it
    // still holds a process or the host refuses.
    static bool remove(const std::string& cgroup, std::string* error = nullptr);
    // SIGKILLs every process in it (cgroup.kill); false where unsupported.
    static bool kill_all(const std::string& cgroup);

  private:
    std::string path_;
    std::vector<std::string> missing_;
};

}  // namespace supervisor::vmd
