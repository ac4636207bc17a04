#pragma once
// Calls the vmms' control APIs (docs/vmm.md) off vmd's loop, so that a vmm
// that does not answer never stalls the loop, and never the calls to other
// vmms: a few threads serve the calls, one socket at a time each, so a hung
// vmm holds one thread (its own calls wait behind it) and the others go on.
// Each result comes back on the loop.

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "supervisor/vmd/event_loop.h"

namespace supervisor::vmd {

class VmmClient {
  public:
    struct Timeouts {
        std::chrono::seconds connect{2};
        std::chrono::seconds read{5};
        std::chrono::seconds write{2};
    };
    // What came back: an HTTP status and body, or `error` (status 0) when
    // the vmm did not answer.
    struct Reply {
        int status = 0;
        std::string body;
        std::string error;
    };

    explicit VmmClient(EventLoop& loop);  // the default timeouts, 4 threads
    VmmClient(EventLoop& loop, Timeouts timeouts, int threads);
    ~VmmClient();  // waits for the calls in flight (each bounded by the timeouts)
    VmmClient(const VmmClient&) = delete;
    VmmClient& operator=(const VmmClient&) = delete;

    // `done(error)` on the loop: empty when the vmm accepted the action.
    void act(const std::string& socket, const std::string& action,
             std::function<void(const std::string& error)> done);

    // GET `path`: `done(body)` on the loop, empty when the vmm did not answer
    // 200 (the reason is not needed: the caller reads again later).
    void get(const std::string& socket, const std::string& path,
             std::function<void(std::optional<std::string> body)> done);

    // Any request ("GET", "/metrics", ""); `done` on the loop.
    void request(const std::string& socket, const std::string& method, const std::string& path,
                 const std::string& body, std::function<void(const Reply&)> done);

  private:
    struct Call {
        std::string socket;
        std::string method;
        std::string path;
        std::string body;
        std::function<void(const Reply&)> done;
    };
    void serve();
    Reply perform(const Call& call) const;

    EventLoop& loop_;
    const Timeouts timeouts_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Call> calls_;
    std::set<std::string> busy_;  // sockets a thread is calling now
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace supervisor::vmd
