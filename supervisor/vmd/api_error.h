#pragma once
// An API request the caller must change: the HTTP status and a message
// that names what is wrong (404 unknown, 405 wrong method, 408 a wait that
// timed out, 409 does not fit the state, 413 too large). Plain
// InvalidInput is 400; HostError is 500.

#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"

namespace supervisor::vmd {

class ApiError : public base::InvalidInput {
  public:
    ApiError(int status, const std::string& message, nlohmann::json extra = nullptr)
        : base::InvalidInput(message), status_(status), extra_(std::move(extra)) {}
    int status() const { return status_; }
    // More fields for the error object (e.g. the instances a failed run made).
    const nlohmann::json& extra() const { return extra_; }

  private:
    int status_;
    nlohmann::json extra_;
};

inline ApiError not_found(const std::string& what) {
    return ApiError(404, what);
}

inline ApiError conflict(const std::string& what) {
    return ApiError(409, what);
}

}  // namespace supervisor::vmd
