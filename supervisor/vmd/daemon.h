#pragma once
// vmd put together: the state lock, the store, the cgroup root, the loop,
// the services and the API socket. main() builds one and runs it.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/unix_http_server.h"
#include "supervisor/store/sqlite.h"
#include "supervisor/vmd/api.h"
#include "supervisor/vmd/cgroup.h"
#include "supervisor/vmd/context.h"
#include "supervisor/vmd/event_loop.h"
#include "supervisor/vmd/image_service.h"
#include "supervisor/vmd/instance_service.h"
#include "supervisor/vmd/meter.h"
#include "supervisor/vmd/options.h"
#include "supervisor/vmd/state_lock.h"
#include "supervisor/vmd/supervisor.h"
#include "supervisor/vmd/vmm_client.h"
#include "supervisor/vmd/volume_service.h"
#include "supervisor/vmd/workers.h"

namespace supervisor::vmd {

class Daemon {
  public:
    // Takes the state lock (a second vmd stops here) and opens the store.
    // Throws base::Error.
    explicit Daemon(Options options);
    ~Daemon();

    // Prepares the cgroup root, brings the instances back to the truth
    // (docs/vmd.md, "Crash safety"), then listens on the socket (and on
    // --metrics-listen: an address that cannot be bound stops vmd).
    void start();
    // Runs until SIGTERM or SIGINT; the instances keep running.
    void run();

    nlohmann::json health();
    Api& api() { return *api_; }
    store::Database& database() { return db_; }
    Supervisor& supervisor() { return *supervisor_; }
    Meter& meter() { return *meter_; }
    EventLoop& loop() { return loop_; }

  private:
    void serve(std::shared_ptr<base::HttpRequest> request);
    void serve_metrics(std::shared_ptr<base::HttpRequest> request);
    void listen_for_metrics();

    Options options_;
    Layout layout_;
    std::unique_ptr<StateLock> lock_;
    EventLoop loop_;
    store::Database db_;
    CgroupRoot cgroups_;
    Workers workers_;
    VmmClient vmm_;
    InstanceNetwork network_;
    Context ctx_;
    std::unique_ptr<Meter> meter_;
    std::unique_ptr<Supervisor> supervisor_;
    std::unique_ptr<ImageService> images_;
    std::unique_ptr<VolumeService> volumes_;
    std::unique_ptr<InstanceService> instances_;
    std::unique_ptr<UsageService> usage_;
    std::unique_ptr<Api> api_;
    std::unique_ptr<base::UnixHttpServer> server_;
    std::unique_ptr<base::UnixHttpServer> metrics_server_;  // --metrics-listen
    std::unique_ptr<EventLoop::Timer> housekeeping_;
    std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
};

}  // namespace supervisor::vmd
