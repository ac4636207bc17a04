#pragma once
// The instances table.

#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::store::instances {

void insert(Database& db, const InstanceRecord& instance);
void update(Database& db, const InstanceRecord& instance);  // every column but id
std::optional<InstanceRecord> get(Database& db, const std::string& id);
// The owner's instance of that name that is not terminated.
std::optional<InstanceRecord> find_by_name(Database& db, Owner owner, const std::string& name);
std::vector<InstanceRecord> list(Database& db, std::optional<Owner> owner = std::nullopt);
std::vector<InstanceRecord> in_states(Database& db, const std::vector<std::string>& states);
// Instances that use an image and are not terminated.
std::vector<InstanceRecord> using_image(Database& db, const std::string& image);
// Deletes terminated instances that ended before `before`, with their
// process rows; returns their ids.
std::vector<std::string> purge_terminated(Database& db, Millis before);

}  // namespace supervisor::store::instances
