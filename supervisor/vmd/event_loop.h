#pragma once
// vmd's one event loop (libevent): the API socket, the vmm processes'
// pidfds, the events files, every deadline. Everything that touches the
// database runs on it; other threads (copies, conversions, calls to a
// vmm's API) hand their results back with post().

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "base/fd.h"

struct event_base;
struct event;

namespace supervisor::vmd {

class EventLoop {
  public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    event_base* base() const { return base_.get(); }

    // Runs until stop() (or SIGTERM/SIGINT once on_signal is set).
    void run();
    void stop();

    // Runs `fn` on the loop's thread soon. Thread-safe.
    void post(std::function<void()> fn);

    // A one-shot timer, re-armable, disarmed when destroyed.
    class Timer {
      public:
        Timer(EventLoop& loop, std::function<void()> fn);
        ~Timer();
        Timer(const Timer&) = delete;
        Timer& operator=(const Timer&) = delete;
        void arm(std::chrono::milliseconds delay);
        void disarm();
        bool armed() const;

      private:
        std::function<void()> fn_;
        event* event_ = nullptr;
    };

    // Calls `fn` whenever `fd` is readable (or writable: a non-blocking
    // connect's end), until destroyed. `fn` may destroy the Watch.
    class Watch {
      public:
        enum class On { kReadable, kWritable };
        Watch(EventLoop& loop, int fd, std::function<void()> fn, On on = On::kReadable);
        ~Watch();
        Watch(const Watch&) = delete;
        Watch& operator=(const Watch&) = delete;

      private:
        std::function<void()> fn_;
        event* event_ = nullptr;
    };

    // Calls `fn` on the loop when one of `signals` arrives.
    void on_signals(const std::vector<int>& signals, std::function<void(int)> fn);

  private:
    void run_posted();

    std::unique_ptr<event_base, void (*)(event_base*)> base_;
    base::Fd wake_fd_;
    std::unique_ptr<Watch> wake_watch_;
    std::mutex mutex_;
    std::vector<std::function<void()>> posted_;
    std::function<void(int)> signal_fn_;
    std::vector<event*> signal_events_;
};

}  // namespace supervisor::vmd
