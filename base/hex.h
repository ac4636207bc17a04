#pragma once
// Number formatting for the boot loaders' error messages.

#include <cstdint>
#include <cstdio>
#include <string>

namespace base {

inline std::string hex(std::uint64_t value) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(value));
    return buf;
}

// Whole MiB, rounded up, so that "0 MiB" never describes a non-empty thing.
inline std::string mib(std::uint64_t bytes) {
    return std::to_string((bytes + (1u << 20) - 1) >> 20) + " MiB";
}

}  // namespace base
