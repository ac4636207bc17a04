#include "supervisor/vmd/instance_network.h"

#include <unistd.h>

#include "base/error.h"
#include "net/persistent_tap.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/leases.h"
#include "supervisor/vmd/log.h"

namespace supervisor::vmd {

namespace {

net::Ipv4Address gateway_of(const Options& o, const net::Ipv4Cidr& cidr) {
    if (!o.gateway.empty()) {
        return net::Ipv4Address::parse_or_throw(o.gateway, "--gateway");
    }
    return net::Ipv4Address(cidr.network().value() + 1);
}

net::Ipv4Cidr cidr_of(const Options& o) {
    try {
        return net::Ipv4Cidr::parse(o.network_cidr);
    } catch (const base::InvalidInput& e) {
        throw base::InvalidInput(std::string("--network-cidr: ") + e.what());
    }
}

}  // namespace

InstanceNetwork::InstanceNetwork(const Options& o)
    : mode_(o.network == "none"        ? Mode::kNone
            : o.network == "addresses" ? Mode::kAddresses
                                       : Mode::kBridge),
      bridge_{o.bridge, cidr_of(o), gateway_of(o, cidr_of(o))},
      filter_{"vmm_platform", kTapPrefix, bridge_.network, bridge_.gateway},
      pool_(bridge_.pool()) {
    if (o.network != "bridge" && o.network != "addresses" && o.network != "none") {
        throw base::InvalidInput("--network must be bridge, addresses or none, not '" + o.network +
                                 "'");
    }
    bridge_.validate();
    filter_.validate();
    for (const auto& d : o.dns) {
        dns_.push_back(net::Ipv4Address::parse_or_throw(d, "--dns"));
    }
    if (dns_.empty()) {
        dns_.push_back(bridge_.gateway);
    }
}

InstanceNetwork::~InstanceNetwork() = default;

std::string InstanceNetwork::tap_name(const std::string& instance_id) {
    const std::string hex = instance_id.rfind("i-", 0) == 0 ? instance_id.substr(2) : instance_id;
    return kTapPrefix + hex;
}

void InstanceNetwork::start(store::Database& db) {
    if (!plumbing()) {
        log_line(mode_ == Mode::kNone
                     ? std::string("instance networking is off (--network none)")
                     : "instances get addresses from " + bridge_.network.to_string() +
                           " but no network card (--network addresses)");
        return;
    }
    try {
        links_ = std::make_unique<net::RouteSocket>();
        net::ensure_bridge(*links_, bridge_);
        nft_ = std::make_unique<net::Nftables>();
    } catch (const base::InvalidInput&) {
        throw;
    } catch (const base::Error& e) {
        throw base::HostError(std::string(e.what()) + " (vmd needs CAP_NET_ADMIN for bridge " +
                              bridge_.name +
                              " and its taps; run it as root, or with --network addresses or "
                              "--no-network where instances need no network)");
    }
    std::vector<net::PortFilter> ports;
    std::set<std::string> keep;
    for (const auto& r : store::instances::list(db)) {
        if (r.address) {
            ports.push_back(port_of(r));
            keep.insert(ports.back().tap);
        }
    }
    nft_->run(net::table_commands(filter_, ports));
    for (const auto& tap : net::list_taps(*links_, kTapPrefix)) {
        if (keep.count(tap) == 0) {
            net::delete_tap(*links_, tap);
            log_line("removed the leftover tap " + tap);
        }
    }
    log_line("bridge " + bridge_.name + " " + bridge_.gateway.to_string() + "/" +
             std::to_string(bridge_.network.prefix_length()) + ", " + std::to_string(ports.size()) +
             " instance port" + (ports.size() == 1 ? "" : "s") + " in nftables table bridge " +
             filter_.table);
}

void InstanceNetwork::lease(store::Database& db, store::InstanceRecord& r) {
    if (!leases()) {
        return;
    }
    store::LeaseStore table(db);
    std::optional<net::Ipv4Address> previous;
    if (r.last_address) {
        previous = net::Ipv4Address::parse(*r.last_address);
    }
    r.address = net::lease_address(pool_, table, r.id, previous).to_string();
    r.last_address = r.address;
    r.tap = plumbing() ? std::optional<std::string>(tap_name(r.id)) : std::nullopt;
}

void InstanceNetwork::release(store::Database& db, store::InstanceRecord& r) {
    store::LeaseStore table(db);
    net::release_address(table, r.id);
    r.address.reset();
    r.tap.reset();
}

net::PortFilter InstanceNetwork::port_of(const store::InstanceRecord& r) const {
    net::PortFilter port;
    port.tap = tap_name(r.id);
    port.owner = static_cast<uid_t>(r.owner);
    const auto mac = net::parse_mac(r.mac);
    if (!mac) {
        throw base::InternalError("instance " + r.id + " has the MAC '" + r.mac +
                                  "', which does not parse");
    }
    port.mac = *mac;
    port.address = net::Ipv4Address::parse_or_throw(r.address.value_or(""), "the leased address");
    return port;
}

std::optional<std::string> InstanceNetwork::plug(const store::InstanceRecord& r) {
    if (!plumbing() || !r.address) {
        return std::nullopt;
    }
    const auto port = port_of(r);
    // The rules first: a tap of ours without them is closed both ways, but
    // one with them is never open to another address.
    nft_->run(net::add_port_commands(filter_, port));
    net::create_tap(*links_, {port.tap, bridge_.name, geteuid(), std::nullopt});
    return "tap=" + port.tap + ",mac=" + r.mac;
}

void InstanceNetwork::unplug(const store::InstanceRecord& r) {
    if (!plumbing()) {
        return;
    }
    const std::string tap = tap_name(r.id);
    try {
        // The removal names the tap and its owner's set only (the address
        // is released by now).
        net::PortFilter port;
        port.tap = tap;
        port.owner = static_cast<uid_t>(r.owner);
        nft_->run(net::remove_port_commands(filter_, port));
        if (net::delete_tap(*links_, tap)) {
            log_line("instance " + r.id + ": tap " + tap + " deleted");
        }
    } catch (const base::Error& e) {
        log_line("instance " + r.id + ": could not remove tap " + tap +
                 " or its rules: " + e.what() + " (the next vmd start removes it)");
    }
}

}  // namespace supervisor::vmd
