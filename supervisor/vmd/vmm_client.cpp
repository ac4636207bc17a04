#include "supervisor/vmd/vmm_client.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <nlohmann/json.hpp>

namespace supervisor::vmd {

VmmClient::VmmClient(EventLoop& loop) : VmmClient(loop, Timeouts(), 4) {}

VmmClient::VmmClient(EventLoop& loop, Timeouts timeouts, int threads)
    : loop_(loop), timeouts_(timeouts) {
    for (int i = 0; i < std::max(1, threads); ++i) {
        threads_.emplace_back([this] { serve(); });
    }
}

VmmClient::~VmmClient() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) {
        t.join();
    }
}

void VmmClient::act(const std::string& socket, const std::string& action,
                    std::function<void(const std::string& error)> done) {
    const std::string body = nlohmann::json{{"action", action}}.dump();
    request(socket, "PUT", "/vm/actions", body,
            [socket, action, done = std::move(done)](const Reply& reply) {
                if (!reply.error.empty()) {
                    done(reply.error);
                } else if (reply.status != 202) {
                    std::string error = "the vmm refused " + action + " (" +
                                        std::to_string(reply.status) + "): " + reply.body;
                    while (!error.empty() && error.back() == '\n') {
                        error.pop_back();
                    }
                    done(error);
                } else {
                    done("");
                }
            });
}

void VmmClient::get(const std::string& socket, const std::string& path,
                    std::function<void(std::optional<std::string> body)> done) {
    request(socket, "GET", path, "", [done = std::move(done)](const Reply& reply) {
        done(reply.error.empty() && reply.status == 200 ? std::optional(reply.body) : std::nullopt);
    });
}

void VmmClient::request(const std::string& socket, const std::string& method,
                        const std::string& path, const std::string& body,
                        std::function<void(const Reply&)> done) {
    {
        std::lock_guard lock(mutex_);
        calls_.push_back({socket, method, path, body, std::move(done)});
    }
    wake_.notify_all();
}

void VmmClient::serve() {
    for (;;) {
        Call call;
        {
            std::unique_lock lock(mutex_);
            // The oldest call to a socket no other thread is calling.
            auto next = calls_.end();
            wake_.wait(lock, [&] {
                next = std::find_if(calls_.begin(), calls_.end(),
                                    [&](const Call& c) { return busy_.count(c.socket) == 0; });
                return stopping_ || next != calls_.end();
            });
            if (stopping_) {
                return;
            }
            call = std::move(*next);
            calls_.erase(next);
            busy_.insert(call.socket);
        }
        Reply reply = perform(call);
        {
            std::lock_guard lock(mutex_);
            busy_.erase(call.socket);
        }
        wake_.notify_all();
        loop_.post([done = std::move(call.done), reply = std::move(reply)] { done(reply); });
    }
}

VmmClient::Reply VmmClient::perform(const Call& call) const {
    httplib::Client client(call.socket);
    client.set_address_family(AF_UNIX);
    client.set_connection_timeout(timeouts_.connect);
    client.set_read_timeout(timeouts_.read);
    client.set_write_timeout(timeouts_.write);
    Reply reply;
    if (call.method != "GET" && call.method != "PUT" && call.method != "POST") {
        reply.error = "vmd cannot send " + call.method + " to a vmm";
        return reply;
    }
    httplib::Result res = call.method == "GET" ? client.Get(call.path)
                          : call.method == "PUT"
                              ? client.Put(call.path, call.body, "application/json")
                              : client.Post(call.path, call.body, "application/json");
    if (!res) {
        reply.error = "the vmm's API at " + call.socket + " did not answer " + call.method + " " +
                      call.path + " (" + httplib::to_string(res.error()) + ")";
        return reply;
    }
    reply.status = res->status;
    reply.body = res->body;
    return reply;
}

}  // namespace supervisor::vmd
