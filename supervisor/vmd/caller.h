#pragma once
// Who makes an API request (SO_PEERCRED) and what they may see: their own
// resources, or everyone's for uid 0. Another owner's resource is reported
// exactly like an unknown one.

#include <cstdint>
#include <optional>

#include "base/unix_http_server.h"

namespace supervisor::vmd {

struct Caller {
    base::PeerCredentials credentials;

    std::int64_t uid() const { return static_cast<std::int64_t>(credentials.uid); }
    bool is_root() const { return credentials.uid == 0; }
    bool may_see(std::int64_t owner) const { return is_root() || owner == uid(); }
    // The owner filter for listings: none for root.
    std::optional<std::int64_t> scope() const {
        return is_root() ? std::nullopt : std::optional<std::int64_t>(uid());
    }
};

}  // namespace supervisor::vmd
