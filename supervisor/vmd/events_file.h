#pragma once
// Reading a vmm's --events file from an offset: whole lines only (a line
// the vmm is still writing waits for the next read), each parsed as JSON.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace supervisor::vmd {

struct EventLine {
    nlohmann::json event;     // null when the line is not a JSON object
    std::int64_t end_offset;  // the offset just past this line
};

// At most `max_bytes` are read per call; a window that holds no newline at
// all is returned as one unparsable line so that reading goes on past it.
std::vector<EventLine> read_event_lines(const std::string& path, std::int64_t offset,
                                        std::size_t max_bytes = 1 << 20);

}  // namespace supervisor::vmd
