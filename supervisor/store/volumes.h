#pragma once
// The volumes table.

#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::store::volumes {

void insert(Database& db, const VolumeRecord& volume);
void update(Database& db, const VolumeRecord& volume);  // every column but id
void remove(Database& db, const std::string& id);
std::optional<VolumeRecord> get(Database& db, const std::string& id);
std::optional<VolumeRecord> find_by_name(Database& db, Owner owner, const std::string& name);
std::vector<VolumeRecord> list(Database& db, std::optional<Owner> owner = std::nullopt);
// Volumes in a state, e.g. every 'creating' one at restart.
std::vector<VolumeRecord> in_state(Database& db, const std::string& state);

}  // namespace supervisor::store::volumes
