#include "supervisor/vmd/log.h"

#include <cstdio>

namespace supervisor::vmd {

void log_line(const std::string& message) {
    std::fprintf(stderr, "vmd: %s\n", message.c_str());
    std::fflush(stderr);
}

}  // namespace supervisor::vmd
