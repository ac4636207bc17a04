#pragma once
// The processes table: one row per vmm process, from before its spawn (the
// cgroup it goes into) to its exit (status, signal, what it said).

#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"

namespace supervisor::store::processes {

// Inserts the row (id ignored) and returns its id.
std::int64_t insert(Database& db, const ProcessRecord& process);
void update(Database& db, const ProcessRecord& process);  // every column but id
std::optional<ProcessRecord> get(Database& db, std::int64_t id);
// The instance's process that has not exited, if any (at most one).
std::optional<ProcessRecord> live_of(Database& db, const std::string& instance);
// Every process that has not exited, oldest first.
std::vector<ProcessRecord> live(Database& db);
// The instance's latest process, exited or not.
std::optional<ProcessRecord> latest_of(Database& db, const std::string& instance);

}  // namespace supervisor::store::processes
