#include "supervisor/vmd/event_loop.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/error.h"

namespace supervisor::vmd {

EventLoop::EventLoop()
    : base_(event_base_new(), event_base_free), wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (base_ == nullptr || !wake_fd_.valid()) {
        throw base::HostError("cannot set up vmd's event loop");
    }
    wake_watch_ = std::make_unique<Watch>(*this, wake_fd_.get(), [this] {
        std::uint64_t n;
        [[maybe_unused]] ssize_t r = read(wake_fd_.get(), &n, sizeof n);
        run_posted();
    });
}

EventLoop::~EventLoop() {
    for (event* e : signal_events_) {
        event_free(e);
    }
    wake_watch_.reset();
}

void EventLoop::run() {
    event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY);
}

void EventLoop::stop() {
    event_base_loopbreak(base_.get());
}

void EventLoop::post(std::function<void()> fn) {
    {
        std::lock_guard lock(mutex_);
        posted_.push_back(std::move(fn));
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = write(wake_fd_.get(), &one, sizeof one);
}

void EventLoop::run_posted() {
    std::vector<std::function<void()>> jobs;
    {
        std::lock_guard lock(mutex_);
        jobs.swap(posted_);
    }
    for (auto& job : jobs) {
        job();
    }
}

void EventLoop::on_signals(const std::vector<int>& signals, std::function<void(int)> fn) {
    signal_fn_ = std::move(fn);
    for (int sig : signals) {
        event* e = evsignal_new(
            base_.get(), sig,
            [](evutil_socket_t s, short, void* self) {
                static_cast<EventLoop*>(self)->signal_fn_(static_cast<int>(s));
            },
            this);
        if (e == nullptr || event_add(e, nullptr) != 0) {
            throw base::HostError("cannot watch signal " + std::to_string(sig));
        }
        signal_events_.push_back(e);
    }
}

EventLoop::Timer::Timer(EventLoop& loop, std::function<void()> fn) : fn_(std::move(fn)) {
    event_ = evtimer_new(
        loop.base(),
        [](evutil_socket_t, short, void* self) {
            auto* timer = static_cast<Timer*>(self);
            // The callback may destroy the timer: call a copy.
            auto callback = timer->fn_;
            callback();
        },
        this);
    if (event_ == nullptr) {
        throw base::HostError("cannot create a timer");
    }
}

EventLoop::Timer::~Timer() {
    event_free(event_);
}

void EventLoop::Timer::arm(std::chrono::milliseconds delay) {
    const auto ms = std::max<std::int64_t>(delay.count(), 0);
    timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    evtimer_add(event_, &tv);
}

void EventLoop::Timer::disarm() {
    evtimer_del(event_);
}

bool EventLoop::Timer::armed() const {
    return evtimer_pending(event_, nullptr) != 0;
}

EventLoop::Watch::Watch(EventLoop& loop, int fd, std::function<void()> fn, On on)
    : fn_(std::move(fn)) {
    event_ = event_new(
        loop.base(), fd, (on == On::kWritable ? EV_WRITE : EV_READ) | EV_PERSIST,
        [](evutil_socket_t, short, void* self) {
            auto callback = static_cast<Watch*>(self)->fn_;
            callback();
        },
        this);
    if (event_ == nullptr || event_add(event_, nullptr) != 0) {
        throw base::HostError("cannot watch file descriptor " + std::to_string(fd));
    }
}

EventLoop::Watch::~Watch() {
    event_free(event_);
}

}  // namespace supervisor::vmd
