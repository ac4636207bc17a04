#pragma once
// An HTTP/1.1 server on a Unix socket (libevent's evhttp) for JSON APIs, on
// an event_base the caller owns and runs: vmd's API and the vmm's. The same
// server listens on a TCP address instead where Options::tcp_address says so
// (vmd's --metrics-listen for a Prometheus scrape); its peers then have no
// credentials (PeerCredentials stays as default: uid -1).
//
// Each request reaches the handler as a shared HttpRequest holding the
// method, path, query, body and the caller's credentials (SO_PEERCRED). The
// handler answers at once or keeps the pointer and answers later from the
// same loop (a `?wait=true` request): a client that hangs up meanwhile costs
// nothing, and a request dropped unanswered is answered 500 so that no
// client waits forever. Errors are JSON {"error": "..."}; bodies over the
// limit get 413 before the handler sees them.
//
// Binding never destroys a file: an existing path is replaced only when it
// is a socket nobody listens on (a stale one from a crashed run); anything
// else, or a live socket, refuses with an error naming it.
//
// Not thread-safe: construct, run, answer and destroy on the loop's thread.

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

struct event_base;
struct evhttp;
struct evhttp_request;

namespace base {

// Who is on the other end of the socket, from the kernel (not the client).
struct PeerCredentials {
    uid_t uid = static_cast<uid_t>(-1);
    gid_t gid = static_cast<gid_t>(-1);
    pid_t pid = 0;
    std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS)
};

class UnixHttpServer;

class HttpRequest {
  public:
    ~HttpRequest();  // answers 500 if nobody did
    HttpRequest(const HttpRequest&) = delete;
    HttpRequest& operator=(const HttpRequest&) = delete;

    const std::string& method() const { return method_; }  // "GET", "POST", ...
    const std::string& path() const { return path_; }      // decoded, without the query
    const std::string& query() const { return query_; }    // raw, without '?'
    const std::string& body() const { return body_; }
    const PeerCredentials& peer() const { return peer_; }
    // The value of `name` in the query string, decoded; nullopt when absent.
    std::optional<std::string> query_param(const std::string& name) const;
    // Every name=value pair of the query string, decoded, in order; nullopt
    // when the query string is malformed.
    std::optional<std::vector<std::pair<std::string, std::string>>> query_params() const;

    void reply_json(int status, const nlohmann::json& body);
    void reply_error(int status, const std::string& message);
    void reply_text(int status, const std::string& text, const std::string& content_type,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});
    bool answered() const { return answered_; }

  private:
    friend class UnixHttpServer;
    HttpRequest(UnixHttpServer* server, evhttp_request* req);
    void send(int status, const std::string& body, const std::string& content_type,
              const std::vector<std::pair<std::string, std::string>>& headers);

    UnixHttpServer* server_;
    evhttp_request* req_;  // null once answered or the server is gone
    bool answered_ = false;
    std::string method_;
    std::string path_;
    std::string query_;
    std::string body_;
    PeerCredentials peer_;
};

class UnixHttpServer {
  public:
    struct Options {
        std::string socket_path;
        mode_t mode = 0600;                      // of the socket file
        std::size_t max_body_bytes = 64 * 1024;  // larger bodies: 413 JSON
        int io_timeout_s = 30;                   // reading a request, writing an answer
        // Instead of socket_path: "HOST:PORT", HOST an IPv4 literal or an
        // IPv6 one in brackets ([::1]:9100), PORT 0 for any free one (see
        // tcp_port()). No names: nothing is resolved.
        std::string tcp_address;
    };
    using Handler = std::function<void(std::shared_ptr<HttpRequest>)>;

    // Binds and listens (see above); throws InvalidInput for a path that is
    // not usable and HostError when the host refuses.
    UnixHttpServer(event_base* loop, Options options, Handler handler);
    ~UnixHttpServer();  // closes the socket and unlinks it if it is still ours
    UnixHttpServer(const UnixHttpServer&) = delete;
    UnixHttpServer& operator=(const UnixHttpServer&) = delete;

    const std::string& socket_path() const { return options_.socket_path; }
    // The TCP port listened on (the one the kernel chose for port 0); 0 on a
    // Unix socket.
    std::uint16_t tcp_port() const { return tcp_port_; }
    // Requests taken but not answered yet.
    std::size_t pending() const { return pending_.size(); }

    // libevent itself refuses bodies past this (status 413, its own page).
    static constexpr std::size_t kHardBodyLimit = 1 << 20;

  private:
    friend class HttpRequest;
    void dispatch(evhttp_request* req);
    int bind_unix();
    int bind_tcp();

    Options options_;
    Handler handler_;
    std::unique_ptr<evhttp, void (*)(evhttp*)> http_;
    dev_t socket_dev_ = 0;
    ino_t socket_ino_ = 0;
    std::uint16_t tcp_port_ = 0;
    std::unordered_set<HttpRequest*> pending_;
};

}  // namespace base
