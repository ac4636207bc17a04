#pragma once
// A FIFO whose reader is open but never reads (until drain()): what a
// supervisor or a terminal that stopped looks like to the vmm's output. Its
// pipe buffer fills after 64 KiB; a blocking write then waits for ever.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <future>
#include <string>

namespace vmm::testing {

class StalledReader {
  public:
    StalledReader() {
        path_ = "/tmp/vmm-stalled-" + std::to_string(getpid()) + "-" + std::to_string(++counter());
        unlink(path_.c_str());
        mkfifo(path_.c_str(), 0600);
        fd_ = open(path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    }
    ~StalledReader() {
        close(fd_);
        unlink(path_.c_str());
    }
    bool ok() const { return fd_ >= 0; }
    const std::string& path() const { return path_; }
    // Reads what is there; returns the number of bytes.
    std::size_t drain() {
        char buf[65536];
        std::size_t total = 0;
        ssize_t n;
        while ((n = read(fd_, buf, sizeof buf)) > 0) {
            total += static_cast<std::size_t>(n);
        }
        return total;
    }

  private:
    static int& counter() {
        static int n = 0;
        return n;
    }
    std::string path_;
    int fd_ = -1;
};

// Runs `work` on a thread and waits up to `timeout` for it. When it does
// not finish (it is stuck writing to `reader`), the reader is drained until
// it does, so that a failing test ends instead of hanging; returns whether
// it finished in time.
inline bool finishes_within(std::chrono::milliseconds timeout, StalledReader& reader,
                            std::function<void()> work) {
    auto done = std::async(std::launch::async, std::move(work));
    if (done.wait_for(timeout) == std::future_status::ready) {
        done.get();
        return true;
    }
    while (done.wait_for(std::chrono::milliseconds(10)) != std::future_status::ready) {
        reader.drain();
    }
    return false;
}

}  // namespace vmm::testing
