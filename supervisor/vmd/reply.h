#pragma once
// How a handler answers, now or later: a status and a JSON body. Errors
// become {"error": "..."} with the status their kind stands for
// (base/error.h, api_error.h).

#include <exception>
#include <functional>
#include <nlohmann/json.hpp>
#include <utility>

namespace supervisor::vmd {

using Reply = std::function<void(int status, const nlohmann::json& body)>;

std::pair<int, nlohmann::json> error_response(const std::exception& e);

// Runs `fn`; an exception it throws is answered through `reply`.
template <typename Fn>
void answering_errors(const Reply& reply, Fn&& fn) {
    try {
        fn();
    } catch (const std::exception& e) {
        const auto [status, body] = error_response(e);
        reply(status, body);
    }
}

}  // namespace supervisor::vmd
