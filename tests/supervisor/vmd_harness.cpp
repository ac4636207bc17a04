#include "tests/supervisor/vmd_harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <httplib.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace vmd_test {

namespace fs = std::filesystem;

namespace {

bool is_cgroup2(const std::string& path) {
    struct statfs s {};
    return statfs(path.c_str(), &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<pid_t> procs_of(const std::string& cgroup) {
    std::vector<pid_t> out;
    std::istringstream in(read_file(cgroup + "/cgroup.procs"));
    pid_t p;
    while (in >> p) {
        out.push_back(p);
    }
    return out;
}

// Reaps any child of ours that has ended (vmd, and vmms orphaned by a
// killed vmd when this process is their subreaper).
void reap_any() {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
}

Response do_request(const std::string& socket, const std::string& method, const std::string& path,
                    const std::string& body) {
    httplib::Client client(socket);
    client.set_address_family(AF_UNIX);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(120, 0);
    auto send = [&]() -> httplib::Result {
        if (method == "GET") {
            return client.Get(path);
        }
        if (method == "POST") {
            return client.Post(path, body, "application/json");
        }
        if (method == "PUT") {
            return client.Put(path, body, "application/json");
        }
        if (method == "DELETE") {
            return client.Delete(path, body, "application/json");
        }
        if (method == "PATCH") {
            return client.Patch(path, body, "application/json");
        }
        return client.Options(path);
    };
    const httplib::Result res = send();
    Response r;
    if (res) {
        r.status = res->status;
        r.body = res->body;
        for (const auto& [k, v] : res->headers) {
            r.headers[k] = v;
        }
    }
    return r;
}

}  // namespace

nlohmann::json Response::json() const {
    return nlohmann::json::parse(body, nullptr, false);
}

std::string writable_cgroup2(std::string* why) {
    for (const std::string candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
        if (!is_cgroup2(candidate)) {
            continue;
        }
        const std::string probe = candidate + "/vmd-test-probe-" + std::to_string(getpid());
        if (mkdir(probe.c_str(), 0755) == 0) {
            rmdir(probe.c_str());
            return candidate;
        }
        *why = "cannot create a cgroup under " + candidate + ": " + std::strerror(errno);
        return "";
    }
    *why = "no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified";
    return "";
}

void write_raw_file(const std::string& path, std::int64_t size, const std::string& marker) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, size) != 0 ||
        pwrite(fd, marker.data(), marker.size(), 0) != static_cast<ssize_t>(marker.size())) {
        throw std::runtime_error("cannot write " + path);
    }
    close(fd);
}

Vmd::Vmd(const std::string& cgroup_parent) {
    char tmpl[] = "/tmp/vmd-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = tmpl;
    chmod(dir_.c_str(), 0755);  // other uids reach the socket and their files
    cgroup_root_ = cgroup_parent + "/" + fs::path(dir_).filename().string();
    write_raw_file(dir_ + "/kernel", 4096, "fake kernel");
    // Writing to a vmd that was just killed must fail, not kill the test.
    signal(SIGPIPE, SIG_IGN);
    // vmms orphaned by a killed vmd come back to this process, which reaps them.
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

Vmd::~Vmd() {
    kill9();
    // Every process left in the test's cgroups (adopted vmms) goes too.
    for (int round = 0; round < 100; ++round) {
        bool any = false;
        for (const auto& name : cgroups()) {
            for (pid_t p : procs_of(cgroup_root_ + "/" + name)) {
                kill(p, SIGKILL);
                any = true;
            }
        }
        reap_any();
        if (!any) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    for (const auto& name : cgroups()) {
        rmdir((cgroup_root_ + "/" + name).c_str());
    }
    rmdir(cgroup_root_.c_str());
    std::error_code ec;
    fs::remove_all(dir_, ec);
}

std::string Vmd::bin(const std::string& program) const {
    const char* dir = std::getenv("VMM_BIN_DIR");
    return std::string(dir != nullptr ? dir : "build/bin") + "/" + program;
}

bool Vmd::start(const Options& options) {
    options_ = options;
    std::vector<std::string> args = {bin("vmd"),
                                     "--state-dir",
                                     state_dir(),
                                     "--socket",
                                     socket(),
                                     "--cgroup-root",
                                     cgroup_root_,
                                     "--vmm",
                                     bin("fake-vmm"),
                                     "--default-kernel",
                                     dir_ + "/kernel",
                                     "--max-memory",
                                     std::to_string(options.max_memory_mib),
                                     "--min-free-disk",
                                     "0",
                                     "--network",
                                     options.network};
    args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
    const std::string log_path = dir_ + "/vmd.log";
    const pid_t pid = fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(log, 1);
        dup2(log, 2);
        for (const auto& [k, v] : options.env) {
            setenv(k.c_str(), v.c_str(), 1);
        }
        if (options.own_network_namespace && unshare(CLONE_NEWNET) != 0) {
            std::fprintf(stderr, "harness: unshare(CLONE_NEWNET): %s\n", std::strerror(errno));
            _exit(126);
        }
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
        if (wait_exit(0ms)) {
            return false;
        }
        if (do_request(socket(), "GET", "/v1/health", "").status == 200) {
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

std::pair<int, std::string> Vmd::run_second(std::chrono::milliseconds timeout) {
    const std::string log_path = dir_ + "/second.log";
    const pid_t pid = fork();
    if (pid == 0) {
        const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(log, 1);
        dup2(log, 2);
        const std::string vmd = bin("vmd");
        execl(vmd.c_str(), vmd.c_str(), "--state-dir", state_dir().c_str(), "--socket",
              (dir_ + "/second.sock").c_str(), "--cgroup-root", cgroup_root_.c_str(), "--vmm",
              bin("fake-vmm").c_str(), nullptr);
        _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return {-1, read_file(log_path)};
        }
        std::this_thread::sleep_for(10ms);
    }
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(log_path)};
}

std::optional<int> Vmd::wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) {
        return std::nullopt;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(5ms);
    }
}

void Vmd::kill9() {
    if (pid_ > 0) {
        kill(pid_, SIGKILL);
        wait_exit(10s);
    }
    reap_any();
}

std::optional<int> Vmd::terminate() {
    if (pid_ <= 0) {
        return std::nullopt;
    }
    kill(pid_, SIGTERM);
    auto status = wait_exit(10s);
    if (!status) {
        kill9();
    }
    return status;
}

std::string Vmd::log() const {
    return read_file(dir_ + "/vmd.log");
}

Response Vmd::request(const std::string& method, const std::string& path, const std::string& body,
                      uid_t uid) const {
    reap_any();
    if (uid == 0) {
        return do_request(socket(), method, path, body);
    }
    // Another user: a child takes the uid and makes the request.
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        throw std::runtime_error("pipe failed");
    }
    const pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        gid_t none[1] = {static_cast<gid_t>(uid)};
        if (setgroups(1, none) != 0 || setresgid(uid, uid, uid) != 0 ||
            setresuid(uid, uid, uid) != 0) {
            _exit(1);
        }
        const Response r = do_request(socket(), method, path, body);
        const std::string out = std::to_string(r.status) + "\n" + r.body;
        [[maybe_unused]] ssize_t n = write(pipefd[1], out.data(), out.size());
        _exit(0);
    }
    close(pipefd[1]);
    std::string out;
    char buffer[4096];
    ssize_t n;
    while ((n = read(pipefd[0], buffer, sizeof buffer)) > 0) {
        out.append(buffer, static_cast<std::size_t>(n));
    }
    close(pipefd[0]);
    waitpid(pid, nullptr, 0);
    Response r;
    const auto nl = out.find('\n');
    if (nl != std::string::npos) {
        r.status = std::stoi(out.substr(0, nl));
        r.body = out.substr(nl + 1);
    }
    return r;
}

std::string Vmd::import_image(const std::string& name, const std::string& cmdline,
                              std::int64_t size, uid_t uid) {
    const std::string path = dir_ + "/" + name + ".raw";
    write_raw_file(path, size, "image " + name);
    if (uid != 0) {
        chown(path.c_str(), uid, uid);
    }
    const auto r = post("/v1/images", {{"name", name}, {"path", path}, {"cmdline", cmdline}}, uid);
    if (r.status != 202) {
        throw std::runtime_error("import of " + name + " answered " + std::to_string(r.status) +
                                 ": " + r.body);
    }
    const std::string id = r.json()["id"];
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto image = get("/v1/images/" + id, uid).json();
        if (image.value("state", "") == "available") {
            return id;
        }
        if (image.value("state", "") == "failed") {
            throw std::runtime_error("import of " + name + " failed: " + image.dump());
        }
        std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("import of " + name + " did not finish");
}

nlohmann::json Vmd::wait_state(const std::string& id, const std::string& state,
                               std::chrono::milliseconds timeout, uid_t uid) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    nlohmann::json last;
    while (std::chrono::steady_clock::now() < deadline) {
        last = get("/v1/instances/" + id, uid).json();
        if (last.is_object() && last.value("state", "") == state) {
            return last;
        }
        std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("instance " + id + " did not become " + state + " within " +
                             std::to_string(timeout.count()) + " ms; it is " + last.dump());
}

std::vector<std::string> Vmd::cgroups() const {
    std::vector<std::string> out;
    if (DIR* d = opendir(cgroup_root_.c_str())) {
        while (dirent* e = readdir(d)) {
            if (e->d_type == DT_DIR && e->d_name[0] != '.') {
                out.emplace_back(e->d_name);
            }
        }
        closedir(d);
    }
    return out;
}

std::vector<pid_t> Vmd::cgroup_procs(const std::string& instance) const {
    return procs_of(cgroup_root_ + "/" + instance);
}

std::vector<std::string> Vmd::vmm_sockets() const {
    std::vector<std::string> out;
    if (DIR* d = opendir((dir_ + "/vm").c_str())) {
        while (dirent* e = readdir(d)) {
            if (e->d_name[0] != '.') {
                out.emplace_back(e->d_name);
            }
        }
        closedir(d);
    }
    return out;
}

void VmdTest::SetUp() {
    std::string why;
    cgroup_ = writable_cgroup2(&why);
    if (cgroup_.empty()) {
        GTEST_SKIP() << "vmd needs a writable cgroup v2 hierarchy: " << why;
    }
    vmd_ = std::make_unique<Vmd>(cgroup_);
}

void VmdTest::TearDown() {
    if (vmd_ && HasFailure()) {
        std::cerr << "vmd's log:\n" << vmd_->log();
    }
}

std::string command_output(const std::string& command) {
    std::string out;
    if (FILE* p = popen(command.c_str(), "r")) {
        char buffer[4096];
        for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, p)) > 0;) {
            out.append(buffer, n);
        }
        pclose(p);
    }
    return out;
}

}  // namespace vmd_test
