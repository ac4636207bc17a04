#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

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

}  // namespace supervisor::vmd
