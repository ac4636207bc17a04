#include "vmm/events.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/error.h"

namespace vmm {

EventLog::EventLog(const EventsConfig& config, std::string vm_id) : vm_id_(std::move(vm_id)) {
    switch (config.kind) {
        case EventsConfig::Kind::kNone:
            return;
        case EventsConfig::Kind::kFd:
            if (fcntl(config.fd, F_GETFD) < 0) {
                throw base::InvalidInput("--events " + std::to_string(config.fd) +
                                         ": not an open file descriptor");
            }
            fd_.reset(dup(config.fd));
            close(config.fd);
            break;
        case EventsConfig::Kind::kPath:
            fd_.reset(open(config.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
            if (!fd_.valid()) {
                throw base::InvalidInput("--events " + config.path + ": " + std::strerror(errno));
            }
            break;
    }
    fcntl(fd_.get(), F_SETFD, FD_CLOEXEC);
    enabled_ = true;
}

void EventLog::emit(const std::string& event, nlohmann::json fields) {
    std::lock_guard lock(mutex_);
    if (!enabled_) {
        return;
    }
    fields["event"] = event;
    fields["vm"] = vm_id_;
    fields["time"] = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const std::string line = fields.dump() + "\n";
    // One write per line (O_APPEND / pipe writes up to PIPE_BUF are atomic).
    if (write(fd_.get(), line.data(), line.size()) < 0 && errno == EPIPE) {
        enabled_ = false;
    }
}

}  // namespace vmm
