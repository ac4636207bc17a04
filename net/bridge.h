#pragma once
// The host bridge the instances' taps hang on, with the gateway address
// (the host's side of every instance's network).

#include <string>

#include "net/address_pool.h"
#include "net/route_socket.h"

namespace net {

struct BridgeConfig {
    std::string name;     // e.g. "vmbr0"
    Ipv4Cidr network;     // e.g. 198.18.0.0/24
    Ipv4Address gateway;  // the bridge's own address, e.g. 198.18.0.1

    // Throws InvalidInput when the name or the gateway does not fit (AddressPool's rules).
    void validate() const;
    AddressPool pool() const { return AddressPool(network, gateway); }
};

// Makes the bridge exist, carry the gateway address and be up. Idempotent:
// a bridge left from before (vmd restarted) is kept with its ports. Throws
// InvalidInput when the name is taken by an interface that is not a bridge.
void ensure_bridge(RouteSocket& links, const BridgeConfig& config);

// Deletes the bridge (its taps stay, detached); false when there was none.
bool remove_bridge(RouteSocket& links, const std::string& name);

}  // namespace net
