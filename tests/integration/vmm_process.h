#pragma once
// Test harness: runs build/bin/vmm as a child process with its serial
// console on pipes and its events in a file, and ends it in the destructor
// whatever happened. Every wait has a timeout.

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace testing_support {

using namespace std::chrono_literals;

// Paths the integration suite is given by scripts/run-tests.
struct GuestArtifacts {
    std::string vmm;      // build/bin/vmm
    std::string bzimage;  // guest kernel
    std::string vmlinux;
    std::string initramfs;   // test image, initramfs variant
    std::string rootfs;      // test image, ext4 variant
    std::string scratch;     // a writable directory for this run
    std::string socket_dir;  // for Unix sockets (the scratch may be 9p, which has none)
    // Fills from the environment; empty vmm when the suite was not set up.
    static GuestArtifacts from_env();
};

class VmmProcess {
  public:
    // Starts vmm with `args` plus --events FILE (in scratch).
    VmmProcess(const GuestArtifacts& artifacts, std::vector<std::string> args);
    ~VmmProcess();  // SIGKILL if still running, reaps, joins the reader

    // Waits for an event line {"event": name}; returns it or nullopt at the timeout.
    std::optional<nlohmann::json> wait_event(const std::string& name,
                                             std::chrono::milliseconds timeout);
    std::vector<nlohmann::json> events();
    // Waits until the console output contains `text` (after `from`).
    bool wait_output(const std::string& text, std::chrono::milliseconds timeout,
                     std::size_t from = 0);
    std::string output();
    void type(const std::string& text);  // to the serial console
    // Waits for the process to exit; its status or nullopt at the timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    pid_t pid() const { return pid_; }

  private:
    void read_output();

    pid_t pid_ = -1;
    int stdin_fd_ = -1;
    int stdout_fd_ = -1;
    std::string events_path_;
    std::mutex mutex_;
    std::string output_;
    std::thread reader_;
    std::optional<int> exit_status_;
};

// An HTTP request to a Unix socket: returns {status, body}, status 0 on failure.
std::pair<int, std::string> http_unix(const std::string& socket, const std::string& method,
                                      const std::string& path, const std::string& body = "");

}  // namespace testing_support
