#include "vmm/api_server.h"

#include <event2/event.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/error.h"
#include "vmm/api_request.h"
#include "vmm/named_thread.h"

namespace vmm {

ApiServer::ApiServer(const std::string& socket_path, VmController& controller)
    : controller_(controller),
      stop_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      base_(event_base_new(), event_base_free),
      stop_event_(nullptr, event_free) {
    if (!stop_fd_.valid() || base_ == nullptr) {
        throw base::HostError("cannot set up the API's event loop");
    }
    base::UnixHttpServer::Options options;
    options.socket_path = socket_path;
    options.mode = 0600;
    options.max_body_bytes = kMaxBodyBytes;
    options.io_timeout_s = 5;
    http_ = std::make_unique<base::UnixHttpServer>(
        base_.get(), options, [this](std::shared_ptr<base::HttpRequest> request) {
            const ApiReply answer = answer_api_request(controller_, request->method(),
                                                       request->path(), request->body());
            request->reply_text(answer.status, answer.body, "application/json");
        });

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
    http_.reset();  // closes the connections, unlinks the socket if it is still ours
    base_.reset();
}

}  // namespace vmm
