#pragma once
// The NoCloud seed as a disk: a small vfat filesystem labelled "cidata"
// holding meta-data, user-data and network-config, made with Debian's
// mkfs.vfat and mcopy (dosfstools, mtools) without mounting anything, and
// attached to the instance read-only (--disk path=SEED,readonly).

#include <string>

#include "supervisor/seed/nocloud.h"

namespace seed {

inline constexpr const char* kSeedLabel = "cidata";

// Writes the image at `path`, replacing it atomically (a temporary beside it,
// renamed), mode 0600 (it holds private host keys). Throws HostError naming
// the tool that failed.
void write_seed_image(const SeedFiles& files, const std::string& path);

}  // namespace seed
