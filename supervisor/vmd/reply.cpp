#include "supervisor/vmd/reply.h"

#include "base/error.h"
#include "supervisor/vmd/api_error.h"

namespace supervisor::vmd {

std::pair<int, nlohmann::json> error_response(const std::exception& e) {
    if (const auto* api = dynamic_cast<const ApiError*>(&e)) {
        nlohmann::json body = api->extra().is_object() ? api->extra() : nlohmann::json::object();
        body["error"] = api->what();
        return {api->status(), body};
    }
    if (dynamic_cast<const base::InvalidInput*>(&e) != nullptr) {
        return {400, {{"error", e.what()}}};
    }
    if (dynamic_cast<const base::HostError*>(&e) != nullptr) {
        return {500, {{"error", e.what()}}};
    }
    return {500, {{"error", std::string("internal error (a bug in vmd): ") + e.what()}}};
}

}  // namespace supervisor::vmd
