#pragma once
// The instance_credentials table (migration 3): what a run request carried
// for the subscriber to log in, kept for every later start's seed.

#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/sqlite.h"

namespace supervisor::store {

struct CredentialsRecord {
    std::string instance;
    std::vector<std::string> ssh_keys;  // public keys, one line each
    std::optional<std::string> user_data;
};

namespace credentials {

void put(Database& db, const CredentialsRecord& record);
// An instance run without credentials has none: no keys, no user-data.
CredentialsRecord get(Database& db, const std::string& instance);

}  // namespace credentials
}  // namespace supervisor::store
