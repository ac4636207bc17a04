#include "supervisor/store/credentials.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace supervisor::store::credentials {

void put(Database& db, const CredentialsRecord& r) {
    Statement(db,
              "INSERT INTO instance_credentials (instance, ssh_keys, user_data) VALUES (?1, ?2, "
              "?3) ON CONFLICT (instance) DO UPDATE SET ssh_keys = ?2, user_data = ?3")
        .bind(1, r.instance)
        .bind(2, nlohmann::json(r.ssh_keys).dump())
        .bind(3, r.user_data)
        .run();
}

CredentialsRecord get(Database& db, const std::string& instance) {
    CredentialsRecord r;
    r.instance = instance;
    Statement s(db, "SELECT ssh_keys, user_data FROM instance_credentials WHERE instance = ?1");
    s.bind(1, instance);
    if (!s.step()) {
        return r;
    }
    const auto keys = nlohmann::json::parse(s.text(0), nullptr, false);
    if (!keys.is_array()) {
        throw base::InternalError("instance " + instance + "'s ssh_keys are not a JSON array");
    }
    for (const auto& k : keys) {
        r.ssh_keys.push_back(k.get<std::string>());
    }
    r.user_data = s.optional_text(1);
    return r;
}

}  // namespace supervisor::store::credentials
