#pragma once
// Host test harness for vmd: runs the real build/bin/vmd on a scratch
// state directory and cgroup, with build/bin/fake-vmm standing in for the
// vmm process, and talks to its API as root or as another uid. Every
// process it starts is ended by it; every wait has a timeout.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace vmd_test {

using namespace std::chrono_literals;

struct Response {
    int status = 0;  // 0: no answer
    std::string body;
    std::map<std::string, std::string> headers;
    nlohmann::json json() const;
};

// A cgroup v2 directory this process may create children in, or "" (with
// the reason in `why`) when the host has none.
std::string writable_cgroup2(std::string* why);

class Vmd {
  public:
    struct Options {
        std::int64_t max_memory_mib = 4096;
        // Leases without the bridge and taps, which need CAP_NET_ADMIN.
        std::string network = "addresses";
        // vmd (and its vmms) in a network namespace of their own (root only):
        // `--network bridge` then makes its bridge and taps there.
        bool own_network_namespace = false;
        std::vector<std::string> extra_args;
        std::map<std::string, std::string> env;  // e.g. VMD_TEST_CRASH_AT
    };

    // A scratch directory (state, socket, files) and cgroup of its own.
    explicit Vmd(const std::string& cgroup_parent);
    ~Vmd();  // SIGKILLs vmd and every process left in its cgroups, removes all
    Vmd(const Vmd&) = delete;
    Vmd& operator=(const Vmd&) = delete;

    // Starts vmd and waits until it answers (true) or exits (false).
    bool start(const Options& options);
    bool start() { return start(Options{}); }
    // Runs vmd as a second daemon and returns its exit status and stderr.
    std::pair<int, std::string> run_second(std::chrono::milliseconds timeout);
    void kill9();
    std::optional<int> terminate();  // SIGTERM; the exit status
    // The exit status once vmd has exited by itself within `timeout`.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);
    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    std::string log() const;

    Response request(const std::string& method, const std::string& path,
                     const std::string& body = "", uid_t uid = 0) const;
    Response get(const std::string& path, uid_t uid = 0) const {
        return request("GET", path, "", uid);
    }
    Response post(const std::string& path, const nlohmann::json& body, uid_t uid = 0) const {
        return request("POST", path, body.dump(), uid);
    }

    // An available raw image whose "guest" behaves as `cmdline` says
    // (tests/support/fake_vmm.cpp); returns its id.
    std::string import_image(const std::string& name, const std::string& cmdline,
                             std::int64_t size = 4 << 20, uid_t uid = 0);
    // Polls GET /v1/instances/ID until its state is `state`.
    nlohmann::json wait_state(const std::string& id, const std::string& state,
                              std::chrono::milliseconds timeout = 10s, uid_t uid = 0) const;

    const std::string& dir() const { return dir_; }
    std::string state_dir() const { return dir_ + "/state"; }
    std::string socket() const { return dir_ + "/vmd.sock"; }
    std::string cgroup_root() const { return cgroup_root_; }
    // Child cgroups under the root (one per instance with a vmm).
    std::vector<std::string> cgroups() const;
    // Pids in an instance's cgroup.
    std::vector<pid_t> cgroup_procs(const std::string& instance) const;
    // Files under the run dir's vm/ (the vmms' API sockets).
    std::vector<std::string> vmm_sockets() const;
    std::string bin(const std::string& program) const;

  private:
    std::string dir_;
    std::string cgroup_root_;
    pid_t pid_ = -1;
    Options options_;
};

// The fixture the host tests share: a Vmd (not started) on a writable
// cgroup v2, the test skipped where the host has none; vmd's log printed
// when a test failed. A fixture's own SetUp calls this one first and
// returns when IsSkipped().
class VmdTest : public ::testing::Test {
  protected:
    void SetUp() override;
    void TearDown() override;

    std::string cgroup_;
    std::unique_ptr<Vmd> vmd_;
};

// What `command` (run by /bin/sh) writes to stdout; "" when it cannot run.
std::string command_output(const std::string& command);

// A file of `size` bytes with a marker at its start, readable by all.
void write_raw_file(const std::string& path, std::int64_t size, const std::string& marker);

}  // namespace vmd_test
