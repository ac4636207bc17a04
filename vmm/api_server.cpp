#include "vmm/api_server.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/error.h"
#include "vmm/api_request.h"
#include "vmm/named_thread.h"

namespace vmm {

namespace {

// libevent answers bodies beyond this itself (413, HTML); up to it, the
// handler answers oversized bodies with a JSON error like every other one.
constexpr std::size_t kHardBodyLimit = 1 << 20;
constexpr int kTimeoutSeconds = 5;

void send_reply(evhttp_request* req, int status, const std::string& text) {
    evkeyvalq* headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Content-Type", "application/json");
    evbuffer* out = evbuffer_new();
    if (out == nullptr) {
        evhttp_send_error(req, 500, nullptr);
        return;
    }
    evbuffer_add(out, text.data(), text.size());
    evhttp_send_reply(req, status, nullptr, out);
    evbuffer_free(out);
}

const char* method_name(evhttp_cmd_type cmd) {
    switch (cmd) {
        case EVHTTP_REQ_GET:
            return "GET";
        case EVHTTP_REQ_PUT:
            return "PUT";
        case EVHTTP_REQ_POST:
            return "POST";
        case EVHTTP_REQ_DELETE:
            return "DELETE";
        case EVHTTP_REQ_PATCH:
            return "PATCH";
        case EVHTTP_REQ_HEAD:
            return "HEAD";
        default:
            return "this method";
    }
}

// The path of the request's URI, without query or fragment.
std::string request_path(evhttp_request* req) {
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
    return path != nullptr && *path != '\0' ? path : "/";
}

sockaddr_un socket_address(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path) {
        throw base::InvalidInput("API socket path '" + path + "' must be 1 to " +
                                 std::to_string(sizeof addr.sun_path - 1) + " characters");
    }
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    return addr;
}

// Clears the way for binding `path`: nothing there, or a stale socket (one
// whose server is gone), which is removed. Anything else stays and is
// refused: a file that is not a socket, or the live socket of another vmm.
void claim_socket_path(const std::string& path, const sockaddr_un& addr) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return;
        }
        base::throw_errno("cannot look at the API socket path " + path);
    }
    if (!S_ISSOCK(st.st_mode)) {
        throw base::InvalidInput("--api-sock " + path +
                                 " exists and is not a socket; the vmm replaces only a stale "
                                 "socket: remove it or choose another path");
    }
    base::Fd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe.valid()) {
        base::throw_errno("socket to probe the API socket " + path);
    }
    if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ||
        errno == EAGAIN) {  // EAGAIN: a live server with a full backlog
        throw base::InvalidInput("--api-sock " + path +
                                 " is in use: another process (another vmm?) serves it; stop "
                                 "that one or choose another path");
    }
    if (errno != ECONNREFUSED) {
        base::throw_errno("cannot tell whether the API socket " + path + " is in use");
    }
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {  // stale: its server is gone
        base::throw_errno("cannot remove the stale API socket " + path);
    }
}

base::Fd bind_unix_socket(const std::string& path, struct stat& bound) {
    const sockaddr_un addr = socket_address(path);
    base::Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
        base::throw_errno("socket for the API");
    }
    claim_socket_path(path, addr);
    if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        throw base::HostError("cannot bind the API socket " + path + ": " + std::strerror(errno) +
                              " (does its directory exist and is it writable?)");
    }
    chmod(path.c_str(), 0600);
    if (listen(fd.get(), 16) != 0) {
        base::throw_errno("listen on the API socket " + path);
    }
    if (stat(path.c_str(), &bound) != 0) {
        base::throw_errno("stat of the API socket " + path);
    }
    return fd;
}

}  // namespace

ApiServer::ApiServer(const std::string& socket_path, VmController& controller)
    : controller_(controller),
      socket_path_(socket_path),
      stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      base_(event_base_new(), event_base_free),
      http_(nullptr, evhttp_free),
      stop_event_(nullptr, event_free) {
    if (!stop_fd_.valid() || base_ == nullptr) {
        throw base::HostError("cannot set up the API's event loop");
    }
    http_.reset(evhttp_new(base_.get()));
    if (http_ == nullptr) {
        throw base::HostError("cannot set up the API's HTTP server");
    }
    evhttp_set_max_body_size(http_.get(), kHardBodyLimit);
    evhttp_set_timeout(http_.get(), kTimeoutSeconds);
    evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_PUT | EVHTTP_REQ_POST |
                                                EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                                                EVHTTP_REQ_HEAD);
    evhttp_set_gencb(
        http_.get(),
        [](evhttp_request* req, void* self) { static_cast<ApiServer*>(self)->handle(req); }, this);

    base::Fd listener = bind_unix_socket(socket_path_, bound_);
    if (evhttp_accept_socket(http_.get(), listener.get()) != 0) {
        throw base::HostError("cannot serve the API socket " + socket_path_);
    }
    listener.release();  // evhttp closes it when it is freed

    stop_event_.reset(event_new(
        base_.get(), stop_fd_.get(), EV_READ,
        [](evutil_socket_t, short, void* base) {
            event_base_loopbreak(static_cast<event_base*>(base));
        },
        base_.get()));
    if (stop_event_ == nullptr || event_add(stop_event_.get(), nullptr) != 0) {
        throw base::HostError("cannot set up the API's stop event");
    }
    // The socket accepts from here on: connections wait in its backlog
    // until the loop below picks them up.
    thread_ = start_named_thread("vmm-api", [this] { event_base_dispatch(base_.get()); });
}

ApiServer::~ApiServer() {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(stop_fd_.get(), &one, sizeof one);
    if (thread_.joinable()) {
        thread_.join();
    }
    stop_event_.reset();
    http_.reset();  // closes the connections and the listening socket
    base_.reset();
    // Only the socket this server bound: the path may have been taken since.
    struct stat st {};
    if (stat(socket_path_.c_str(), &st) == 0 && st.st_dev == bound_.st_dev &&
        st.st_ino == bound_.st_ino) {
        unlink(socket_path_.c_str());
    }
}

void ApiServer::handle(evhttp_request* req) {
    evbuffer* in = evhttp_request_get_input_buffer(req);
    const std::size_t length = evbuffer_get_length(in);
    const auto* bytes = length > 0 ? evbuffer_pullup(in, -1) : nullptr;
    const std::string_view body(reinterpret_cast<const char*>(bytes),
                                bytes != nullptr ? length : 0);
    const ApiReply answer = answer_api_request(
        controller_, method_name(evhttp_request_get_command(req)), request_path(req), body);
    send_reply(req, answer.status, answer.body);
}

}  // namespace vmm
