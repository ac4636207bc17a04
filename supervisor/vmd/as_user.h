#pragma once
// Acting with a caller's rights, never root's: a child process takes the
// caller's uid, gid and groups (from SO_PEERCRED) and opens a file, whose
// descriptor it hands back over SCM_RIGHTS, or runs a program (qemu-img on
// the caller's image). Blocking: call from a worker thread.

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/unix_http_server.h"

namespace supervisor::vmd {

// Opens `path` (absolute) read-only as `who`. Throws InvalidInput when the
// caller may not read it, it is absent, or it is not a regular file;
// HostError when the host fails.
base::Fd open_as_user(const base::PeerCredentials& who, const std::string& path,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct ProgramResult {
    int status = -1;     // exit status; 128 + signal when killed
    std::string output;  // stdout and stderr together (the last 64 KiB)
    bool cancelled = false;
    bool timed_out = false;
};

// Runs argv[0] (an absolute path) as `who` with `fds` as descriptors 3, 4,
// ... and stdin from /dev/null; `on_output` sees the output as it comes.
// Throws HostError when it cannot be started.
ProgramResult run_as_user(const base::PeerCredentials& who, const std::vector<std::string>& argv,
                          const std::vector<int>& fds,
                          const std::function<void(const std::string&)>& on_output,
                          const std::atomic<bool>& cancel, std::chrono::milliseconds timeout);

}  // namespace supervisor::vmd
