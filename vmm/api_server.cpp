#include "vmm/api_server.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "vmm/error.h"

namespace vmm {

namespace {

void reply_json(httplib::Response& res, int status, const nlohmann::json& body) {
    res.status = status;
    res.set_content(body.dump() + "\n", "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
    reply_json(res, status, nlohmann::json{{"error", message}});
}

}  // namespace

ApiServer::ApiServer(const std::string& socket_path, VmController& controller)
    : socket_path_(socket_path), server_(std::make_unique<httplib::Server>()) {
    httplib::Server& s = *server_;
    // One worker: the API is for one supervisor, and each thread costs memory.
    s.new_task_queue = [] { return new httplib::ThreadPool(1); };
    s.set_payload_max_length(kMaxBodyBytes);
    s.set_read_timeout(5, 0);
    s.set_write_timeout(5, 0);

    s.Get("/vm", [&controller](const httplib::Request&, httplib::Response& res) {
        reply_json(res, 200, controller.status());
    });
    s.Get("/metrics", [&controller](const httplib::Request&, httplib::Response& res) {
        reply_json(res, 200, controller.metrics());
    });
    s.Put("/vm/actions", [&controller](const httplib::Request& req, httplib::Response& res) {
        nlohmann::json body;
        try {
            body = nlohmann::json::parse(req.body);
        } catch (const nlohmann::json::parse_error&) {
            reply_error(res, 400, "the body is not valid JSON: send {\"action\": \"...\"}");
            return;
        }
        if (!body.is_object() || !body.contains("action") || !body["action"].is_string()) {
            reply_error(res, 400, "the body needs a string field \"action\"");
            return;
        }
        const auto result = controller.act(body["action"].get<std::string>());
        if (!result.error.empty()) {
            reply_error(res, result.http_status, result.error);
            return;
        }
        reply_json(res, result.http_status, nlohmann::json{{"accepted", body["action"]}});
    });
    // Known paths with the wrong method get 405, not 404.
    auto wrong_method = [](const httplib::Request& req, httplib::Response& res) {
        reply_error(res, 405, req.method + " is not allowed on " + req.path);
    };
    for (const char* path : {"/vm", "/metrics"}) {
        s.Put(path, wrong_method);
        s.Post(path, wrong_method);
        s.Delete(path, wrong_method);
        s.Patch(path, wrong_method);
    }
    s.Get("/vm/actions", wrong_method);
    s.Post("/vm/actions", wrong_method);
    s.Delete("/vm/actions", wrong_method);
    s.Patch("/vm/actions", wrong_method);
    s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (res.body.empty()) {
            const std::string what = res.status == 404   ? "no such endpoint: " + req.path
                                     : res.status == 413 ? "request body too large"
                                                         : "bad request";
            reply_error(res, res.status, what);
        }
    });
    s.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
            reply_error(res, 500, "internal error while handling the request");
        });

    unlink(socket_path_.c_str());
    s.set_address_family(AF_UNIX);
    if (!s.bind_to_port(socket_path_, 80)) {
        throw HostError("cannot bind the API socket " + socket_path_ +
                        " (does its directory exist and is it writable?)");
    }
    chmod(socket_path_.c_str(), 0600);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    // stop() before the loop runs would be lost and the join would hang:
    // return only once the server is accepting.
    for (int i = 0; i < 2000 && !server_->is_running(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

ApiServer::~ApiServer() {
    server_->stop();
    if (thread_.joinable()) {
        thread_.join();
    }
    unlink(socket_path_.c_str());
}

}  // namespace vmm
