#pragma once
// IoThread: the one thread per VM that drives every virtio device. It owns
// the io_uring (base::IoRing) through which all device I/O goes: the
// queue-kick eventfds are polled through it, disk requests and tap frames
// are submitted to it, and their completions run on this thread.
//
// Set-up (watch(), and devices submitting nothing yet) happens before
// start(); after start() only the I/O thread touches the ring.

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "base/io_ring.h"

namespace vmm {

class IoThread {
  public:
    explicit IoThread(unsigned ring_entries = 256);
    ~IoThread();  // stop()
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

    base::IoRing& ring() { return *ring_; }

    // Before start(): each time eventfd `fd` is signalled, drain it and call
    // `on_signal` on the I/O thread.
    void watch(int fd, std::function<void()> on_signal);
    // Before start(): `hook` runs on the I/O thread once when it starts and
    // `after_each_round` after every round of completions (the devices raise
    // the interrupts their completions deferred there).
    void on_start(std::function<void()> hook);
    void after_each_round(std::function<void()> hook);

    void start();
    // Ends the thread; operations still in flight are waited for by the
    // ring's destructor. Idempotent.
    void stop();

  private:
    struct Watch {
        int fd;
        std::function<void()> on_signal;
    };
    void arm(Watch& w);
    void loop();

    std::unique_ptr<base::IoRing> ring_;
    base::Fd wake_;  // signalled by stop()
    std::vector<std::unique_ptr<Watch>> watches_;
    std::vector<std::function<void()>> start_hooks_;
    std::vector<std::function<void()>> round_hooks_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace vmm
