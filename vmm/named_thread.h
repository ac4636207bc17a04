#pragma once
// Starting a thread the way the error rule (base/error.h) wants it: the
// std::system_error that std::thread throws when the host refuses a thread
// (EAGAIN: out of memory or over RLIMIT_NPROC / pids.max) becomes a
// base::HostError that names the thread, where it arises. The thread gets
// `name` (at most 15 characters), as top and /proc/PID/task show it.

#include <pthread.h>

#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include "base/error.h"

namespace vmm {

template <class F>
std::thread start_named_thread(const char* name, F&& body) {
    std::thread thread;
    try {
        thread = std::thread(std::forward<F>(body));
    } catch (const std::system_error& e) {
        throw base::HostError(std::string("cannot start the ") + name +
                              " thread: " + e.code().message() +
                              " (the host is out of memory or threads for this user)");
    }
    pthread_setname_np(thread.native_handle(), name);
    return thread;
}

}  // namespace vmm
