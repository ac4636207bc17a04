// fake-vmm: a stand-in for the whole vmm process in the supervisor's host
// tests (never for KVM: there is no guest). It takes the vmm's options
// (parsed by the vmm's own parser), opens and locks its disks as the vmm
// does, writes the vmm's events to --events, the console to --serial,
// serves the control API on --api-sock and exits with the vmm's statuses
// (docs/vmm.md).
//
// What the "guest" does is chosen by the test through words of the kernel
// command line (the image's cmdline), all optional:
//
//   fake.ready_ms=N|never    ready N ms after each boot starts (default 50)
//   fake.progress=1          a boot-progress code (as the project's init writes) at each boot
//   fake.panic_ms=N          panic N ms after the first boot starts: exit 3
//   fake.exit_ms=N           exit after N ms with fake.exit_status=S (default 1),
//                            saying fake.exit_message=TEXT on stderr first
//   fake.power_button=off|ignore   off (default): power off fake.poweroff_ms
//                            after the button (default 20): exit 0
//   fake.ctrl_alt_del=reboot|ignore   (default reboot)
//   fake.reboot_ms=N         a reboot takes N ms before the next boot (default 20)
//   fake.disk_error_ms=N     a disk-error event on the first disk after N ms
//   fake.sigterm=exit|ignore SIGTERM ends it with status 7 (default) or not
//   fake.console_bytes=N     N bytes of console output per boot (default 0)
//   fake.busy_ms=N           a thread burns N ms of CPU time from the start
//   fake.exit_busy_ms=N      burns N ms of CPU time as it ends (after its last event)
//   fake.net_rx_bytes=N, fake.net_tx_bytes=N   what GET /metrics reports for
//                            "virtio-net net0" once fake.net_ms=T (default 0)
//                            passed from the start, growing evenly until then
//   fake.exit_net_rx_bytes=N, fake.exit_net_tx_bytes=N   the counters its exit
//                            event carries (as the vmm's do: vmm/exit_event.h); by
//                            default what GET /metrics would answer then
//   fake.metrics=hang        GET /metrics never answers
//   fake.metrics=hold        GET /metrics is answered only as it ends, fake.exit_hold_ms
//                            (default 300) after its exit event, and it exits as long
//                            again after that: an answer older than the exit event's
//                            counters, arriving after them and before the exit

#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "base/unix_http_server.h"
#include "vmm/config.h"

namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct Behaviour {
    std::map<std::string, std::string> words;
    std::string get(const std::string& key, const std::string& fallback) const {
        const auto it = words.find(key);
        return it == words.end() ? fallback : it->second;
    }
    std::int64_t number(const std::string& key, std::int64_t fallback) const {
        const auto v = get(key, "");
        return v.empty() || v == "never" ? fallback : std::stoll(v);
    }
    bool has(const std::string& key) const { return words.count(key) != 0; }
};

Behaviour parse_behaviour(const std::string& cmdline) {
    Behaviour b;
    std::istringstream in(cmdline);
    std::string word;
    while (in >> word) {
        if (word.rfind("fake.", 0) != 0) {
            continue;
        }
        const auto eq = word.find('=');
        b.words[word.substr(5, eq == std::string::npos ? std::string::npos : eq - 5)] =
            eq == std::string::npos ? "" : word.substr(eq + 1);
    }
    return b;
}

// Spins until this thread has used `ms` of CPU time.
void burn_cpu(std::int64_t ms) {
    timespec start{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
    for (;;) {
        timespec now{};
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >= ms) {
            return;
        }
    }
}

class FakeVmm {
  public:
    FakeVmm(vmm::VmConfig config, event_base* loop)
        : config_(std::move(config)), loop_(loop), behaviour_(parse_behaviour(config_.cmdline)) {}

    int run() {
        open_files();
        if (!config_.api_socket.empty()) {
            base::UnixHttpServer::Options options;
            options.socket_path = config_.api_socket;
            options.max_body_bytes = 16 * 1024;
            api_ = std::make_unique<base::UnixHttpServer>(
                loop_, options, [this](std::shared_ptr<base::HttpRequest> r) {
                    const std::string metrics = behaviour_.get("metrics", "");
                    if (r->path() == "/metrics" && (metrics == "hang" || metrics == "hold")) {
                        unanswered_.push_back(r);
                        return;
                    }
                    serve(*r);
                });
        }
        started_ms_ = now_ms();
        if (behaviour_.has("busy_ms")) {
            busy_ = std::thread([ms = behaviour_.number("busy_ms", 0)] { burn_cpu(ms); });
            busy_.detach();
        }
        signals();
        start_boot();
        if (behaviour_.has("panic_ms")) {
            after(behaviour_.number("panic_ms", 0), [this] {
                emit("panic", {{"detail", "fake panic"}});
                std::fprintf(stderr, "vmm: guest kernel panic (boot %d)\n", boots_);
                finish(3);
            });
        }
        if (behaviour_.has("exit_ms")) {
            after(behaviour_.number("exit_ms", 0), [this] {
                const std::string message = behaviour_.get("exit_message", "fake exit");
                std::fprintf(stderr, "vmm: %s\n", message.c_str());
                finish(static_cast<int>(behaviour_.number("exit_status", 1)));
            });
        }
        if (behaviour_.has("disk_error_ms")) {
            after(behaviour_.number("disk_error_ms", 0), [this] {
                emit("disk-error", {{"disk", config_.disks.empty() ? "disk0" : disk_id(0)},
                                    {"op", "write"},
                                    {"error", "Input/output error"},
                                    {"errors", 1}});
            });
        }
        event_base_dispatch(loop_);
        unanswered_.clear();
        api_.reset();
        return status_;
    }

  private:
    std::string disk_id(std::size_t i) const {
        return config_.disks[i].id.empty() ? "disk" + std::to_string(i) : config_.disks[i].id;
    }

    [[noreturn]] void fail(int status, const std::string& message) {
        std::fprintf(stderr, "vmm: %s\n", message.c_str());
        std::exit(status);
    }

    void open_files() {
        if (access(config_.kernel.c_str(), R_OK) != 0) {
            fail(2, "cannot open kernel " + config_.kernel + ": " + std::strerror(errno));
        }
        for (std::size_t i = 0; i < config_.disks.size(); ++i) {
            const auto& d = config_.disks[i];
            const bool writable = !d.read_only && !d.ephemeral;
            base::Fd fd(open(d.path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC));
            if (!fd.valid()) {
                fail(2, "--disk " + d.path + ": " + std::strerror(errno));
            }
            if (flock(fd.get(), (writable ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
                fail(1, "--disk " + d.path + " is in use by another vmm (flock)");
            }
            if (d.ephemeral) {
                const char* tmp = std::getenv("TMPDIR");
                std::string templ =
                    std::string(tmp != nullptr ? tmp : "/var/tmp") + "/vmm-overlay-XXXXXX";
                base::Fd overlay(mkstemp(templ.data()));
                if (!overlay.valid()) {
                    fail(1, "cannot create the overlay in " + templ + ": " + std::strerror(errno));
                }
                unlink(templ.c_str());
                disks_.push_back(std::move(overlay));
            }
            disks_.push_back(std::move(fd));
        }
        if (config_.serial.kind == vmm::SerialConfig::Kind::kFile) {
            serial_.reset(
                open(config_.serial.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
            if (!serial_.valid()) {
                fail(2, "--serial file:" + config_.serial.path + ": " + std::strerror(errno));
            }
        }
        if (config_.events.kind == vmm::EventsConfig::Kind::kPath) {
            events_.reset(
                open(config_.events.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
            if (!events_.valid()) {
                fail(2, "--events " + config_.events.path + ": " + std::strerror(errno));
            }
        }
        std::fprintf(stderr, "fake-vmm: pid %d, TMPDIR=%s\n", getpid(),
                     std::getenv("TMPDIR") != nullptr ? std::getenv("TMPDIR") : "");
    }

    void emit(const std::string& event, nlohmann::json fields = nlohmann::json::object()) {
        fields["event"] = event;
        fields["vm"] = config_.id;
        fields["time"] = now_ms();
        const std::string line = fields.dump() + "\n";
        if (events_.valid()) {
            [[maybe_unused]] ssize_t n = write(events_.get(), line.data(), line.size());
        }
    }

    void console(const std::string& text) {
        if (serial_.valid()) {
            [[maybe_unused]] ssize_t n = write(serial_.get(), text.data(), text.size());
        }
    }

    void after(std::int64_t ms, std::function<void()> fn) {
        auto* holder = new std::function<void()>(std::move(fn));
        timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
        event_base_once(
            loop_, -1, EV_TIMEOUT,
            [](evutil_socket_t, short, void* arg) {
                auto* f = static_cast<std::function<void()>*>(arg);
                (*f)();
                delete f;
            },
            holder, &tv);
    }

    void start_boot() {
        ++boots_;
        ready_ = false;
        state_ = "running";
        const int boot = boots_;
        emit("starting", {{"boot", boot}});
        emit("kernel-started", {{"boot", boot}});
        if (behaviour_.number("progress", 0) != 0) {
            emit("progress", {{"boot", boot}, {"code", 1}});
        }
        console("fake vmm: boot " + std::to_string(boot) + "\n");
        const auto bytes = behaviour_.number("console_bytes", 0);
        if (bytes > 0) {
            console(std::string(static_cast<std::size_t>(bytes) - 1, 'x') + "\n");
        }
        if (behaviour_.get("ready_ms", "") == "never") {
            return;
        }
        after(behaviour_.number("ready_ms", 50), [this, boot] {
            if (boot == boots_ && state_ == "running" && !ready_) {
                ready_ = true;
                emit("ready",
                     {{"boot", boot}, {"ms_since_start", behaviour_.number("ready_ms", 50)}});
                console("fake vmm: ready\n");
            }
        });
    }

    void reboot(const std::string& detail) {
        state_ = "rebooting";
        emit("rebooting", {{"detail", detail}});
        after(behaviour_.number("reboot_ms", 20), [this] { start_boot(); });
    }

    void finish(int status) {
        if (finished_) {
            return;
        }
        finished_ = true;
        state_ = "stopped";
        if (status == 0) {
            emit("poweroff", {{"detail", "fake poweroff"}});
        } else if (status == 7) {
            emit("killed", {{"detail", "fake kill"}});
        }
        nlohmann::json exit{{"status", status}, {"virtio", net_metrics()}};
        if (behaviour_.has("exit_net_rx_bytes") || behaviour_.has("exit_net_tx_bytes")) {
            exit["virtio"]["virtio-net net0"] = {
                {"rx_bytes", behaviour_.number("exit_net_rx_bytes", 0)},
                {"tx_bytes", behaviour_.number("exit_net_tx_bytes", 0)}};
        }
        emit("exit", exit);
        burn_cpu(behaviour_.number("exit_busy_ms", 0));
        status_ = status;
        if (behaviour_.get("metrics", "") != "hold") {
            event_base_loopbreak(loop_);
            return;
        }
        after(behaviour_.number("exit_hold_ms", 300), [this] {
            for (const auto& r : unanswered_) {
                serve(*r);
            }
            unanswered_.clear();
            // Alive a while longer: the answer reaches the supervisor before the exit does.
            after(behaviour_.number("exit_hold_ms", 300), [this] { event_base_loopbreak(loop_); });
        });
    }

    void signals() {
        for (int sig : {SIGTERM, SIGINT}) {
            event* e = evsignal_new(
                loop_, sig,
                [](evutil_socket_t, short, void* self) {
                    auto* fake = static_cast<FakeVmm*>(self);
                    if (fake->behaviour_.get("sigterm", "exit") == "exit") {
                        fake->finish(7);
                    }
                },
                this);
            event_add(e, nullptr);
        }
    }

    std::int64_t net_counter(const std::string& key) const {
        const std::int64_t total = behaviour_.number(key, 0);
        const std::int64_t over = behaviour_.number("net_ms", 0);
        const std::int64_t elapsed = now_ms() - started_ms_;
        return over <= 0 || elapsed >= over ? total : total * elapsed / over;
    }

    // The "virtio" of GET /metrics: one virtio-net device when it has a network.
    nlohmann::json net_metrics() const {
        nlohmann::json virtio = nlohmann::json::object();
        if (behaviour_.has("net_rx_bytes") || behaviour_.has("net_tx_bytes")) {
            virtio["virtio-net net0"] = {{"rx_bytes", net_counter("net_rx_bytes")},
                                         {"tx_bytes", net_counter("net_tx_bytes")}};
        }
        return virtio;
    }

    void serve(base::HttpRequest& r) {
        if (r.path() == "/metrics" && r.method() == "GET") {
            r.reply_json(200, {{"virtio", net_metrics()}});
            return;
        }
        if (r.path() == "/vm" && r.method() == "GET") {
            r.reply_json(200, {{"id", config_.id},
                               {"state", state_},
                               {"boot_count", boots_},
                               {"ready", ready_},
                               {"vcpus", config_.vcpus},
                               {"memory_mib", config_.memory_mib}});
            return;
        }
        if (r.path() != "/vm/actions") {
            r.reply_error(404, "no such endpoint: " + r.path());
            return;
        }
        if (r.method() != "PUT") {
            r.reply_error(405, r.method() + " is not allowed on " + r.path());
            return;
        }
        const auto body = nlohmann::json::parse(r.body(), nullptr, false);
        if (!body.is_object() || !body.contains("action") || !body["action"].is_string()) {
            r.reply_error(400, "the body needs a string field \"action\"");
            return;
        }
        const std::string action = body["action"];
        if (action == "kill") {
            r.reply_json(202, {{"accepted", action}});
            finish(7);
            return;
        }
        if (state_ != "running" && action != "resume") {
            r.reply_error(409, "cannot " + action + " while the VM is " + state_);
            return;
        }
        if (action == "power-button") {
            emit("power-button-sent");
            if (behaviour_.get("power_button", "off") == "off") {
                after(behaviour_.number("poweroff_ms", 20), [this] { finish(0); });
            }
        } else if (action == "ctrl-alt-del") {
            emit("ctrl-alt-del-sent");
            if (behaviour_.get("ctrl_alt_del", "reboot") == "reboot") {
                after(10, [this] { reboot("fake ctrl-alt-del"); });
            }
        } else if (action == "reboot") {
            reboot("reboot requested through the API");
        } else if (action == "pause") {
            state_ = "paused";
            emit("paused");
        } else if (action == "resume") {
            state_ = "running";
            emit("resumed");
        } else {
            r.reply_error(400, "unknown action '" + action + "'");
            return;
        }
        r.reply_json(202, {{"accepted", action}});
    }

    vmm::VmConfig config_;
    event_base* loop_;
    Behaviour behaviour_;
    std::unique_ptr<base::UnixHttpServer> api_;
    std::vector<std::shared_ptr<base::HttpRequest>> unanswered_;
    std::thread busy_;
    std::int64_t started_ms_ = 0;
    std::vector<base::Fd> disks_;
    base::Fd serial_;
    base::Fd events_;
    int boots_ = 0;
    bool ready_ = false;
    bool finished_ = false;
    std::string state_ = "starting";
    int status_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    vmm::CommandLine cl;
    try {
        cl = vmm::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
    } catch (const base::InvalidInput& e) {
        std::fprintf(stderr, "vmm: %s\n", e.what());
        return 2;
    }
    if (cl.action != vmm::CommandLine::Action::kRun) {
        std::puts("fake-vmm: a stand-in for vmm in the supervisor's tests");
        return 0;
    }
    std::unique_ptr<event_base, void (*)(event_base*)> loop(event_base_new(), event_base_free);
    try {
        FakeVmm fake(cl.config, loop.get());
        return fake.run();
    } catch (const base::Error& e) {
        std::fprintf(stderr, "vmm: %s\n", e.what());
        return 1;
    }
}
