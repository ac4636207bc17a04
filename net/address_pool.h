#pragma once
// Which addresses of a network instances may lease, and which one a new
// lease gets. Pure: the leases themselves live with the caller (vmd keeps
// them in its SQLite store, in the transaction of the state change they
// belong to); this code only decides, from the set in use that the caller
// read inside that same transaction, so it can never hand out an address a
// committed lease holds.

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "net/ipv4.h"

namespace net {

// No address is left: the start must be refused (vmd answers 409).
class PoolExhausted : public base::InvalidInput {
  public:
    using InvalidInput::InvalidInput;
};

class AddressPool {
  public:
    // The network's addresses except its network and broadcast addresses and
    // the gateway (the host's address on the bridge). Throws InvalidInput for
    // a prefix over /30 (no room for a gateway and an instance) or a gateway
    // that is not one of the network's host addresses.
    AddressPool(Ipv4Cidr cidr, Ipv4Address gateway);

    const Ipv4Cidr& cidr() const { return cidr_; }
    Ipv4Address gateway() const { return gateway_; }
    // How many addresses instances may hold at once.
    std::uint64_t capacity() const { return cidr_.size() - 3; }
    bool leasable(Ipv4Address address) const;
    // The address with this pool's prefix length, as configured in a guest.
    Ipv4Interface interface_of(Ipv4Address address) const {
        return {address, cidr_.prefix_length()};
    }

    // An address not in `in_use`: `preferred` when it is leasable and free
    // (an instance getting its previous address back), else the lowest free
    // one; nullopt when every leasable address is in use. Addresses in
    // `in_use` outside the pool are ignored.
    std::optional<Ipv4Address> allocate(const std::set<Ipv4Address>& in_use,
                                        std::optional<Ipv4Address> preferred = {}) const;

  private:
    Ipv4Cidr cidr_;
    Ipv4Address gateway_;
};

struct Lease {
    std::string instance_id;
    Ipv4Address address;
    bool operator==(const Lease&) const = default;
};

// The durable lease table, as vmd's store offers it: every call happens
// inside the one transaction that also records the instance's state change,
// so a lease and the start it belongs to are committed (or lost) together.
class LeaseTable {
  public:
    virtual ~LeaseTable() = default;
    virtual std::vector<Lease> leases() = 0;
    virtual void insert(const Lease& lease) = 0;
    // Removes the instance's lease; false when it had none.
    virtual bool erase(const std::string& instance_id) = 0;
};

// The instance's address: the one it already leases, or a new lease from
// the pool (its `preferred` previous address when free). Throws PoolExhausted
// naming the network and its size when no address is left.
Ipv4Address lease_address(const AddressPool& pool, LeaseTable& table,
                          const std::string& instance_id,
                          std::optional<Ipv4Address> preferred = {});

// Ends the instance's lease (at stop and terminate); false when it had none,
// so releasing twice is harmless.
bool release_address(LeaseTable& table, const std::string& instance_id);

}  // namespace net
