#pragma once
// Lifecycle events as JSON lines ({"event": NAME, "vm": ID, "time": UNIX_MS,
// ...}) to a file descriptor or file, for the supervisor. Thread-safe.
// Writing never fails the VM: a broken pipe only stops further events.

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "base/fd.h"
#include "vmm/config.h"

namespace vmm {

class EventLog {
  public:
    // Opens the target (throws InvalidInput for a path that cannot be
    // created or an fd that is not open); kNone gives a log that drops all.
    EventLog(const EventsConfig& config, std::string vm_id);

    void emit(const std::string& event, nlohmann::json fields = nlohmann::json::object());

  private:
    std::mutex mutex_;
    base::Fd fd_;
    bool enabled_ = false;
    std::string vm_id_;
};

}  // namespace vmm
