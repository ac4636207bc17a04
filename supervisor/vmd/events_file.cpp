#include "supervisor/vmd/events_file.h"

#include "supervisor/vmd/files.h"

namespace supervisor::vmd {

std::vector<EventLine> read_event_lines(const std::string& path, std::int64_t offset,
                                        std::size_t max_bytes) {
    std::vector<EventLine> lines;
    const std::string text = read_range(path, offset, static_cast<std::int64_t>(max_bytes));
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t nl = text.find('\n', start);
        if (nl == std::string::npos) {
            if (start == 0 && text.size() == max_bytes) {
                lines.push_back({nullptr, offset + static_cast<std::int64_t>(text.size())});
            }
            break;
        }
        EventLine line{nullptr, offset + static_cast<std::int64_t>(nl + 1)};
        try {
            auto j = nlohmann::json::parse(text.begin() + static_cast<std::ptrdiff_t>(start),
                                           text.begin() + static_cast<std::ptrdiff_t>(nl));
            if (j.is_object()) {
                line.event = std::move(j);
            }
        } catch (const nlohmann::json::exception&) {
        }
        lines.push_back(std::move(line));
        start = nl + 1;
    }
    return lines;
}

}  // namespace supervisor::vmd
