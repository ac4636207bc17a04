#pragma once
// vmm processes: spawned straight into their cgroup (clone3 with
// CLONE_INTO_CGROUP | CLONE_PIDFD), known by pidfd and start time, never
// by pid alone.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"

namespace supervisor::vmd {

struct SpawnRequest {
    std::vector<std::string> argv;  // argv[0]: absolute path of the program
    std::vector<std::string> env;   // "NAME=value", the whole environment
    int cgroup_fd = -1;             // the cgroup directory it starts in
    std::string cwd;
    std::string output_path;  // stdout and stderr, appended
};

struct Spawned {
    pid_t pid = -1;
    base::Fd pidfd;
    std::int64_t start_time = 0;
};

// Starts the program in its own session, signals at their defaults, stdin
// from /dev/null. Returns once it has exec'd; throws HostError with the
// reason when it could not.
Spawned spawn_into_cgroup(const SpawnRequest& request);

// Field 22 of /proc/PID/stat (clock ticks after boot), or nullopt.
std::optional<std::int64_t> process_start_time(pid_t pid);

// Whether pid is a kernel thread (PF_KTHREAD in field 9 of /proc/PID/stat).
// A vmm's cgroup holds one beside the vmm: KVM's NX huge page recovery
// thread joins the cgroups of the process that made the VM.
bool is_kernel_thread(pid_t pid);

// A pidfd for a live process, invalid when there is none.
base::Fd open_pidfd(pid_t pid);
bool pidfd_signal(int pidfd, int sig);
// Whether the process behind the pidfd has ended (its pidfd is readable).
bool pidfd_exited(int pidfd);

struct ExitInfo {
    std::optional<int> status;
    std::optional<int> signal;
};
// Reaps an ended child of ours; nullopt when it is not ours (adopted) or
// has not ended.
std::optional<ExitInfo> reap_child(int pidfd);

}  // namespace supervisor::vmd
