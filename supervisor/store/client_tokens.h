#pragma once
// The client_tokens table: a run request's idempotency token (EC2's
// ClientToken), per owner, with the request it came with and what it made.

#include <optional>
#include <string>

#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::store::client_tokens {

void insert(Database& db, const ClientTokenRecord& token);
std::optional<ClientTokenRecord> get(Database& db, Owner owner, const std::string& token);

}  // namespace supervisor::store::client_tokens
