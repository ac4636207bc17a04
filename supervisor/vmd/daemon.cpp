#include "supervisor/vmd/daemon.h"

#include <signal.h>

#include <filesystem>

#include "base/error.h"
#include "supervisor/lifecycle/state.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/schema.h"
#include "supervisor/vmd/files.h"
#include "supervisor/vmd/log.h"

namespace supervisor::vmd {

namespace {

constexpr const char* kVersion = "0.1.0";

std::unique_ptr<StateLock> lock_state_dir(const Options& options) {
    ensure_dir(options.state_dir, 0700);
    return std::make_unique<StateLock>(options.state_dir);
}

Layout layout_of(const Options& options) {
    std::string run_dir = options.run_dir;
    if (run_dir.empty()) {
        run_dir = std::filesystem::path(options.socket).parent_path();
    }
    return Layout{options.state_dir, run_dir};
}

}  // namespace

Daemon::Daemon(Options options)
    : options_(std::move(options)),
      layout_(layout_of(options_)),
      lock_(lock_state_dir(options_)),
      db_(layout_.database()),
      cgroups_(options_.cgroup_root),
      workers_(loop_),
      vmm_(loop_),
      network_(options_),
      ctx_{options_, layout_, loop_, db_, workers_, vmm_, cgroups_, network_} {
    store::migrate(db_);
    for (const auto& dir : {layout_.images_dir(), layout_.volumes_dir(), layout_.instances_dir()}) {
        ensure_dir(dir, 0700);
    }
    ensure_dir(std::filesystem::path(options_.socket).parent_path(), 0755);
    ensure_dir(layout_.sockets_dir(), 0700);
    meter_ = std::make_unique<Meter>(ctx_, options_.price_sheet.empty()
                                               ? default_price_sheet()
                                               : metering::load_price_sheet(options_.price_sheet));
    ctx_.meter = meter_.get();
    supervisor_ = std::make_unique<Supervisor>(ctx_);
    images_ = std::make_unique<ImageService>(ctx_);
    volumes_ = std::make_unique<VolumeService>(ctx_);
    instances_ = std::make_unique<InstanceService>(ctx_, *supervisor_);
    usage_ = std::make_unique<UsageService>(ctx_, meter_->price_sheet());
    api_ = std::make_unique<Api>(
        *images_, *volumes_, *instances_, [this] { return health(); }, usage_.get());
}

Daemon::~Daemon() {
    metrics_server_.reset();
    server_.reset();
    housekeeping_.reset();
}

void Daemon::start() {
    log_line("vmd " + std::string(kVersion) + " on " + options_.state_dir + " (pid " +
             std::to_string(getpid()) + "), vmm " + options_.vmm + ", cgroups under " +
             cgroups_.path() + ", " + std::to_string(options_.max_memory_mib) +
             " MiB for instances");
    cgroups_.prepare();
    if (!cgroups_.missing_controllers().empty()) {
        std::string missing;
        for (const auto& c : cgroups_.missing_controllers()) {
            missing += (missing.empty() ? "" : ", ") + c;
        }
        log_line("cgroup controllers " + missing + " are not available under " + cgroups_.path() +
                 ": instances run without those limits (enable them in the parent's "
                 "cgroup.subtree_control)");
    }
    images_->recover();
    volumes_->recover();
    // Before the recovery, which may relaunch a vmm or release a dead one's tap.
    network_.start(db_);
    supervisor_->recover();
    meter_->start();
    listen_for_metrics();
    base::UnixHttpServer::Options server;
    server.socket_path = options_.socket;
    server.mode = 0666;
    server_ = std::make_unique<base::UnixHttpServer>(
        loop_.base(), server, [this](std::shared_ptr<base::HttpRequest> r) { serve(r); });
    housekeeping_ = std::make_unique<EventLoop::Timer>(loop_, [this] {
        supervisor_->housekeeping();
        housekeeping_->arm(std::chrono::seconds(5));
    });
    housekeeping_->arm(std::chrono::seconds(5));
    log_line("listening on " + options_.socket);
}

void Daemon::run() {
    loop_.on_signals({SIGTERM, SIGINT}, [this](int sig) {
        log_line(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                 "; the instances keep running");
        loop_.stop();
    });
    loop_.run();
}

void Daemon::listen_for_metrics() {
    if (options_.metrics_listen.empty()) {
        return;
    }
    base::UnixHttpServer::Options metrics;
    metrics.tcp_address = options_.metrics_listen;
    metrics.max_body_bytes = 4096;
    metrics.io_timeout_s = 10;
    try {
        metrics_server_ = std::make_unique<base::UnixHttpServer>(
            loop_.base(), metrics,
            [this](std::shared_ptr<base::HttpRequest> r) { serve_metrics(r); });
    } catch (const base::InvalidInput& e) {
        throw base::InvalidInput(std::string("--metrics-listen: ") + e.what());
    } catch (const base::HostError& e) {
        throw base::HostError(std::string("--metrics-listen: ") + e.what());
    }
    const auto colon = options_.metrics_listen.rfind(':');
    log_line("serving metrics at GET /metrics on " + options_.metrics_listen.substr(0, colon) +
             ":" + std::to_string(metrics_server_->tcp_port()));
}

// Only GET /metrics: the Prometheus text of the metrics file. The listener
// may face a network, so nothing else of vmd's API is reachable through it.
void Daemon::serve_metrics(std::shared_ptr<base::HttpRequest> request) {
    if (request->method() != "GET" || request->path() != "/metrics") {
        request->reply_error(404, "only GET /metrics is served here");
        return;
    }
    request->reply_text(200, meter_->prometheus(), "text/plain; version=0.0.4; charset=utf-8");
}

void Daemon::serve(std::shared_ptr<base::HttpRequest> request) {
    ApiRequest r;
    r.caller.credentials = request->peer();
    r.method = request->method();
    r.path = request->path();
    r.body = request->body();
    if (auto query = request->query_params()) {
        r.query = std::move(*query);
    } else {
        request->reply_error(400, "the query string is malformed");
        return;
    }
    api_->handle(r, [request](const ApiResponse& response) {
        if (response.text) {
            request->reply_text(response.status, *response.text, "text/plain; charset=utf-8",
                                response.headers);
        } else {
            request->reply_json(response.status, response.json);
        }
    });
}

nlohmann::json Daemon::health() {
    nlohmann::json counts = nlohmann::json::object();
    for (auto s : lifecycle::kAllStates) {
        counts[lifecycle::name(s)] = 0;
    }
    for (const auto& r : store::instances::list(db_)) {
        counts[r.state] = counts.value(r.state, 0) + 1;
    }
    return {
        {"version", kVersion},
        {"pid", getpid()},
        {"instances", counts},
        {"uptime_s", std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now() - started_)
                         .count()},
        {"memory_mib",
         {{"max", options_.max_memory_mib}, {"in_use", supervisor_->memory_in_use_mib()}}},
        {"cgroup_root", cgroups_.path()},
        {"cgroup_controllers_missing", cgroups_.missing_controllers()},
    };
}

}  // namespace supervisor::vmd
