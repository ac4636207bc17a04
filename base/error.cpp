#include "base/error.h"

#include <cerrno>
#include <cstring>

namespace base {

void throw_errno(const std::string& what) {
    const int err = errno;
    throw HostError(what + ": " + std::strerror(err));
}

}  // namespace base
