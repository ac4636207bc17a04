#pragma once
// Sizes as people type and read them: "10G", "512M", "1.5GiB", "4096".

#include <cstdint>
#include <string>

namespace vmctl {

// Bytes for SIZE: a number with an optional binary suffix K, M, G or T
// (optionally followed by "i" and/or "B", any case; powers of 1024), or a
// plain number of bytes. The result must be a positive multiple of 512 (a
// disk sector). Throws base::InvalidInput naming `option` when it is not.
std::uint64_t parse_size(const std::string& option, const std::string& text);

// MiB for --memory: a plain number is MiB already; with a suffix it is
// converted and must come to whole MiB.
std::uint64_t parse_memory_mib(const std::string& option, const std::string& text);

// "512 B", "64 MiB", "1.5 GiB": at most one decimal, trailing ".0" dropped.
std::string format_size(std::uint64_t bytes);

}  // namespace vmctl
