#include "supervisor/seed/run_tool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/error.h"
#include "base/fd.h"

namespace seed {

namespace {

std::string joined(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) {
        s += (s.empty() ? "" : " ") + a;
    }
    return s;
}

}  // namespace

ToolResult run_tool(const std::vector<std::string>& argv, const std::string& package,
                    std::chrono::milliseconds limit,
                    const std::vector<std::pair<std::string, std::string>>& env) {
    if (argv.empty()) {
        throw base::InternalError("run_tool without a program");
    }
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        base::throw_errno("pipe for " + argv[0]);
    }
    base::Fd out(fds[0]);
    base::Fd in(fds[1]);
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid < 0) {
        base::throw_errno("fork for " + argv[0]);
    }
    if (pid == 0) {
        // Only async-signal-safe calls until exec (setenv is not, but the
        // child has one thread: the caller's others did not come along).
        for (const auto& [name, value] : env) {
            setenv(name.c_str(), value.c_str(), 1);
        }
        const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        dup2(devnull, 0);
        dup2(in.get(), 1);
        dup2(in.get(), 2);
        execvp(args[0], args.data());
        _exit(127);
    }
    in.reset();
    ToolResult result;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    bool timed_out = false;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{out.get(), POLLIN, 0};
        const int ready = poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            continue;  // the deadline check above ends it
        }
        char buf[4096];
        const ssize_t n = read(out.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;  // every writer closed: the tool is done (or closed its output)
        }
        if (result.output.size() < (1u << 20)) {
            result.output.append(buf, static_cast<std::size_t>(n));
        }
    }
    int status = 0;
    // Its output is closed; its exit follows, within what is left of the limit.
    while (!timed_out && waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            timed_out = true;
            break;
        }
        usleep(1000);
    }
    if (timed_out) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    if (timed_out) {
        throw base::HostError(joined(argv) + " ran past " + std::to_string(limit.count()) +
                              " ms and was killed");
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        throw base::HostError("cannot run " + argv[0] + ": install the Debian package '" + package +
                              "' (make deps)");
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

std::string run_tool_checked(const std::vector<std::string>& argv, const std::string& package,
                             std::chrono::milliseconds limit,
                             const std::vector<std::pair<std::string, std::string>>& env) {
    ToolResult r = run_tool(argv, package, limit, env);
    if (r.status != 0) {
        while (!r.output.empty() && r.output.back() == '\n') {
            r.output.pop_back();
        }
        throw base::HostError(joined(argv) + " failed (status " + std::to_string(r.status) +
                              "): " + r.output);
    }
    return r.output;
}

}  // namespace seed
