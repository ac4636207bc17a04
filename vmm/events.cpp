#include "vmm/events.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace vmm {

EventLog::EventLog(const EventsConfig& config, std::string vm_id, Limits limits)
    : vm_id_(std::move(vm_id)),
      limits_(std::move(limits)),
      tokens_(limits_.guest_burst),
      refilled_(limits_.clock()) {
    base::Fd fd;
    switch (config.kind) {
        case EventsConfig::Kind::kNone:
            return;
        case EventsConfig::Kind::kFd:
            if (fcntl(config.fd, F_GETFD) < 0) {
                throw base::InvalidInput("--events " + std::to_string(config.fd) +
                                         ": not an open file descriptor");
            }
            fd.reset(fcntl(config.fd, F_DUPFD_CLOEXEC, 0));
            if (!fd.valid()) {
                base::throw_errno("--events " + std::to_string(config.fd) + ": dup");
            }
            close(config.fd);
            break;
        case EventsConfig::Kind::kPath:
            fd.reset(open(config.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
            if (!fd.valid()) {
                throw base::InvalidInput("--events " + config.path + ": " + std::strerror(errno));
            }
            break;
    }
    writer_ = std::make_unique<AsyncWriter>(std::move(fd), limits_.queue_bytes, "vmm-events",
                                            limits_.flush_timeout);
}

EventLog::~EventLog() = default;

bool EventLog::queue(const std::string& event, nlohmann::json& fields, std::size_t limit) {
    fields["event"] = event;
    fields["vm"] = vm_id_;
    fields["time"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    // replace: a string that is not UTF-8 must cost a character, not the VMM.
    const std::string line =
        fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (!writer_->push(line, limit)) {
        ++counters_.dropped_queue_full;
        return false;
    }
    ++counters_.lines;
    return true;
}

void EventLog::emit(const std::string& event, nlohmann::json fields) {
    std::lock_guard lock(mutex_);
    if (writer_ == nullptr) {
        return;
    }
    if (!queue(event, fields, limits_.queue_bytes)) {
        ++counters_.lifecycle_dropped;
    }
}

void EventLog::emit_guest(const std::string& event, nlohmann::json fields) {
    std::lock_guard lock(mutex_);
    if (writer_ == nullptr) {
        return;
    }
    if (event == last_guest_event_ && fields == last_guest_fields_) {
        ++counters_.guest_deduplicated;
        ++suppressed_;
        return;
    }
    last_guest_event_ = event;
    last_guest_fields_ = fields;
    const auto now = limits_.clock();
    const double elapsed = std::chrono::duration<double>(now - refilled_).count();
    refilled_ = now;
    tokens_ = std::min<double>(limits_.guest_burst, tokens_ + elapsed * limits_.guest_per_second);
    if (tokens_ < 1) {
        ++counters_.guest_rate_limited;
        ++suppressed_;
        return;
    }
    tokens_ -= 1;
    if (suppressed_ != 0) {
        fields["suppressed"] = suppressed_;
    }
    // Guest-driven lines may fill a quarter of the queue: the rest is kept
    // for the lifecycle events a stalled reader will still want.
    if (queue(event, fields, limits_.queue_bytes / 4)) {
        suppressed_ = 0;
    } else {
        ++suppressed_;
    }
}

EventLog::Counters EventLog::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

nlohmann::json EventLog::metrics() const {
    const Counters c = counters();
    const AsyncWriter::Counters w =
        writer_ != nullptr ? writer_->counters() : AsyncWriter::Counters{};
    return {
        {"lines", c.lines},
        {"guest_deduplicated", c.guest_deduplicated},
        {"guest_rate_limited", c.guest_rate_limited},
        {"dropped_queue_full", c.dropped_queue_full},
        {"lifecycle_dropped", c.lifecycle_dropped},
        {"written_bytes", w.written_bytes},
        {"dropped_bytes", w.dropped_bytes},
        {"write_errors", w.write_errors},
    };
}

}  // namespace vmm
