#pragma once
// Taps that outlive their creator: the supervisor makes one per running
// instance (TUNSETPERSIST), owned by the user the instance's vmm runs as,
// attached to the bridge and up; the vmm then opens it by name with
// `--net tap=NAME` (net/tap.h) and needs no privilege for it. The supervisor
// deletes it when the instance stops, and after a crash finds leftovers by
// the name prefix all its taps share.

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "net/route_socket.h"

namespace net {

struct TapSpec {
    std::string name;            // e.g. "vmt" + the instance's hex id
    std::string bridge;          // the bridge to attach it to
    uid_t owner = 0;             // the uid that may open it (the vmm's)
    std::optional<gid_t> group;  // if given, the opener must be in it too
};

// Creates the tap persistent (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, as the vmm
// opens it), sets its owner and group, attaches it to the bridge and brings
// it up. Idempotent for a tap left from before (vmd restarted in between).
// Throws InvalidInput when the name is taken by something that is not a
// tap, HostError when the kernel refuses (a tap held open by a process).
void create_tap(RouteSocket& links, const TapSpec& spec);

// Deletes the tap; false when there was none. Refuses (InvalidInput) to
// delete an interface of that name that is not a tap.
bool delete_tap(RouteSocket& links, const std::string& name);

// The names of the taps whose name starts with `prefix`, sorted.
std::vector<std::string> list_taps(RouteSocket& links, const std::string& prefix);

}  // namespace net
