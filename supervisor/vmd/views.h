#pragma once
// The API's objects (docs/vmd.md, "Objects") made from the store's rows.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/records.h"

namespace supervisor::vmd {

nlohmann::json image_view(const store::ImageRecord& image);
nlohmann::json volume_view(const store::VolumeRecord& volume,
                           const std::optional<std::string>& attached_to);
nlohmann::json instance_view(const store::InstanceRecord& instance,
                             const std::vector<std::string>& volumes);

}  // namespace supervisor::vmd
