#pragma once
// IoThread: the one thread per VM that drives every virtio device. It owns
// the io_uring (storage::IoRing) through which all device I/O goes: the
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

#include "storage/io_ring.h"
#include "vmm/fd.h"

namespace vmm {

class IoThread {
  public:
    explicit IoThread(unsigned ring_entries = 256);
    ~IoThread();  // stop()
    IoThread(const IoThread&) = delete;
    IoThread& operator=(const IoThread&) = delete;

    storage::IoRing& ring() { return *ring_; }

    // Before start(): each time eventfd `fd` is signalled, drain it and call
    // `on_signal` on the I/O thread.
    void watch(int fd, std::function<void()> on_signal);

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

    std::unique_ptr<storage::IoRing> ring_;
    Fd wake_;  // signalled by stop()
    std::vector<std::unique_ptr<Watch>> watches_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace vmm
