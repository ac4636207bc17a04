#include "supervisor/vmd/vmm_client.h"

#include <httplib.h>
#include <sys/socket.h>

#include <nlohmann/json.hpp>

namespace supervisor::vmd {

VmmClient::VmmClient(EventLoop& loop) : loop_(loop) {
    thread_ = std::thread([this] { serve(); });
}

VmmClient::~VmmClient() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void VmmClient::act(const std::string& socket, const std::string& action,
                    std::function<void(const std::string& error)> done) {
    {
        std::lock_guard lock(mutex_);
        calls_.push_back({socket, action, "", std::move(done), {}});
    }
    wake_.notify_all();
}

void VmmClient::get(const std::string& socket, const std::string& path,
                    std::function<void(std::optional<std::string> body)> done) {
    {
        std::lock_guard lock(mutex_);
        calls_.push_back({socket, "", path, {}, std::move(done)});
    }
    wake_.notify_all();
}

void VmmClient::serve() {
    for (;;) {
        Call call;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !calls_.empty(); });
            if (stopping_) {
                return;
            }
            call = std::move(calls_.front());
            calls_.pop_front();
        }
        std::string error;
        httplib::Client client(call.socket);
        client.set_address_family(AF_UNIX);
        client.set_connection_timeout(2, 0);
        client.set_read_timeout(5, 0);
        client.set_write_timeout(2, 0);
        if (call.got) {
            auto res = client.Get(call.path);
            std::optional<std::string> body;
            if (res && res->status == 200) {
                body = std::move(res->body);
            }
            loop_.post([got = std::move(call.got), body = std::move(body)] { got(body); });
            continue;
        }
        const std::string body = nlohmann::json{{"action", call.action}}.dump();
        auto res = client.Put("/vm/actions", body, "application/json");
        if (!res) {
            error = "the vmm's API at " + call.socket + " did not answer (" +
                    httplib::to_string(res.error()) + ")";
        } else if (res->status != 202) {
            error = "the vmm refused " + call.action + " (" + std::to_string(res->status) +
                    "): " + res->body;
            while (!error.empty() && error.back() == '\n') {
                error.pop_back();
            }
        }
        loop_.post([done = std::move(call.done), error] { done(error); });
    }
}

}  // namespace supervisor::vmd
