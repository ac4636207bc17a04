#include "supervisor/vmd/console_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "base/fd.h"
#include "supervisor/vmd/files.h"

namespace supervisor::vmd {

std::int64_t trim_console_log(const std::string& path, std::int64_t max_bytes) {
    base::Fd fd(open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || fstat(fd.get(), &st) != 0 || st.st_size <= max_bytes) {
        return 0;
    }
    // Collapsing the head in place keeps the vmm's appends whole; it wants
    // whole file system blocks.
    const std::int64_t block = st.st_blksize > 0 ? st.st_blksize : 4096;
    const std::int64_t drop = (st.st_size - max_bytes / 2) / block * block;
    if (drop > 0 && fallocate(fd.get(), FALLOC_FL_COLLAPSE_RANGE, 0, drop) == 0) {
        return drop;
    }
    // Elsewhere: copy the tail and truncate (bytes the vmm appends in
    // between may land before the tail, as with copytruncate).
    const std::int64_t keep_from = st.st_size - max_bytes / 2;
    const std::string tail = read_range(path, keep_from, st.st_size - keep_from);
    if (ftruncate(fd.get(), 0) != 0) {
        return 0;
    }
    [[maybe_unused]] ssize_t n = write(fd.get(), tail.data(), tail.size());
    return keep_from;
}

}  // namespace supervisor::vmd
