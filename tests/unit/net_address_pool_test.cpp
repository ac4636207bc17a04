#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "net/address_pool.h"

namespace net {
namespace {

Ipv4Address ip(const char* text) {
    return *Ipv4Address::parse(text);
}

AddressPool pool24() {
    return AddressPool(Ipv4Cidr::parse("198.18.0.0/24"), ip("198.18.0.1"));
}

TEST(AddressPool, LeasesHostAddressesOnlyNeverNetworkBroadcastOrGateway) {
    const AddressPool p = pool24();
    EXPECT_EQ(p.capacity(), 253u);
    EXPECT_FALSE(p.leasable(ip("198.18.0.0")));
    EXPECT_FALSE(p.leasable(ip("198.18.0.1")));
    EXPECT_FALSE(p.leasable(ip("198.18.0.255")));
    EXPECT_FALSE(p.leasable(ip("198.18.1.2")));
    EXPECT_TRUE(p.leasable(ip("198.18.0.2")));
    EXPECT_TRUE(p.leasable(ip("198.18.0.254")));
    EXPECT_EQ(p.interface_of(ip("198.18.0.9")).to_string(), "198.18.0.9/24");
}

TEST(AddressPool, RefusesAGatewayOutsideAndANetworkTooSmall) {
    EXPECT_THROW(AddressPool(Ipv4Cidr::parse("198.18.0.0/24"), ip("198.18.1.1")),
                 base::InvalidInput);
    EXPECT_THROW(AddressPool(Ipv4Cidr::parse("198.18.0.0/24"), ip("198.18.0.0")),
                 base::InvalidInput);
    EXPECT_THROW(AddressPool(Ipv4Cidr::parse("198.18.0.0/24"), ip("198.18.0.255")),
                 base::InvalidInput);
    EXPECT_THROW(AddressPool(Ipv4Cidr::parse("198.18.0.0/31"), ip("198.18.0.1")),
                 base::InvalidInput);
    const AddressPool smallest(Ipv4Cidr::parse("198.18.0.0/30"), ip("198.18.0.1"));
    EXPECT_EQ(smallest.capacity(), 1u);
    EXPECT_EQ(smallest.allocate({}), ip("198.18.0.2"));
    EXPECT_EQ(smallest.allocate({ip("198.18.0.2")}), std::nullopt);
}

TEST(AddressPool, GivesTheLowestFreeAddressSkippingTheGateway) {
    const AddressPool p = pool24();
    EXPECT_EQ(p.allocate({}), ip("198.18.0.2"));
    EXPECT_EQ(p.allocate({ip("198.18.0.2"), ip("198.18.0.3"), ip("198.18.0.5")}), ip("198.18.0.4"));
    // A gateway in the middle of the network is skipped too.
    const AddressPool mid(Ipv4Cidr::parse("198.18.0.0/29"), ip("198.18.0.3"));
    EXPECT_EQ(mid.allocate({ip("198.18.0.1"), ip("198.18.0.2")}), ip("198.18.0.4"));
    // Leases outside the pool (an older, larger network) take nothing from it.
    EXPECT_EQ(p.allocate({ip("10.0.0.2"), ip("198.18.1.2")}), ip("198.18.0.2"));
}

TEST(AddressPool, GivesThePreferredAddressBackOnlyWhenFreeAndLeasable) {
    const AddressPool p = pool24();
    EXPECT_EQ(p.allocate({}, ip("198.18.0.77")), ip("198.18.0.77"));
    EXPECT_EQ(p.allocate({ip("198.18.0.77")}, ip("198.18.0.77")), ip("198.18.0.2"));
    EXPECT_EQ(p.allocate({}, ip("198.18.0.1")), ip("198.18.0.2"));
    EXPECT_EQ(p.allocate({}, ip("198.18.0.255")), ip("198.18.0.2"));
    EXPECT_EQ(p.allocate({}, ip("10.1.1.1")), ip("198.18.0.2"));
}

TEST(AddressPool, IsExhaustedExactlyWhenEveryLeasableAddressIsInUse) {
    const AddressPool p(Ipv4Cidr::parse("198.18.0.0/28"), ip("198.18.0.1"));
    std::set<Ipv4Address> used;
    for (std::uint64_t i = 0; i < p.capacity(); ++i) {
        const auto a = p.allocate(used);
        ASSERT_TRUE(a) << "exhausted after " << i;
        EXPECT_TRUE(p.leasable(*a));
        EXPECT_TRUE(used.insert(*a).second);
    }
    EXPECT_EQ(used.size(), 13u);
    EXPECT_EQ(p.allocate(used), std::nullopt);
    used.erase(ip("198.18.0.9"));
    EXPECT_EQ(p.allocate(used), ip("198.18.0.9"));
}

// A LeaseTable as a store with transactions: changes go to a working copy
// that commit() makes durable and crash() throws away, as SQLite does when
// vmd dies before COMMIT.
class TransactionalLeases : public LeaseTable {
  public:
    void begin() { working_ = committed_; }
    void commit() { committed_ = working_; }
    void crash() { working_ = committed_; }
    const std::map<std::string, Ipv4Address>& committed() const { return committed_; }

    std::vector<Lease> leases() override {
        std::vector<Lease> all;
        for (const auto& [id, address] : working_) {
            all.push_back({id, address});
        }
        return all;
    }
    void insert(const Lease& lease) override {
        // The store's UNIQUE constraints, as a second line of defence.
        for (const auto& [id, address] : working_) {
            ASSERT_NE(id, lease.instance_id);
            ASSERT_NE(address, lease.address) << "duplicate lease of " << address.to_string();
        }
        working_[lease.instance_id] = lease.address;
    }
    bool erase(const std::string& instance_id) override { return working_.erase(instance_id) > 0; }

  private:
    std::map<std::string, Ipv4Address> committed_;
    std::map<std::string, Ipv4Address> working_;
};

TEST(LeaseAddress, ReturnsTheLeaseAnInstanceAlreadyHolds) {
    const AddressPool p = pool24();
    TransactionalLeases t;
    t.begin();
    const Ipv4Address a = lease_address(p, t, "i-a");
    EXPECT_EQ(lease_address(p, t, "i-a", ip("198.18.0.99")), a);
    EXPECT_EQ(t.leases().size(), 1u);
    EXPECT_NE(lease_address(p, t, "i-b"), a);
    EXPECT_TRUE(release_address(t, "i-a"));
    EXPECT_FALSE(release_address(t, "i-a"));
}

TEST(LeaseAddress, AnExhaustedPoolRefusesWithTheNetworkInTheMessage) {
    const AddressPool p(Ipv4Cidr::parse("198.18.0.0/30"), ip("198.18.0.1"));
    TransactionalLeases t;
    t.begin();
    lease_address(p, t, "i-a");
    try {
        lease_address(p, t, "i-b");
        FAIL() << "a second lease from a pool of one";
    } catch (const PoolExhausted& e) {
        EXPECT_NE(std::string(e.what()).find("198.18.0.0/30"), std::string::npos) << e.what();
    }
    EXPECT_EQ(t.leases().size(), 1u);
}

// Thousands of starts and stops of many instances over a small pool, with
// vmd "crashing" at random before its transaction commits and coming back
// with only the committed leases (a fresh pool and table each time, as a
// restarted vmd has). A running instance's address is its committed lease;
// two running instances never share one; every lease is leasable; the pool
// refuses only when it is truly full.
TEST(LeaseAddress, PropertyNoDuplicateAcrossRandomCyclesAndCrashes) {
    const Ipv4Cidr cidr = Ipv4Cidr::parse("198.18.0.0/27");
    const Ipv4Address gateway = ip("198.18.0.1");
    std::mt19937 rng(20261201);
    std::vector<std::string> instances;
    for (int i = 0; i < 60; ++i) {  // twice the pool: often full
        instances.push_back("i-" + std::to_string(1000 + i));
    }
    auto table = std::make_unique<TransactionalLeases>();
    auto pool = std::make_unique<AddressPool>(cidr, gateway);
    std::map<std::string, Ipv4Address> running;   // what guests really have configured
    std::map<std::string, Ipv4Address> previous;  // each instance's last address
    int crashes = 0, refusals = 0, starts = 0, stops = 0;

    for (int step = 0; step < 20000; ++step) {
        const std::string& id = instances[rng() % instances.size()];
        const bool crash_before_commit = rng() % 10 == 0;
        table->begin();
        if (!running.contains(id)) {
            std::optional<Ipv4Address> hint;
            if (previous.contains(id) && rng() % 2 == 0) {
                hint = previous[id];
            } else if (rng() % 4 == 0) {
                hint = Ipv4Address(cidr.network().value() + rng() % 40);  // anything, even taken
            }
            try {
                const Ipv4Address a = lease_address(*pool, *table, id, hint);
                if (crash_before_commit) {
                    table->crash();
                } else {
                    table->commit();
                    running[id] = a;  // the vmm starts only after the commit
                    previous[id] = a;
                    ++starts;
                }
            } catch (const PoolExhausted&) {
                ++refusals;
                ASSERT_EQ(table->committed().size(), pool->capacity())
                    << "refused while the pool had room, step " << step;
                table->crash();
            }
        } else {
            ASSERT_TRUE(release_address(*table, id));
            if (crash_before_commit) {
                table->crash();  // still leased: vmd finishes the stop after restart
            } else {
                table->commit();
                running.erase(id);
                ++stops;
            }
        }
        if (crash_before_commit) {
            ++crashes;
            // vmd restarts: nothing survives but the committed leases.
            auto reloaded = std::make_unique<TransactionalLeases>();
            reloaded->begin();
            for (const auto& [lease_id, address] : table->committed()) {
                reloaded->insert({lease_id, address});
            }
            reloaded->commit();
            table = std::move(reloaded);
            pool = std::make_unique<AddressPool>(cidr, gateway);
        }
        std::set<Ipv4Address> seen;
        for (const auto& [lease_id, address] : table->committed()) {
            ASSERT_TRUE(pool->leasable(address)) << address.to_string();
            ASSERT_TRUE(seen.insert(address).second)
                << "two leases of " << address.to_string() << " at step " << step;
        }
        for (const auto& [run_id, address] : running) {
            ASSERT_TRUE(table->committed().contains(run_id));
            ASSERT_EQ(table->committed().at(run_id), address) << run_id << " at step " << step;
        }
    }
    // The run exercised what it claims to.
    EXPECT_GT(crashes, 1000);
    EXPECT_GT(refusals, 100);
    EXPECT_GT(starts, 3000);
    EXPECT_GT(stops, 3000);
}

}  // namespace
}  // namespace net
