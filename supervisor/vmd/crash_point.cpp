#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "supervisor/vmd/context.h"
#include "supervisor/vmd/log.h"

namespace supervisor::vmd {

void crash_point(const char* name) {
    static const char* wanted = std::getenv("VMD_TEST_CRASH_AT");
    if (wanted != nullptr && std::strcmp(wanted, name) == 0) {
        log_line(std::string("test hook: crashing at ") + name);
        kill(getpid(), SIGKILL);
        pause();
    }
}

void slow_point(const char* name) {
    static const char* wanted = std::getenv("VMD_TEST_SLOW_AT");
    if (wanted == nullptr) {
        return;
    }
    const std::string spec = wanted;
    const std::size_t colon = spec.find(':');
    if (colon == std::string::npos || spec.compare(0, colon, name) != 0) {
        return;
    }
    const long ms = std::strtol(spec.c_str() + colon + 1, nullptr, 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::clamp(ms, 0L, 60000L)));
}

}  // namespace supervisor::vmd
