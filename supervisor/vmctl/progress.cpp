#include "supervisor/vmctl/progress.h"

#include <algorithm>
#include <cmath>

#include "supervisor/vmctl/units.h"

namespace vmctl {

std::string progress_bar(double fraction, std::uint64_t total_bytes, int width) {
    if (!(fraction >= 0)) {  // NaN too
        fraction = 0;
    }
    fraction = std::min(fraction, 1.0);
    const int filled = static_cast<int>(std::floor(fraction * width));
    const int percent = static_cast<int>(std::floor(fraction * 100));
    std::string bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    const std::string pct = std::to_string(percent) + "%";
    bar += std::string(4 - std::min<std::size_t>(pct.size(), 4), ' ') + pct;
    if (total_bytes > 0) {
        const auto done = static_cast<std::uint64_t>(fraction * static_cast<double>(total_bytes));
        bar += "  " + format_size(done) + " of " + format_size(total_bytes);
    }
    return bar;
}

}  // namespace vmctl
