#include "supervisor/store/leases.h"

#include "base/error.h"

namespace supervisor::store {

std::vector<net::Lease> LeaseStore::leases() {
    Statement s(db_, "SELECT instance, address FROM leases ORDER BY address");
    std::vector<net::Lease> out;
    while (s.step()) {
        const std::string text = s.text(1);
        const auto address = net::Ipv4Address::parse(text);
        if (!address) {
            throw base::InternalError("the leases table holds '" + text +
                                      "', which is not an IPv4 address");
        }
        out.push_back({s.text(0), *address});
    }
    return out;
}

void LeaseStore::insert(const net::Lease& lease) {
    Statement(db_, "INSERT INTO leases (address, instance) VALUES (?1, ?2)")
        .bind(1, lease.address.to_string())
        .bind(2, lease.instance_id)
        .run();
}

bool LeaseStore::erase(const std::string& instance_id) {
    Statement(db_, "DELETE FROM leases WHERE instance = ?1").bind(1, instance_id).run();
    return db_.changes() > 0;
}

}  // namespace supervisor::store
