#pragma once
// Calls a vmm's control API (PUT /vm/actions, GET /metrics, docs/vmm.md) from a thread
// of its own, so that a vmm that does not answer never stalls vmd's loop;
// each result comes back on the loop.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "supervisor/vmd/event_loop.h"

namespace supervisor::vmd {

class VmmClient {
  public:
    explicit VmmClient(EventLoop& loop);
    ~VmmClient();
    VmmClient(const VmmClient&) = delete;
    VmmClient& operator=(const VmmClient&) = delete;

    // `done(error)` on the loop: empty when the vmm accepted the action.
    void act(const std::string& socket, const std::string& action,
             std::function<void(const std::string& error)> done);
    // GET `path`: `done(body)` on the loop, empty when the vmm did not answer
    // 200 (the reason is not needed: the caller reads again later).
    void get(const std::string& socket, const std::string& path,
             std::function<void(std::optional<std::string> body)> done);

  private:
    struct Call {
        std::string socket;
        std::string action;  // empty for a GET of `path`
        std::string path;
        std::function<void(const std::string&)> done;
        std::function<void(std::optional<std::string>)> got;
    };
    void serve();

    EventLoop& loop_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Call> calls_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace supervisor::vmd
