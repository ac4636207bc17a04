#pragma once
// The instance requests of the API: run (all or nothing, client tokens),
// start, stop, reboot, terminate, wait, console, list and show. Checks the
// request and the host's capacity, then hands the change to the Supervisor,
// and with `wait` answers once the action is done.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "supervisor/store/records.h"
#include "supervisor/vmd/caller.h"
#include "supervisor/vmd/context.h"
#include "supervisor/vmd/reply.h"
#include "supervisor/vmd/supervisor.h"

namespace supervisor::vmd {

struct ConsoleChunk {
    std::string text;
    std::int64_t next_offset = 0;
};

class InstanceService {
  public:
    InstanceService(Context& context, Supervisor& supervisor)
        : ctx_(context), supervisor_(supervisor) {}

    nlohmann::json list(const Caller& caller);
    nlohmann::json get(const Caller& caller, const std::string& ref);
    void run(const Caller& caller, const std::string& body, bool wait, Reply reply);
    void start(const Caller& caller, const std::string& ref, const std::string& body, bool wait,
               Reply reply);
    void stop(const Caller& caller, const std::string& ref, const std::string& body, bool wait,
              Reply reply);
    void reboot(const Caller& caller, const std::string& ref, const std::string& body, bool wait,
                Reply reply);
    void terminate(const Caller& caller, const std::string& ref, const std::string& body, bool wait,
                   Reply reply);
    void wait(const Caller& caller, const std::string& ref, const std::string& state,
              std::int64_t timeout_s, Reply reply);
    ConsoleChunk console(const Caller& caller, const std::string& ref, std::int64_t offset);

    static constexpr std::int64_t kMaxCount = 64;
    static constexpr std::int64_t kConsoleChunk = 1 << 20;

  private:
    nlohmann::json view(const store::InstanceRecord& instance);
    nlohmann::json view(const std::string& id);
    // Answers once every instance is in `target` or one cannot get there.
    void wait_all(const std::vector<std::string>& ids, lifecycle::State target,
                  std::chrono::milliseconds timeout, int status, Reply reply);
    void wait_one(const std::string& id, lifecycle::State target, std::chrono::milliseconds timeout,
                  Reply reply);
    // Throws 409 naming what is short when `count` instances of `memory_mib`
    // (and, persistent, copies of `image`) do not fit.
    void check_capacity(std::int64_t count, std::int64_t memory_mib,
                        const store::ImageRecord* persistent_image);
    // Throws 409 when the pool has fewer than `count` free addresses.
    void check_addresses(std::int64_t count);

    Context& ctx_;
    Supervisor& supervisor_;
};

}  // namespace supervisor::vmd
