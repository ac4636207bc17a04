#pragma once
// The tcp half of a readiness probe (docs/vmd.md, "Readiness"): knocks on
// ADDRESS:PORT until a TCP connect succeeds, a non-blocking connect at a
// time on vmd's loop (never blocking it), each given its own timeout, the
// next one `interval` after a refusal. Stops at the answer or when
// destroyed; the owner decides how long to keep it (the boot deadline).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/fd.h"
#include "net/ipv4.h"
#include "supervisor/vmd/event_loop.h"

namespace supervisor::vmd {

class TcpProbe {
  public:
    struct Timing {
        std::chrono::milliseconds interval{250};
        std::chrono::milliseconds attempt_timeout{1000};
    };

    // Starts knocking on the loop's next turn. `on_answer` runs on the loop once, at the
    // first connect that succeeds; it may destroy the probe.
    TcpProbe(EventLoop& loop, net::Ipv4Address address, std::uint16_t port,
             std::function<void()> on_answer, Timing timing);
    TcpProbe(EventLoop& loop, net::Ipv4Address address, std::uint16_t port,
             std::function<void()> on_answer)
        : TcpProbe(loop, address, port, std::move(on_answer), Timing{}) {}
    ~TcpProbe();
    TcpProbe(const TcpProbe&) = delete;
    TcpProbe& operator=(const TcpProbe&) = delete;

    // "198.18.0.5:22"
    const std::string& target() const { return target_; }
    bool answered() const { return answered_; }
    std::uint64_t attempts() const { return attempts_; }

  private:
    void attempt();
    void on_connect_end();
    void on_timer();
    void answer();

    EventLoop& loop_;
    net::Ipv4Address address_;
    std::uint16_t port_;
    std::string target_;
    std::function<void()> on_answer_;
    Timing timing_;
    base::Fd socket_;  // the attempt in flight, if any
    std::unique_ptr<EventLoop::Watch> watch_;
    EventLoop::Timer timer_;
    std::uint64_t attempts_ = 0;
    bool answered_ = false;
};

}  // namespace supervisor::vmd
