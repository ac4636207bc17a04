#pragma once
// Wall-clock times as vmd stores (Unix milliseconds) and shows them (RFC 3339 UTC).

#include <cstdint>
#include <optional>
#include <string>

namespace supervisor::vmd {

std::int64_t now_ms();
// "2024-05-01T12:34:56.789Z"
std::string rfc3339(std::int64_t unix_ms);

}  // namespace supervisor::vmd
