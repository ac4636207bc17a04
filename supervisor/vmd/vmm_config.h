#pragma once
// The --config JSON vmd gives each vmm (docs/vmm.md: the same keys as its
// long options): kernel, command line, size, the console and events files,
// the API socket and the disks. Pure, so that it is unit-tested.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "supervisor/store/records.h"
#include "supervisor/vmd/layout.h"
#include "supervisor/vmd/options.h"

namespace supervisor::vmd {

struct VmmConfigInputs {
    const store::InstanceRecord& instance;
    const store::ImageRecord& image;
    const std::vector<std::string>& data_volumes;  // attached, in order
    const Layout& layout;
    const Options& options;
    std::optional<std::string> net = std::nullopt;   // the `net` option (tap, MAC); none: no card
    std::optional<std::string> seed = std::nullopt;  // the NoCloud seed image, attached last
};

// Throws InvalidInput when the image has no kernel and vmd none either.
nlohmann::json vmm_config(const VmmConfigInputs& in);

}  // namespace supervisor::vmd
