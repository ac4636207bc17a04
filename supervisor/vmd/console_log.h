#pragma once
// An instance's console log: the vmm appends the guest's serial output
// (O_APPEND); vmd marks each start and keeps the file under its cap like
// logrotate's copytruncate, keeping the last half.

#include <cstdint>
#include <string>

namespace supervisor::vmd {

// When the file is over `max_bytes`, drops its head so that about half
// remains, and returns how many bytes went (0 when nothing did).
std::int64_t trim_console_log(const std::string& path, std::int64_t max_bytes);

}  // namespace supervisor::vmd
