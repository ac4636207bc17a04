#pragma once
// The images table.

#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::store::images {

void insert(Database& db, const ImageRecord& image);
void update(Database& db, const ImageRecord& image);  // every column but id
void remove(Database& db, const std::string& id);
std::optional<ImageRecord> get(Database& db, const std::string& id);
std::optional<ImageRecord> find_by_name(Database& db, Owner owner, const std::string& name);
// All images, or those of one owner, oldest first.
std::vector<ImageRecord> list(Database& db, std::optional<Owner> owner = std::nullopt);

}  // namespace supervisor::store::images
