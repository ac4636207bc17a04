#pragma once
// vmd's API as vmctl sees it (docs/vmd.md, "API"): requests go through a
// Transport (HTTP on vmd's Unix socket; canned answers in the unit tests),
// answers come back as JSON, refusals as ApiError with vmd's own message.

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

namespace vmctl {

struct HttpRequest {
    std::string method;            // GET, POST or DELETE
    std::string path;              // with its query, already escaped
    std::string body;              // JSON, or empty
    std::chrono::seconds timeout;  // for the whole answer
};

struct HttpResponse {
    int status = 0;
    std::string body;
    std::string console_offset;  // the X-Console-Offset header, when sent
};

class Transport {
  public:
    virtual ~Transport() = default;
    // Throws base::HostError when vmd cannot be reached or does not answer in time.
    virtual HttpResponse send(const HttpRequest& request) = 0;
};

// vmd refused or failed the request (a 4xx or 5xx): exit status 1, what()
// is vmd's own message.
class ApiError : public base::Error {
  public:
    ApiError(int status, const std::string& message) : base::Error(message), status_(status) {}
    int status() const { return status_; }

  private:
    int status_;
};

// One path segment with everything but RFC 3986's unreserved characters
// percent-encoded, so that any name reaches vmd as it was typed.
std::string escape_segment(const std::string& segment);

class ApiClient {
  public:
    // What a request may take unless the caller knows better (waits do).
    static constexpr std::chrono::seconds kDefaultTimeout{60};

    explicit ApiClient(Transport& transport) : transport_(transport) {}

    nlohmann::json get(const std::string& path, std::chrono::seconds timeout = kDefaultTimeout);
    nlohmann::json post(const std::string& path, const nlohmann::json& body,
                        std::chrono::seconds timeout = kDefaultTimeout);
    nlohmann::json del(const std::string& path);
    // A text answer as it came (the console log); throws ApiError like the others.
    HttpResponse get_text(const std::string& path);

  private:
    HttpResponse send(HttpRequest request);
    static nlohmann::json parse(const HttpRequest& request, const HttpResponse& response);

    Transport& transport_;
};

}  // namespace vmctl
