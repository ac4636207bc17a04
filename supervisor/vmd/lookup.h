#pragma once
// Finds the caller's image, volume or instance by id or by name; anything
// else (unknown, or another owner's) is 404, worded alike. uid 0 finds any
// id, and names among its own.

#include <string>

#include "supervisor/store/records.h"
#include "supervisor/store/sqlite.h"
#include "supervisor/vmd/caller.h"

namespace supervisor::vmd {

store::ImageRecord find_image(store::Database& db, const Caller& caller, const std::string& ref);
store::VolumeRecord find_volume(store::Database& db, const Caller& caller, const std::string& ref);
store::InstanceRecord find_instance(store::Database& db, const Caller& caller,
                                    const std::string& ref);

}  // namespace supervisor::vmd
