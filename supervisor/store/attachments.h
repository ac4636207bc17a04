#pragma once
// The attachments table: which volume is attached to which instance (a
// volume to at most one).

#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::store::attachments {

void insert(Database& db, const AttachmentRecord& attachment);
void remove(Database& db, const std::string& volume);
std::optional<AttachmentRecord> of_volume(Database& db, const std::string& volume);
// The volumes attached to an instance, in the order they were attached.
std::vector<AttachmentRecord> of_instance(Database& db, const std::string& instance);

}  // namespace supervisor::store::attachments
