#include "supervisor/vmd/as_user.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace supervisor::vmd {

namespace {

using Clock = std::chrono::steady_clock;

// In the child only: raw system calls, which change this thread's (the
// child's only thread's) credentials and nothing else.
bool become(const base::PeerCredentials& who) {
    if (syscall(SYS_setgroups, who.groups.size(), who.groups.data()) != 0) {
        return false;
    }
    if (syscall(SYS_setresgid, who.gid, who.gid, who.gid) != 0) {
        return false;
    }
    return syscall(SYS_setresuid, who.uid, who.uid, who.uid) == 0;
}

void send_result(int sock, int error, int fd) {
    char data = static_cast<char>(error);
    iovec iov{&data, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (fd >= 0) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    [[maybe_unused]] ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
}

int remaining_ms(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

std::string who_text(const base::PeerCredentials& who) {
    return "uid " + std::to_string(who.uid);
}

}  // namespace

base::Fd open_as_user(const base::PeerCredentials& who, const std::string& path,
                      std::chrono::milliseconds timeout) {
    if (path.empty() || path[0] != '/') {
        throw base::InvalidInput("'" + path + "' is not an absolute path");
    }
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        base::throw_errno("socketpair to open " + path);
    }
    base::Fd ours(pair[0]);
    base::Fd theirs(pair[1]);
    const pid_t pid = fork();
    if (pid < 0) {
        base::throw_errno("fork to open " + path);
    }
    if (pid == 0) {
        if (!become(who)) {
            send_result(theirs.get(), EPERM, -1);
            _exit(1);
        }
        const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        send_result(theirs.get(), fd < 0 ? errno : 0, fd);
        _exit(0);
    }
    theirs.reset();
    pollfd p{ours.get(), POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(timeout.count()));
    char data = 0;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{&data, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ready > 0 ? recvmsg(ours.get(), &msg, MSG_CMSG_CLOEXEC) : -1;
    if (ready <= 0) {
        kill(pid, SIGKILL);
    }
    waitpid(pid, nullptr, 0);
    if (ready == 0) {
        throw base::HostError("opening " + path + " took longer than " +
                              std::to_string(timeout.count()) + " ms");
    }
    if (n != 1) {
        throw base::HostError("the helper that opens " + path + " as " + who_text(who) + " failed");
    }
    if (data != 0) {
        const int err = static_cast<unsigned char>(data);
        throw base::InvalidInput("cannot open " + path + " as " + who_text(who) + ": " +
                                 std::strerror(err));
    }
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c == nullptr || c->cmsg_type != SCM_RIGHTS) {
        throw base::HostError("the helper that opens " + path + " sent no descriptor");
    }
    int fd = -1;
    std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
    base::Fd file(fd);
    struct stat st {};
    if (fstat(file.get(), &st) != 0) {
        base::throw_errno("fstat " + path);
    }
    if (!S_ISREG(st.st_mode)) {
        throw base::InvalidInput(path + " is not a regular file");
    }
    fcntl(file.get(), F_SETFL, fcntl(file.get(), F_GETFL) & ~O_NONBLOCK);
    return file;
}

ProgramResult run_as_user(const base::PeerCredentials& who, const std::vector<std::string>& argv,
                          const std::vector<int>& fds,
                          const std::function<void(const std::string&)>& on_output,
                          const std::atomic<bool>& cancel, std::chrono::milliseconds timeout) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
        base::throw_errno("pipe for " + argv.at(0));
    }
    base::Fd read_end(out[0]);
    base::Fd write_end(out[1]);
    std::vector<char*> args;
    for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
    }
    args.push_back(nullptr);
    char path_env[] = "PATH=/usr/bin:/bin";
    char lang_env[] = "LC_ALL=C";
    char* envp[] = {path_env, lang_env, nullptr};

    // The child makes `fds` its descriptors 3, 4, ...: copies above that
    // range first, so that no dup2 overwrites one still to be moved. (The
    // child of a threaded process may only make system calls: no malloc.)
    std::vector<base::Fd> high;
    for (int fd : fds) {
        high.emplace_back(fcntl(fd, F_DUPFD_CLOEXEC, 100));
        if (!high.back().valid()) {
            base::throw_errno("dup for " + argv.at(0));
        }
    }
    base::Fd devnull(open("/dev/null", O_RDONLY | O_CLOEXEC));
    const pid_t pid = fork();
    if (pid < 0) {
        base::throw_errno("fork for " + argv.at(0));
    }
    if (pid == 0) {
        dup2(devnull.get(), 0);
        dup2(write_end.get(), 1);
        dup2(write_end.get(), 2);
        for (std::size_t i = 0; i < high.size(); ++i) {
            dup2(high[i].get(), static_cast<int>(3 + i));  // dup2 clears FD_CLOEXEC
        }
        syscall(SYS_close_range, 3 + high.size(), ~0u, 0);
        if (!become(who)) {
            _exit(126);
        }
        execve(args[0], args.data(), envp);
        _exit(127);
    }
    write_end.reset();
    ProgramResult result;
    const auto deadline = Clock::now() + timeout;
    char buffer[4096];
    for (;;) {
        if (cancel.load() && !result.cancelled) {
            result.cancelled = true;
            kill(pid, SIGKILL);
        }
        if (!result.timed_out && !result.cancelled && Clock::now() >= deadline) {
            result.timed_out = true;
            kill(pid, SIGKILL);
        }
        pollfd p{read_end.get(), POLLIN, 0};
        const int ready = poll(&p, 1, std::min(200, remaining_ms(deadline) + 1));
        if (ready < 0 && errno != EINTR) {
            break;
        }
        if (ready <= 0) {
            continue;
        }
        const ssize_t n = read(read_end.get(), buffer, sizeof buffer);
        if (n <= 0) {
            break;  // the program closed its output: it is ending
        }
        const std::string chunk(buffer, static_cast<std::size_t>(n));
        on_output(chunk);
        result.output += chunk;
        if (result.output.size() > 64 * 1024) {
            result.output.erase(0, result.output.size() - 64 * 1024);
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

}  // namespace supervisor::vmd
