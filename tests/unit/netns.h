#pragma once
// Runs a test body that changes network interfaces in a fresh network
// namespace of a forked child (unshare(CLONE_NEWNET)), so that it never
// touches the host's network. The child's GoogleTest failures print where
// they happen; the child's exit status carries them to the parent. Needs
// root (CAP_SYS_ADMIN and CAP_NET_ADMIN): skipped without.
//
//     TEST(Suite, Name) { IN_FRESH_NETNS({ ...assertions... }); }

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

inline Outcome run(const std::function<void()>& body, std::chrono::seconds timeout) {
    if (geteuid() != 0) {
        return {true, false, "needs root for a network namespace"};
    }
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) {
        return {false, false, std::string("fork: ") + std::strerror(errno)};
    }
    if (pid == 0) {
        int status = 0;
        if (unshare(CLONE_NEWNET) != 0) {
            std::printf("unshare(CLONE_NEWNET): %s\n", std::strerror(errno));
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
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return {false, false, "the namespace's test body ran past its timeout"};
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
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
