#pragma once
// The instances' network as vmd runs it (docs/network.md): an address leased
// in the transaction of each start and released in that of the stop,
// failure or teardown; a tap and its nftables rules from the vmm's launch to
// its exit; at vmd's start the bridge, the whole table for the running
// instances and the leftover taps removed. Owned by the Daemon beside the
// Supervisor, which calls it at those points.
//
// --network (options.h): "bridge" does all of it; "addresses" only leases
// (the guests get no network card: hosts where vmd cannot make a bridge);
// "none" does nothing.

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "net/address_pool.h"
#include "net/bridge.h"
#include "net/bridge_filter.h"
#include "net/route_socket.h"
#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"
#include "supervisor/vmd/options.h"

namespace supervisor::vmd {

class InstanceNetwork {
  public:
    // Checks the options (InvalidInput naming the bad one). Touches nothing.
    explicit InstanceNetwork(const Options& options);
    ~InstanceNetwork();
    InstanceNetwork(const InstanceNetwork&) = delete;
    InstanceNetwork& operator=(const InstanceNetwork&) = delete;

    bool leases() const { return mode_ != Mode::kNone; }
    bool plumbing() const { return mode_ == Mode::kBridge; }

    // At vmd's start, before the Supervisor's recovery: the bridge with its
    // gateway, the filter table with a port for each instance holding a
    // lease, and every tap of ours not theirs deleted (the recovery then
    // releases the leases and taps of vmms that ended while vmd was down).
    // Throws HostError saying what to do when the host refuses.
    void start(store::Database& db);

    // Inside the start's transaction: the instance's address (its previous
    // one when free), recorded in the leases table and on `r`. Throws
    // net::PoolExhausted (a 409) when none is free.
    void lease(store::Database& db, store::InstanceRecord& r);
    // Inside the transaction of the change that ends the vmm: the lease
    // released, `r.address` cleared. Harmless when there is none.
    void release(store::Database& db, store::InstanceRecord& r);

    // Before the vmm's spawn: its tap on the bridge and its rules. Returns
    // the vmm's `net` option, none when the guest gets no network card.
    // Throws base::Error (the start then fails with that message).
    std::optional<std::string> plug(const store::InstanceRecord& r);
    // After the vmm's exit: its rules and tap removed. Never throws: a
    // failure is logged, and the next vmd start removes the leftover tap.
    void unplug(const store::InstanceRecord& r);

    // The instance's tap name (fits IFNAMSIZ: "vmt" + its 12 hex digits).
    static std::string tap_name(const std::string& instance_id);

    const net::AddressPool& pool() const { return pool_; }
    const std::vector<net::Ipv4Address>& dns() const { return dns_; }

    static constexpr const char* kTapPrefix = "vmt";

  private:
    enum class Mode { kBridge, kAddresses, kNone };

    net::PortFilter port_of(const store::InstanceRecord& r) const;

    Mode mode_;
    net::BridgeConfig bridge_;
    net::FilterConfig filter_;
    net::AddressPool pool_;
    std::vector<net::Ipv4Address> dns_;
    std::unique_ptr<net::RouteSocket> links_;
    std::unique_ptr<net::Nftables> nft_;
};

}  // namespace supervisor::vmd
