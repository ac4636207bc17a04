#pragma once
// The address leases (migration 3): the store's side of net::LeaseTable.
// Every call runs on the caller's transaction, the one that records the
// instance's state change, so a lease and its start commit (or vanish)
// together. UNIQUE(address) and UNIQUE(instance) back the pool's choice.

#include <string>
#include <vector>

#include "net/address_pool.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::store {

class LeaseStore : public net::LeaseTable {
  public:
    explicit LeaseStore(Database& db) : db_(db) {}

    std::vector<net::Lease> leases() override;
    void insert(const net::Lease& lease) override;
    bool erase(const std::string& instance_id) override;

  private:
    Database& db_;
};

}  // namespace supervisor::store
