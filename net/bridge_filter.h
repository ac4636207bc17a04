#pragma once
// Tenant isolation and anti-spoofing on the instances' bridge, as nftables
// rules in one table of the bridge family (docs/network.md says why nftables
// rather than bridge port isolation):
//
//  * what a tap sends (prerouting): only from its instance's MAC, only IPv4
//    from its leased address and ARP naming that MAC and address (or 0.0.0.0,
//    an address probe); every other ether type (IPv6, VLAN tags, ...) dropped;
//  * what the bridge forwards to a tap (forward): only from taps of the same
//    owner;
//  * what a tap sends to the host (input): nothing for another address of
//    the instances' network, so the host cannot be used to route around the
//    forward rule;
//  * a tap with the platform's name prefix but no rules yet is dropped both
//    ways, so a tap is never open before its rules are in place.
//
// The rules are text made by pure functions (unit-tested as text) and applied
// through libnftables, each batch atomically: the whole table when vmd starts
// (with every running instance), then one instance's rules at its start and
// stop.

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "net/ipv4.h"
#include "net/mac.h"

struct nft_ctx;

namespace net {

struct FilterConfig {
    std::string table = "vmm_platform";  // in the bridge family
    std::string tap_prefix;              // every instance tap's name starts with it
    Ipv4Cidr network;                    // the instances' network
    Ipv4Address gateway;                 // the host's address in it

    // Throws InvalidInput for a table name or prefix that is not a plain word.
    void validate() const;
};

// One instance's port on the bridge.
struct PortFilter {
    std::string tap;      // its tap's name (starts with FilterConfig::tap_prefix)
    uid_t owner = 0;      // the subscriber who owns the instance
    MacAddress mac{};     // the instance's MAC (the vmm's --net mac=)
    Ipv4Address address;  // its leased address

    void validate(const FilterConfig& config) const;
};

// The whole table with these ports, replacing whatever table of that name
// was there, in one atomic batch.
std::string table_commands(const FilterConfig& config, const std::vector<PortFilter>& ports);
// One port's rules; idempotent (applying them twice leaves one copy). Needs
// the table in place.
std::string add_port_commands(const FilterConfig& config, const PortFilter& port);
// Removes one port's rules; idempotent (nothing there: nothing happens).
// Needs the table in place, as vmd has from its start on.
std::string remove_port_commands(const FilterConfig& config, const PortFilter& port);
// Removes the table; idempotent.
std::string remove_table_commands(const FilterConfig& config);

// A libnftables context: runs nft command text in the caller's network
// namespace.
class Nftables {
  public:
    // Throws HostError when the kernel has no nf_tables (rather than let
    // libnftables end the process) or libnftables cannot make a context.
    Nftables();
    ~Nftables();
    Nftables(const Nftables&) = delete;
    Nftables& operator=(const Nftables&) = delete;

    // Runs the commands as one transaction; returns what nft printed.
    // Throws HostError with nft's own message (and the commands) on failure.
    std::string run(const std::string& commands);

  private:
    nft_ctx* ctx_ = nullptr;
};

}  // namespace net
