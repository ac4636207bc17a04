#include "net/bridge.h"

#include "base/error.h"

namespace net {

void BridgeConfig::validate() const {
    check_interface_name(name);
    pool();
}

void ensure_bridge(RouteSocket& links, const BridgeConfig& config) {
    config.validate();
    const auto existing = links.find_link(config.name);
    if (!existing) {
        // A MAC of its own, stable per bridge name (RouteSocket::add_bridge says why).
        links.add_bridge(config.name, instance_mac("bridge:" + config.name));
    } else if (existing->kind != "bridge") {
        throw base::InvalidInput("interface " + config.name + " exists and is not a bridge (" +
                                 (existing->kind.empty() ? "a device" : existing->kind) +
                                 "): give vmd another bridge name");
    }
    links.add_ipv4_address(config.name, {config.gateway, config.network.prefix_length()});
    links.set_up(config.name);
}

bool remove_bridge(RouteSocket& links, const std::string& name) {
    const auto existing = links.find_link(name);
    if (!existing) {
        return false;
    }
    if (existing->kind != "bridge") {
        throw base::InvalidInput("interface " + name + " is not a bridge: not deleting it");
    }
    return links.delete_link(name);
}

}  // namespace net
