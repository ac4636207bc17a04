#pragma once
// vmd's HTTP API (docs/vmd.md, "API"): the routes under /v1, each request
// checked (method, query, body) and handed to its service; every error a
// JSON {"error": "..."} with its status. Independent of the socket, so that
// the handlers are unit-tested without one.

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "supervisor/vmd/caller.h"
#include "supervisor/vmd/image_service.h"
#include "supervisor/vmd/instance_service.h"
#include "supervisor/vmd/usage_service.h"
#include "supervisor/vmd/volume_service.h"

namespace supervisor::vmd {

struct ApiRequest {
    Caller caller;
    std::string method;
    std::string path;
    std::vector<std::pair<std::string, std::string>> query;
    std::string body;
};

struct ApiResponse {
    int status = 200;
    nlohmann::json json;              // the body, unless `text` is set
    std::optional<std::string> text;  // a text/plain body (the console)
    std::vector<std::pair<std::string, std::string>> headers;
};

class Api {
  public:
    using Respond = std::function<void(const ApiResponse&)>;
    Api(ImageService& images, VolumeService& volumes, InstanceService& instances,
        std::function<nlohmann::json()> health, UsageService* usage = nullptr)
        : images_(images),
          volumes_(volumes),
          instances_(instances),
          health_(std::move(health)),
          usage_(usage) {}

    // Answers through `respond`, now or later (a `wait`).
    void handle(const ApiRequest& request, Respond respond);

  private:
    void route(const ApiRequest& request, const Respond& respond);

    ImageService& images_;
    VolumeService& volumes_;
    InstanceService& instances_;
    std::function<nlohmann::json()> health_;
    UsageService* usage_;  // none: GET /v1/usage is 404
};

}  // namespace supervisor::vmd
