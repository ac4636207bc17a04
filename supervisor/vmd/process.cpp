#include "supervisor/vmd/process.h"

#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace supervisor::vmd {

namespace {

// The child of a threaded process: system calls only, then exec or report
// errno through the pipe and leave.
[[noreturn]] void child(const SpawnRequest& r, char* const* argv, char* const* envp, int devnull,
                        int output, int report) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; ++sig) {
        sigaction(sig, &dfl, nullptr);
    }
    setsid();
    if (dup2(devnull, 0) < 0 || dup2(output, 1) < 0 || dup2(output, 2) < 0 ||
        (!r.cwd.empty() && chdir(r.cwd.c_str()) != 0)) {
        const int err = errno;
        [[maybe_unused]] ssize_t n = write(report, &err, sizeof err);
        _exit(127);
    }
    // Everything above 2 goes, except the report pipe (close-on-exec).
    syscall(SYS_close_range, 3, report - 1, 0);
    syscall(SYS_close_range, report + 1, ~0u, 0);
    execve(argv[0], argv, envp);
    const int err = errno;
    [[maybe_unused]] ssize_t n = write(report, &err, sizeof err);
    _exit(127);
}

}  // namespace

Spawned spawn_into_cgroup(const SpawnRequest& r) {
    std::vector<char*> argv;
    for (const auto& a : r.argv) {
        argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (const auto& e : r.env) {
        envp.push_back(const_cast<char*>(e.c_str()));
    }
    envp.push_back(nullptr);
    base::Fd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
    base::Fd output(
        open(r.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600));
    if (!devnull.valid() || !output.valid()) {
        base::throw_errno("cannot open " + r.output_path + " for the vmm's output");
    }
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        base::throw_errno("pipe for spawning " + r.argv.at(0));
    }
    base::Fd report_read(report[0]);
    base::Fd report_write(report[1]);

    int pidfd = -1;
    clone_args args{};
    args.flags = CLONE_PIDFD | CLONE_INTO_CGROUP;
    args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
    args.exit_signal = SIGCHLD;
    args.cgroup = static_cast<std::uint64_t>(r.cgroup_fd);
    const long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0) {
        base::throw_errno("clone3 into the cgroup for " + r.argv.at(0));
    }
    if (pid == 0) {
        child(r, argv.data(), envp.data(), devnull.get(), output.get(), report_write.get());
    }
    Spawned s;
    s.pid = static_cast<pid_t>(pid);
    s.pidfd.reset(pidfd);
    report_write.reset();
    int err = 0;
    ssize_t n;
    while ((n = read(report_read.get(), &err, sizeof err)) < 0 && errno == EINTR) {
    }
    if (n == sizeof err) {
        siginfo_t info{};
        waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(s.pidfd.get()), &info, WEXITED);
        throw base::HostError("cannot run " + r.argv.at(0) + ": " + std::strerror(err));
    }
    s.start_time = process_start_time(s.pid).value_or(0);
    return s;
}

namespace {

// Field `n` (from 3) of /proc/PID/stat, or nullopt.
std::optional<std::string> stat_field(pid_t pid, int n) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) {
        return std::nullopt;
    }
    // The command name (field 2) may hold spaces and ')': fields 3.. follow the last ')'.
    const std::size_t close = line.rfind(')');
    if (close == std::string::npos) {
        return std::nullopt;
    }
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    for (int i = 3; i <= n; ++i) {
        if (!(rest >> field)) {
            return std::nullopt;
        }
    }
    return field;
}

constexpr unsigned long kPfKthread = 0x00200000;  // include/linux/sched.h

}  // namespace

std::optional<std::int64_t> process_start_time(pid_t pid) {
    const auto field = stat_field(pid, 22);
    if (!field) {
        return std::nullopt;
    }
    return std::stoll(*field);
}

bool is_kernel_thread(pid_t pid) {
    const auto flags = stat_field(pid, 9);
    return flags && (std::stoul(*flags) & kPfKthread) != 0;
}

base::Fd open_pidfd(pid_t pid) {
    return base::Fd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
}

bool pidfd_signal(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0) == 0;
}

bool pidfd_exited(int pidfd) {
    pollfd p{pidfd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

std::optional<ExitInfo> reap_child(int pidfd) {
    siginfo_t info{};
    if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info,
               WEXITED | WNOHANG) != 0 ||
        info.si_pid == 0) {
        return std::nullopt;
    }
    ExitInfo e;
    if (info.si_code == CLD_EXITED) {
        e.status = info.si_status;
    } else {
        e.signal = info.si_status;
    }
    return e;
}

}  // namespace supervisor::vmd
