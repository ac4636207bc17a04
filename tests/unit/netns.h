#pragma once
// Runs a test body that changes network interfaces in a fresh network
// namespace of a forked child (unshare(CLONE_NEWNET)), so that it never
// touches the host's network. The child's GoogleTest failures print where
// they happen; the child's exit status carries them to the parent. Needs
// root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and /dev/net/tun: skipped, saying
// which is missing, without them (an ordinary user, or a container that
// refuses new namespaces); the KVM sandbox has both.
//
//     TEST(Suite, Name) { IN_FRESH_NETNS({ ...assertions... }); }

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <thread>

namespace netns_test {

struct Outcome {
    bool skipped = false;
    bool passed = false;
    std::string message;
};

// The child's exit status when the host does not allow the test at all.
constexpr int kNotPermitted = 77;

inline Outcome run(const std::function<void()>& body, std::chrono::seconds timeout) {
    if (geteuid() != 0) {
        return {true, false, "needs root for a network namespace (CI as an ordinary user)"};
    }
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        const int error = errno;
        return {true, false,
                std::string("needs /dev/net/tun for taps: ") + std::strerror(error) +
                    " (modprobe tun)"};
    }
    // Why the child could not start, when it could not; read without
    // blocking, as processes the body forks may still hold the write end.
    int reason[2];
    if (pipe2(reason, O_CLOEXEC | O_NONBLOCK) != 0) {
        return {false, false, std::string("pipe: ") + std::strerror(errno)};
    }
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) {
        close(reason[0]);
        close(reason[1]);
        return {false, false, std::string("fork: ") + std::strerror(errno)};
    }
    if (pid == 0) {
        close(reason[0]);
        int status = 0;
        if (unshare(CLONE_NEWNET) != 0) {
            const int error = errno;
            const std::string why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(error);
            if (error == EPERM) {
                // Root without CAP_SYS_ADMIN: a container that refuses namespaces.
                [[maybe_unused]] const ssize_t n = write(reason[1], why.data(), why.size());
                _exit(kNotPermitted);
            }
            std::printf("%s\n", why.c_str());
            status = 3;
        } else {
            try {
                body();
                status = ::testing::Test::HasFailure() ? 1 : 0;
            } catch (const std::exception& e) {
                std::printf("uncaught exception in the namespace: %s\n", e.what());
                status = 2;
            }
        }
        std::fflush(stdout);
        std::fflush(stderr);
        _exit(status);
    }
    close(reason[1]);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            close(reason[0]);
            return {false, false, "the namespace's test body ran past its timeout"};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    char why[256];
    const ssize_t got = read(reason[0], why, sizeof why);
    close(reason[0]);
    if (WIFEXITED(status) && WEXITSTATUS(status) == kNotPermitted && got > 0) {
        return {true, false,
                std::string(why, static_cast<std::size_t>(got)) +
                    ": this host does not allow network namespaces (run as root on a host, or "
                    "in scripts/kvm-sandbox)"};
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        return {false, true, ""};
    }
    return {false, false,
            WIFEXITED(status)
                ? "the namespace's test body failed (status " +
                      std::to_string(WEXITSTATUS(status)) + "), see above"
                : "the namespace's test body died of signal " + std::to_string(WTERMSIG(status))};
}

}  // namespace netns_test

#define IN_FRESH_NETNS(...)                                                               \
    do {                                                                                  \
        const auto outcome_ = netns_test::run([&] __VA_ARGS__, std::chrono::seconds(60)); \
        if (outcome_.skipped) {                                                           \
            GTEST_SKIP() << outcome_.message;                                             \
        }                                                                                 \
        EXPECT_TRUE(outcome_.passed) << outcome_.message;                                 \
    } while (0)
