#pragma once
// Test harness for vmd end to end: runs build/bin/vmd as a child process
// (its output in a log file), kills it hard or stops it in order, and runs
// other programs (vmctl) with their output captured. Every wait has a
// timeout; the destructor ends vmd whatever happened.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace testing_support {

struct CommandResult {
    int status = -1;  // exit status, 128 + signal, or -1 when it was killed at the timeout
    std::string out;
    std::string err;
};

// Runs argv[0] (a path) with `argv`, stdin from /dev/null; kills it at the timeout.
CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

class VmdProcess {
  public:
    // Starts `vmd` with `args`, its stdout and stderr appended to `log_path`.
    VmdProcess(const std::string& vmd, std::vector<std::string> args, std::string log_path);
    ~VmdProcess();  // stop(): SIGTERM, then SIGKILL after 10 s
    VmdProcess(const VmdProcess&) = delete;
    VmdProcess& operator=(const VmdProcess&) = delete;

    // Waits until GET /v1/health on `socket` answers 200; false at the
    // timeout or when vmd exited first.
    bool wait_serving(const std::string& socket, std::chrono::milliseconds timeout);
    void kill_hard();  // SIGKILL and reap, as a crash would
    // SIGTERM, wait up to `grace`, then SIGKILL; the exit status.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    pid_t pid() const { return pid_; }
    std::string log() const;

  private:
    pid_t pid_ = -1;
    std::string log_path_;
    std::optional<int> exit_status_;
};

}  // namespace testing_support
