#include "net/address_pool.h"

namespace net {

AddressPool::AddressPool(Ipv4Cidr cidr, Ipv4Address gateway) : cidr_(cidr), gateway_(gateway) {
    if (cidr.prefix_length() > 30) {
        throw base::InvalidInput("network " + cidr.to_string() +
                                 " is too small for a gateway and an instance: use /30 or larger");
    }
    if (!cidr.contains(gateway) || gateway == cidr.network() || gateway == cidr.broadcast()) {
        throw base::InvalidInput("gateway " + gateway.to_string() +
                                 " is not a host address of network " + cidr.to_string());
    }
}

bool AddressPool::leasable(Ipv4Address address) const {
    return cidr_.contains(address) && address != cidr_.network() && address != cidr_.broadcast() &&
           address != gateway_;
}

std::optional<Ipv4Address> AddressPool::allocate(const std::set<Ipv4Address>& in_use,
                                                 std::optional<Ipv4Address> preferred) const {
    if (preferred && leasable(*preferred) && !in_use.contains(*preferred)) {
        return preferred;
    }
    // Walk the candidates and the sorted set in step: O(pool + in use).
    std::uint32_t candidate = cidr_.network().value() + 1;
    const std::uint32_t last = cidr_.broadcast().value() - 1;
    auto used = in_use.lower_bound(Ipv4Address(candidate));
    while (candidate <= last) {
        while (used != in_use.end() && used->value() < candidate) {
            ++used;
        }
        const bool taken =
            (used != in_use.end() && used->value() == candidate) || candidate == gateway_.value();
        if (!taken) {
            return Ipv4Address(candidate);
        }
        ++candidate;
    }
    return std::nullopt;
}

Ipv4Address lease_address(const AddressPool& pool, LeaseTable& table,
                          const std::string& instance_id, std::optional<Ipv4Address> preferred) {
    std::set<Ipv4Address> in_use;
    for (const Lease& lease : table.leases()) {
        if (lease.instance_id == instance_id) {
            return lease.address;
        }
        in_use.insert(lease.address);
    }
    const auto address = pool.allocate(in_use, preferred);
    if (!address) {
        throw PoolExhausted("no free address in " + pool.cidr().to_string() + ": all " +
                            std::to_string(pool.capacity()) +
                            " are leased to running instances; stop one or give vmd a larger "
                            "network");
    }
    table.insert({instance_id, *address});
    return *address;
}

bool release_address(LeaseTable& table, const std::string& instance_id) {
    return table.erase(instance_id);
}

}  // namespace net
