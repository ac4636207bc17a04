#include "tests/integration/vmd_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/integration/vmm_process.h"

namespace testing_support {

namespace {

using namespace std::chrono_literals;

int status_of(int wait_status) {
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

[[noreturn]] void exec_child(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe failed");
    }
    const pid_t pid = fork();
    if (pid == 0) {
        const int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        exec_child(argv);
    }
    close(out[1]);
    close(err[1]);
    CommandResult result;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool killed = false;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    while (open_fds > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) {
            // Killed, the child closes its ends; what it wrote is still read.
            kill(pid, SIGKILL);
            killed = true;
        }
        if (poll(fds, 2, killed ? 1000 : static_cast<int>(std::min<long>(left.count(), 1000))) <
            0) {
            continue;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                char buf[4096];
                const ssize_t n = read(fds[i].fd, buf, sizeof buf);
                if (n > 0) {
                    (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
                } else {
                    close(fds[i].fd);
                    fds[i].fd = -1;
                    --open_fds;
                }
            }
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    result.status = killed ? -1 : status_of(status);
    return result;
}

VmdProcess::VmdProcess(const std::string& vmd, std::vector<std::string> args, std::string log_path)
    : log_path_(std::move(log_path)) {
    args.insert(args.begin(), vmd);
    const int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) {
        throw std::runtime_error("cannot open " + log_path_);
    }
    pid_ = fork();
    if (pid_ == 0) {
        const int null = open("/dev/null", O_RDONLY);
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        exec_child(args);
    }
    close(log);
}

VmdProcess::~VmdProcess() {
    stop();
}

bool VmdProcess::wait_serving(const std::string& socket, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        if (wait_exit(0ms)) {
            return false;
        }
        if (http_unix(socket, "GET", "/v1/health").first == 200) {
            return true;
        }
        std::this_thread::sleep_for(100ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

void VmdProcess::kill_hard() {
    if (pid_ > 0 && !exit_status_) {
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
        exit_status_ = status_of(status);
    }
}

int VmdProcess::stop(std::chrono::milliseconds grace) {
    if (pid_ > 0 && !exit_status_) {
        kill(pid_, SIGTERM);
        if (!wait_exit(grace)) {
            kill_hard();
        }
    }
    return exit_status_.value_or(-1);
}

std::optional<int> VmdProcess::wait_exit(std::chrono::milliseconds timeout) {
    if (exit_status_ || pid_ <= 0) {
        return exit_status_;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    do {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
            exit_status_ = status_of(status);
            return exit_status_;
        }
        std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
}

std::string VmdProcess::log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace testing_support
