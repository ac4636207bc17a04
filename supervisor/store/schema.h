#pragma once
// vmd's database schema: a list of migrations, applied in order, the
// database's PRAGMA user_version counting those applied. A migration is
// never edited once released; a change is a new one at the end.

#include <cstdint>

#include "supervisor/store/sqlite.h"

namespace supervisor::store {

// The version this build writes: the number of migrations.
std::int64_t schema_version();

// Brings `db` up to schema_version() in one transaction. Throws HostError
// for a database newer than this build (written by a later vmd).
void migrate(Database& db);

}  // namespace supervisor::store
