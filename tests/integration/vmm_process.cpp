#include "tests/integration/vmm_process.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace testing_support {

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? "" : v;
}

int unique_counter() {
    static std::atomic<int> n{0};
    return ++n;
}

}  // namespace

GuestArtifacts GuestArtifacts::from_env() {
    GuestArtifacts a;
    const std::string bin = env("VMM_BIN_DIR");
    const std::string kernel = env("VMM_GUEST_KERNEL_DIR");
    const std::string image = env("VMM_GUEST_IMAGE_DIR");
    if (bin.empty() || kernel.empty() || image.empty()) {
        return a;
    }
    a.vmm = bin + "/vmm";
    a.bzimage = kernel + "/bzImage";
    a.vmlinux = kernel + "/vmlinux";
    a.initramfs = image + "/initramfs.cpio.gz";
    a.rootfs = image + "/rootfs.ext4";
    a.scratch = env("SANDBOX_SCRATCH").empty() ? "/tmp" : env("SANDBOX_SCRATCH");
    a.socket_dir = "/tmp";
    return a;
}

VmmProcess::VmmProcess(const GuestArtifacts& artifacts, std::vector<std::string> args) {
    const std::string base = artifacts.scratch + "/vmm-" + std::to_string(getpid()) + "-" +
                             std::to_string(unique_counter());
    events_path_ = base + ".events";
    unlink(events_path_.c_str());
    args.insert(args.begin(), artifacts.vmm);
    args.push_back("--events");
    args.push_back(events_path_);

    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    pid_ = fork();
    if (pid_ == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_fd_ = in[1];
    stdout_fd_ = out[0];
    reader_ = std::thread([this] { read_output(); });
}

VmmProcess::~VmmProcess() {
    if (pid_ > 0 && !exit_status_) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    close(stdin_fd_);
    reader_.join();
    close(stdout_fd_);
    unlink(events_path_.c_str());
}

void VmmProcess::read_output() {
    char buf[4096];
    for (;;) {
        const ssize_t n = read(stdout_fd_, buf, sizeof buf);
        if (n <= 0) {
            return;
        }
        std::lock_guard lock(mutex_);
        output_.append(buf, static_cast<std::size_t>(n));
    }
}

std::vector<nlohmann::json> VmmProcess::events() {
    std::vector<nlohmann::json> out;
    std::ifstream in(events_path_);
    for (std::string line; std::getline(in, line);) {
        try {
            out.push_back(nlohmann::json::parse(line));
        } catch (const nlohmann::json::parse_error&) {
            // A line being written right now: read it next time.
        }
    }
    return out;
}

std::optional<nlohmann::json> VmmProcess::wait_event(const std::string& name,
                                                     std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        // Once the process is gone no new event can come: stop waiting.
        const bool exited = wait_exit(0ms).has_value();
        for (const auto& e : events()) {
            if (e.value("event", "") == name) {
                return e;
            }
        }
        if (exited || std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(50ms);
    }
}

bool VmmProcess::wait_output(const std::string& text, std::chrono::milliseconds timeout,
                             std::size_t from) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        {
            std::lock_guard lock(mutex_);
            if (output_.size() > from && output_.find(text, from) != std::string::npos) {
                return true;
            }
        }
        std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

std::string VmmProcess::output() {
    std::lock_guard lock(mutex_);
    return output_;
}

void VmmProcess::type(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        const ssize_t n = write(stdin_fd_, text.data() + done, text.size() - done);
        if (n <= 0) {
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

std::optional<int> VmmProcess::wait_exit(std::chrono::milliseconds timeout) {
    if (exit_status_) {
        return exit_status_;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return exit_status_;
        }
        std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
}

std::pair<int, std::string> http_unix(const std::string& socket, const std::string& method,
                                      const std::string& path, const std::string& body) {
    httplib::Client c(socket);
    c.set_address_family(AF_UNIX);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(15, 0);
    httplib::Result res = method == "GET"   ? c.Get(path.c_str())
                          : method == "PUT" ? c.Put(path.c_str(), body, "application/json")
                                            : c.Post(path.c_str(), body, "application/json");
    if (!res) {
        return {0, ""};
    }
    return {res->status, res->body};
}

}  // namespace testing_support
