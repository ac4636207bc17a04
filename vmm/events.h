#pragma once
// Events as JSON lines ({"event": NAME, "vm": ID, "time": UNIX_MS, ...}) to
// a file descriptor or file, for the supervisor. Thread-safe.
//
// Two kinds, because the supervisor follows each VM by them:
//  * lifecycle events (emit): the VMM's own account of the VM (starting,
//    kernel-started, ready, rebooting, panic, poweroff, exit, disk-error,
//    paused, ...). Few per boot; never rate-limited or deduplicated.
//  * guest-driven events (emit_guest): what a guest can trigger at will,
//    as often as it likes (a progress code per byte written to port 0x402).
//    One identical to the guest-driven event before it is dropped, and the
//    rest pass a token bucket (Limits::guest_burst, then guest_per_second);
//    the next one written carries "suppressed": N, the number dropped since
//    the last one written.
// Lines are written by a thread of their own (AsyncWriter), so no caller
// ever waits for the reader or the disk: with a reader that stops or a disk
// that fills, lines are dropped and counted (metrics()), guest-driven ones
// first (they may fill only a quarter of the queue).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "vmm/async_writer.h"
#include "vmm/config.h"

namespace vmm {

class EventLog {
  public:
    struct Limits {
        std::size_t queue_bytes = 256 * 1024;
        unsigned guest_burst = 32;
        double guest_per_second = 2;
        // How long the destructor waits for a slow reader to take the rest.
        std::chrono::milliseconds flush_timeout{2000};
        std::function<std::chrono::steady_clock::time_point()> clock =
            std::chrono::steady_clock::now;
    };
    struct Counters {
        std::uint64_t lines = 0;               // queued for writing
        std::uint64_t guest_deduplicated = 0;  // identical to the guest event before
        std::uint64_t guest_rate_limited = 0;  // over the token bucket
        std::uint64_t dropped_queue_full = 0;  // the reader or the disk did not keep up
        std::uint64_t lifecycle_dropped = 0;   // of those, lifecycle events (queue full)
    };

    // Opens the target (throws InvalidInput for a path that cannot be
    // created or an fd that is not open); kNone gives a log that drops all.
    EventLog(const EventsConfig& config, std::string vm_id, Limits limits);
    EventLog(const EventsConfig& config, std::string vm_id) : EventLog(config, vm_id, Limits{}) {}
    ~EventLog();  // waits up to Limits::flush_timeout for the reader

    void emit(const std::string& event, nlohmann::json fields = nlohmann::json::object());
    void emit_guest(const std::string& event, nlohmann::json fields = nlohmann::json::object());

    Counters counters() const;
    // For GET /metrics: the counters above plus the writer's bytes and errors.
    nlohmann::json metrics() const;

  private:
    bool queue(const std::string& event, nlohmann::json& fields, std::size_t limit);

    const std::string vm_id_;
    Limits limits_;
    std::unique_ptr<AsyncWriter> writer_;  // null: events go nowhere

    mutable std::mutex mutex_;  // -> the writer's queue lock (both leaves, machine.h)
    Counters counters_;
    std::string last_guest_event_;  // the last guest-driven event, as compared
    nlohmann::json last_guest_fields_;
    double tokens_;
    std::chrono::steady_clock::time_point refilled_;
    std::uint64_t suppressed_ = 0;  // guest events dropped since the last one written
};

}  // namespace vmm
