#include "base/unix_http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/error.h"
#include "base/fd.h"

namespace base {

namespace {

const char* method_name(evhttp_cmd_type cmd) {
    switch (cmd) {
        case EVHTTP_REQ_GET:
            return "GET";
        case EVHTTP_REQ_POST:
            return "POST";
        case EVHTTP_REQ_HEAD:
            return "HEAD";
        case EVHTTP_REQ_PUT:
            return "PUT";
        case EVHTTP_REQ_DELETE:
            return "DELETE";
        case EVHTTP_REQ_OPTIONS:
            return "OPTIONS";
        case EVHTTP_REQ_TRACE:
            return "TRACE";
        case EVHTTP_REQ_CONNECT:
            return "CONNECT";
        case EVHTTP_REQ_PATCH:
            return "PATCH";
    }
    return "UNKNOWN";
}

sockaddr_un socket_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        throw InvalidInput("socket path '" + path + "' must be 1 to " +
                           std::to_string(sizeof addr.sun_path - 1) + " characters");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    return addr;
}

// Makes `path` free for bind(): absent already, or a socket that nobody
// listens on any more (removed). Anything else is left alone and refused.
void clear_stale_socket(const std::string& path, const sockaddr_un& addr) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return;
        }
        throw_errno("cannot inspect " + path);
    }
    if (!S_ISSOCK(st.st_mode)) {
        throw InvalidInput(path +
                           " exists and is not a socket: refusing to replace it (move it away or "
                           "choose another socket path)");
    }
    Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe.valid()) {
        throw_errno("socket to probe " + path);
    }
    if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
        errno == EAGAIN) {
        throw InvalidInput(path +
                           " is in use: another server listens on it (stop that one or "
                           "choose another socket path)");
    }
    if (errno != ECONNREFUSED) {
        throw_errno("cannot probe the existing socket " + path);
    }
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        throw_errno("cannot remove the stale socket " + path);
    }
}

PeerCredentials peer_of(evhttp_request* req) {
    PeerCredentials peer;
    evhttp_connection* conn = evhttp_request_get_connection(req);
    bufferevent* bev = conn != nullptr ? evhttp_connection_get_bufferevent(conn) : nullptr;
    const int fd = bev != nullptr ? static_cast<int>(bufferevent_getfd(bev)) : -1;
    if (fd < 0) {
        return peer;
    }
    ucred cred{};
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        peer.uid = cred.uid;
        peer.gid = cred.gid;
        peer.pid = cred.pid;
    }
    std::vector<gid_t> groups(64);
    for (int attempt = 0; attempt < 4; ++attempt) {
        socklen_t bytes = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &bytes) == 0) {
            groups.resize(bytes / sizeof(gid_t));
            peer.groups = std::move(groups);
            break;
        }
        if (errno != ERANGE) {
            break;
        }
        groups.resize(bytes / sizeof(gid_t) + 1);
    }
    return peer;
}

}  // namespace

HttpRequest::HttpRequest(UnixHttpServer* server, evhttp_request* req) : server_(server), req_(req) {
    method_ = method_name(evhttp_request_get_command(req));
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
    if (path != nullptr && *path != '\0') {
        std::size_t size = 0;
        char* decoded = evhttp_uridecode(path, 0, &size);
        if (decoded != nullptr) {
            path_.assign(decoded, size);
            std::free(decoded);
        }
    }
    if (path_.empty()) {
        path_ = "/";
    }
    const char* query = uri != nullptr ? evhttp_uri_get_query(uri) : nullptr;
    query_ = query != nullptr ? query : "";
    evbuffer* in = evhttp_request_get_input_buffer(req);
    const std::size_t length = evbuffer_get_length(in);
    if (length <= server->options_.max_body_bytes) {
        body_.resize(length);
        evbuffer_copyout(in, body_.data(), length);
    }
    peer_ = peer_of(req);
}

HttpRequest::~HttpRequest() {
    if (!answered_ && req_ != nullptr) {
        reply_error(500, "internal error: the request was dropped without an answer");
    }
    if (server_ != nullptr) {
        server_->pending_.erase(this);
    }
}

std::optional<std::string> HttpRequest::query_param(const std::string& name) const {
    evkeyvalq params{};
    if (evhttp_parse_query_str(query_.c_str(), &params) != 0) {
        evhttp_clear_headers(&params);
        return std::nullopt;
    }
    std::optional<std::string> value;
    if (const char* v = evhttp_find_header(&params, name.c_str()); v != nullptr) {
        value = v;
    }
    evhttp_clear_headers(&params);
    return value;
}

std::optional<std::vector<std::pair<std::string, std::string>>> HttpRequest::query_params() const {
    evkeyvalq params{};
    if (evhttp_parse_query_str(query_.c_str(), &params) != 0) {
        evhttp_clear_headers(&params);
        return std::nullopt;
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (evkeyval* kv = params.tqh_first; kv != nullptr; kv = kv->next.tqe_next) {
        out.emplace_back(kv->key, kv->value);
    }
    evhttp_clear_headers(&params);
    return out;
}

void HttpRequest::reply_json(int status, const nlohmann::json& body) {
    send(status, body.dump() + "\n", "application/json", {});
}

void HttpRequest::reply_error(int status, const std::string& message) {
    reply_json(status, nlohmann::json{{"error", message}});
}

void HttpRequest::reply_text(int status, const std::string& text, const std::string& content_type,
                             const std::vector<std::pair<std::string, std::string>>& headers) {
    send(status, text, content_type, headers);
}

void HttpRequest::send(int status, const std::string& body, const std::string& content_type,
                       const std::vector<std::pair<std::string, std::string>>& headers) {
    if (answered_) {
        throw InternalError("an HTTP request was answered twice");
    }
    answered_ = true;
    if (server_ != nullptr) {
        server_->pending_.erase(this);
    }
    evhttp_request* req = std::exchange(req_, nullptr);
    if (req == nullptr) {
        return;  // the server is gone
    }
    evkeyvalq* out_headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(out_headers, "Content-Type", content_type.c_str());
    for (const auto& [name, value] : headers) {
        evhttp_add_header(out_headers, name.c_str(), value.c_str());
    }
    evbuffer* out = evbuffer_new();
    if (out == nullptr) {
        evhttp_send_error(req, 500, nullptr);
        return;
    }
    evbuffer_add(out, body.data(), body.size());
    // A client that hung up meanwhile: libevent frees the request here.
    evhttp_send_reply(req, status, nullptr, out);
    evbuffer_free(out);
}

UnixHttpServer::UnixHttpServer(event_base* loop, Options options, Handler handler)
    : options_(std::move(options)), handler_(std::move(handler)), http_(nullptr, evhttp_free) {
    http_.reset(evhttp_new(loop));
    if (http_ == nullptr) {
        throw HostError("cannot set up an HTTP server for " + options_.socket_path +
                        options_.tcp_address);
    }
    evhttp_set_max_body_size(http_.get(), kHardBodyLimit);
    evhttp_set_timeout(http_.get(), options_.io_timeout_s);
    evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                                EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                                EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                                EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_gencb(
        http_.get(),
        [](evhttp_request* req, void* self) { static_cast<UnixHttpServer*>(self)->dispatch(req); },
        this);

    Fd fd(options_.tcp_address.empty() ? bind_unix() : bind_tcp());
    const std::string where =
        options_.tcp_address.empty() ? options_.socket_path : options_.tcp_address;
    if (listen(fd.get(), 64) != 0 || evhttp_accept_socket(http_.get(), fd.get()) != 0) {
        const int err = errno;
        if (options_.tcp_address.empty()) {
            unlink(options_.socket_path.c_str());
        }
        throw HostError("cannot listen on " + where + ": " + std::strerror(err));
    }
    fd.release();  // evhttp closes it when it is freed
}

int UnixHttpServer::bind_unix() {
    const sockaddr_un addr = socket_address(options_.socket_path);
    clear_stale_socket(options_.socket_path, addr);
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        throw_errno("socket for " + options_.socket_path);
    }
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        throw HostError("cannot bind the socket " + options_.socket_path + ": " +
                        std::strerror(errno) + " (does its directory exist and is it writable?)");
    }
    struct stat st {};
    if (lstat(options_.socket_path.c_str(), &st) != 0 ||
        chmod(options_.socket_path.c_str(), options_.mode) != 0) {
        const int err = errno;
        unlink(options_.socket_path.c_str());
        throw HostError("cannot set the mode of " + options_.socket_path + ": " +
                        std::strerror(err));
    }
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
    return fd.release();
}

int UnixHttpServer::bind_tcp() {
    const std::string& address = options_.tcp_address;
    const auto bad = [&](const std::string& why) {
        return InvalidInput("listen address '" + address + "': " + why +
                            " (want HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100)");
    };
    const std::size_t colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        throw bad("no HOST:PORT");
    }
    std::string host = address.substr(0, colon);
    const std::string port_text = address.substr(colon + 1);
    if (port_text.empty() || port_text.size() > 5 ||
        port_text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port_text) > 65535) {
        throw bad("the port must be a number from 0 to 65535");
    }
    const auto port = static_cast<std::uint16_t>(std::stoi(port_text));
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
            throw bad("'" + host + "' is not an IPv6 address");
        }
        length = sizeof *in6;
    } else {
        auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
        in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) {
            throw bad("'" + host + "' is not an IPv4 address (an IPv6 one goes in brackets)");
        }
        length = sizeof *in4;
    }
    Fd fd(socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        throw_errno("socket for " + address);
    }
    const int one = 1;
    setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
        throw HostError("cannot listen on " + address + ": " + std::strerror(errno) +
                        " (is the port in use, or the address not this host's?)");
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_length) == 0) {
        tcp_port_ = ntohs(bound.ss_family == AF_INET6
                              ? reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port
                              : reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    }
    return fd.release();
}

UnixHttpServer::~UnixHttpServer() {
    // Requests still waiting for an answer: those whose client is gone are
    // ours to free; the others go with their connections in evhttp_free.
    for (HttpRequest* request : pending_) {
        if (request->req_ != nullptr && evhttp_request_get_connection(request->req_) == nullptr) {
            evhttp_request_free(request->req_);
        }
        request->req_ = nullptr;
        request->server_ = nullptr;
    }
    pending_.clear();
    http_.reset();
    struct stat st {};
    if (options_.tcp_address.empty() && lstat(options_.socket_path.c_str(), &st) == 0 &&
        st.st_dev == socket_dev_ && st.st_ino == socket_ino_) {
        unlink(options_.socket_path.c_str());
    }
}

void UnixHttpServer::dispatch(evhttp_request* req) {
    const std::size_t length = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    std::shared_ptr<HttpRequest> request(new HttpRequest(this, req));
    pending_.insert(request.get());
    if (length > options_.max_body_bytes) {
        request->reply_error(413, "request body too large: at most " +
                                      std::to_string(options_.max_body_bytes) + " bytes");
        return;
    }
    try {
        handler_(request);
    } catch (const std::exception& e) {
        if (!request->answered()) {
            request->reply_error(500, std::string("internal error: ") + e.what());
        }
    }
}

}  // namespace base
