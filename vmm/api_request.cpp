#include "vmm/api_request.h"

#include <exception>
#include <nlohmann/json.hpp>

namespace vmm {

namespace {

// Strings from the request (a path, an action) may hold bytes that are not
// UTF-8, which JSON cannot carry: they are written as U+FFFD instead of
// failing the answer.
ApiReply reply(int status, const nlohmann::json& body) {
    return {status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"};
}

ApiReply reply_error(int status, const std::string& message) {
    return reply(status, nlohmann::json{{"error", message}});
}

}  // namespace

ApiReply answer_api_request(VmController& controller, std::string_view method,
                            const std::string& path, std::string_view body_text) {
    try {
        const bool known = path == "/vm" || path == "/metrics" || path == "/vm/actions";
        if (!known) {
            return reply_error(404, "no such endpoint: " + path);
        }
        const std::string_view allowed = path == "/vm/actions" ? "PUT" : "GET";
        if (method != allowed) {
            return reply_error(405, std::string(method) + " is not allowed on " + path);
        }
        if (path == "/vm") {
            return reply(200, controller.status());
        }
        if (path == "/metrics") {
            return reply(200, controller.metrics());
        }
        if (body_text.size() > ApiServer::kMaxBodyBytes) {
            return reply_error(413, "request body too large: at most " +
                                        std::to_string(ApiServer::kMaxBodyBytes) + " bytes");
        }
        nlohmann::json body;
        try {
            body = nlohmann::json::parse(body_text);
        } catch (const nlohmann::json::exception&) {  // parse_error, out_of_range (1e999)
            return reply_error(400, "the body is not valid JSON: send {\"action\": \"...\"}");
        }
        if (!body.is_object() || !body.contains("action") || !body["action"].is_string()) {
            return reply_error(400, "the body needs a string field \"action\"");
        }
        const auto result = controller.act(body["action"].get<std::string>());
        if (!result.error.empty()) {
            return reply_error(result.http_status, result.error);
        }
        return reply(result.http_status, nlohmann::json{{"accepted", body["action"]}});
    } catch (const std::exception&) {
        return reply_error(500, "internal error while handling the request");
    }
}

}  // namespace vmm
