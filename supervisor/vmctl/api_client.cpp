#include "supervisor/vmctl/api_client.h"

#include <cctype>
#include <cstdio>

namespace vmctl {

namespace {

// vmd's {"error": "..."} message, or what there is of the body when it is not one.
std::string error_message(const HttpResponse& response) {
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
        return body["error"].get<std::string>();
    }
    std::string text = response.body.substr(0, 200);
    text.erase(text.find_last_not_of(" \r\n") + 1);
    return "vmd answered HTTP " + std::to_string(response.status) +
           (text.empty() ? "" : ": " + text);
}

}  // namespace

std::string escape_segment(const std::string& segment) {
    std::string out;
    for (unsigned char c : segment) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            out += hex;
        }
    }
    return out;
}

HttpResponse ApiClient::send(HttpRequest request) {
    HttpResponse response = transport_.send(request);
    if (response.status < 200 || response.status > 299) {
        throw ApiError(response.status, error_message(response));
    }
    return response;
}

nlohmann::json ApiClient::parse(const HttpRequest& request, const HttpResponse& response) {
    if (response.body.empty()) {
        return nlohmann::json::object();
    }
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_discarded()) {
        throw base::HostError("vmd's answer to " + request.method + " " + request.path +
                              " is not JSON: " + response.body.substr(0, 200));
    }
    return body;
}

nlohmann::json ApiClient::get(const std::string& path, std::chrono::seconds timeout) {
    HttpRequest request{"GET", path, "", timeout};
    return parse(request, send(request));
}

nlohmann::json ApiClient::post(const std::string& path, const nlohmann::json& body,
                               std::chrono::seconds timeout) {
    HttpRequest request{"POST", path, body.dump(), timeout};
    return parse(request, send(request));
}

nlohmann::json ApiClient::del(const std::string& path) {
    HttpRequest request{"DELETE", path, "", kDefaultTimeout};
    return parse(request, send(request));
}

HttpResponse ApiClient::get_text(const std::string& path) {
    return send({"GET", path, "", kDefaultTimeout});
}

}  // namespace vmctl
