#pragma once
// Work that must not run on the event loop (disk copies, conversions,
// opening a user's file): each job on a thread of its own, its completion
// handed back to the loop. Jobs see a cancel flag; destruction cancels and
// joins them all.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include "supervisor/vmd/event_loop.h"

namespace supervisor::vmd {

class Workers {
  public:
    using Cancel = std::shared_ptr<std::atomic<bool>>;
    explicit Workers(EventLoop& loop) : loop_(loop) {}
    ~Workers();
    Workers(const Workers&) = delete;
    Workers& operator=(const Workers&) = delete;

    // `work` runs on a new thread; then `done` runs on the loop (unless the
    // Workers are gone). Returns the job's cancel flag.
    Cancel run(std::function<void(const std::atomic<bool>& cancel)> work,
               std::function<void()> done);
    std::size_t running() const { return threads_.size(); }

  private:
    EventLoop& loop_;
    std::uint64_t next_ = 0;
    std::map<std::uint64_t, std::pair<std::thread, Cancel>> threads_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace supervisor::vmd
