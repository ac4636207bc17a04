#pragma once
// File helpers for vmd's state directory. Failures throw HostError naming
// the path.

#include <cstdint>
#include <string>

namespace supervisor::vmd {

// mkdir -p, each created directory with `mode`.
void ensure_dir(const std::string& path, unsigned mode);
// Writes `content` to a temporary file beside `path`, syncs and renames it.
void write_file_atomically(const std::string& path, const std::string& content, unsigned mode);
// Appends one write (O_APPEND) to `path`, creating it.
void append_to_file(const std::string& path, const std::string& text);
// Creates an empty file if none is there (mode 0600).
void touch(const std::string& path);
// Removes a file or a whole tree; absent is fine. Returns false (and says
// why in `error`) when something could not be removed.
bool remove_path(const std::string& path, std::string* error = nullptr);
std::int64_t file_size(const std::string& path);  // -1 when absent
bool exists(const std::string& path);
// The last non-empty line of a text file (at most its last 4 KiB), or "".
std::string last_line(const std::string& path);
// Reads [offset, offset + max) of a file; empty past its end.
std::string read_range(const std::string& path, std::int64_t offset, std::int64_t max);
// Syncs a directory, so that a rename or creation in it is durable.
void sync_dir(const std::string& path);

}  // namespace supervisor::vmd
