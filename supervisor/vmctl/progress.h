#pragma once
// The progress bar `vmctl image import` draws on a terminal.

#include <cstdint>
#include <string>

namespace vmctl {

// "[#########...........]  45%  57.6 MiB of 128 MiB" for `fraction` (clamped
// to 0..1) of `total_bytes` (0: unknown, no sizes shown), `width` marks wide.
std::string progress_bar(double fraction, std::uint64_t total_bytes, int width = 30);

}  // namespace vmctl
