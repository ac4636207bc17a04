#pragma once
// The control API: HTTP/1.1 + JSON on a Unix socket, served by libevent's
// evhttp on a thread of its own, so `curl --unix-socket PATH http://vm/vm`
// works. (libevent rather than cpp-httplib: Debian's cpp-httplib is built
// with OpenSSL, brotli and zlib, which cost every VMM process about 4 MiB
// of resident memory for features a local socket never uses.)
//
//   GET  /vm           state, boot count, per-boot timestamps, uptime
//   PUT  /vm/actions   {"action": "power-button" | "ctrl-alt-del" | "reboot" |
//                                 "pause" | "resume" | "kill"}
//   GET  /metrics      cumulative counters
//
// Errors are JSON {"error": "..."} with a 4xx status; the VM runs on.

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "base/fd.h"
#include "base/unix_http_server.h"

struct event_base;
struct event;

namespace vmm {

// What the API drives; the Machine implements it. All calls are thread-safe.
class VmController {
  public:
    struct ActionResult {
        int http_status;    // 202 accepted, 400 unknown action, 409 wrong state
        std::string error;  // empty on success
    };
    virtual ~VmController() = default;
    virtual nlohmann::json status() const = 0;
    virtual nlohmann::json metrics() const = 0;
    virtual ActionResult act(const std::string& action) = 0;
};

class ApiServer {
  public:
    // Binds `socket_path` and serves on a thread of its own. A stale socket
    // there (its server gone) is replaced; anything else is refused with
    // InvalidInput: a file that is not a socket, or a socket another
    // process serves. Throws HostError when the socket cannot be bound.
    ApiServer(const std::string& socket_path, VmController& controller);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    static constexpr std::size_t kMaxBodyBytes = 16 * 1024;

  private:
    VmController& controller_;
    base::Fd stop_fd_;  // an eventfd: written by the destructor to end the loop
    std::unique_ptr<event_base, void (*)(event_base*)> base_;
    std::unique_ptr<base::UnixHttpServer> http_;
    std::unique_ptr<event, void (*)(event*)> stop_event_;
    std::thread thread_;
};

}  // namespace vmm
