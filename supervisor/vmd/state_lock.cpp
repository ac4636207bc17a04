#include "supervisor/vmd/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "base/error.h"

namespace supervisor::vmd {

StateLock::StateLock(const std::string& state_dir) {
    const std::string path = state_dir + "/vmd.lock";
    fd_.reset(open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd_.valid()) {
        base::throw_errno("cannot open " + path);
    }
    if (flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK) {
            base::throw_errno("cannot lock " + path);
        }
        char text[32] = {};
        const ssize_t n = pread(fd_.get(), text, sizeof text - 1, 0);
        const std::string pid = n > 0 ? std::string(text, static_cast<std::size_t>(n)) : "?";
        throw base::HostError("another vmd (pid " + pid.substr(0, pid.find('\n')) + ") is using " +
                              state_dir + " (" + path + " is locked); stop it first");
    }
    const std::string pid = std::to_string(getpid()) + "\n";
    if (ftruncate(fd_.get(), 0) != 0 ||
        pwrite(fd_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        base::throw_errno("cannot write " + path);
    }
}

}  // namespace supervisor::vmd
