#include "supervisor/vmd/disk_copy.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "base/error.h"

namespace supervisor::vmd {

namespace {

constexpr std::int64_t kChunk = 1 << 20;
constexpr std::size_t kBlock = 4096;

bool all_zero(const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        if (p[i] != 0) {
            return false;
        }
    }
    return true;
}

void write_all(int fd, const char* p, std::size_t n, std::int64_t offset) {
    while (n > 0) {
        const ssize_t w = pwrite(fd, p, n, static_cast<off_t>(offset));
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            base::throw_errno("cannot write the copy");
        }
        p += w;
        n -= static_cast<std::size_t>(w);
        offset += w;
    }
}

}  // namespace

CopyResult copy_disk(int src, int dst, std::int64_t size,
                     const std::function<void(std::int64_t)>& progress,
                     const std::atomic<bool>& cancel) {
    CopyResult result;
    if (ftruncate(dst, 0) != 0) {
        base::throw_errno("cannot truncate the copy");
    }
    if (ioctl(dst, FICLONE, src) == 0) {
        if (ftruncate(dst, size) != 0 || fsync(dst) != 0) {
            base::throw_errno("cannot finish the reflinked copy");
        }
        result.reflinked = true;
        progress(size);
        return result;
    }
    if (ftruncate(dst, size) != 0) {
        base::throw_errno("cannot size the copy");
    }
    std::vector<char> buffer(kChunk);
    std::int64_t offset = 0;
    while (offset < size) {
        if (cancel.load()) {
            result.cancelled = true;
            return result;
        }
        off_t data = lseek(src, static_cast<off_t>(offset), SEEK_DATA);
        if (data < 0) {
            if (errno == ENXIO) {
                break;  // only a hole remains
            }
            data = static_cast<off_t>(offset);  // no SEEK_DATA here: copy everything
        }
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0) {
            hole = static_cast<off_t>(size);
        }
        for (std::int64_t at = data; at < std::min<std::int64_t>(hole, size);) {
            if (cancel.load()) {
                result.cancelled = true;
                return result;
            }
            const std::int64_t want = std::min<std::int64_t>({kChunk, hole - at, size - at});
            const ssize_t n =
                pread(src, buffer.data(), static_cast<std::size_t>(want), static_cast<off_t>(at));
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                base::throw_errno("cannot read the source");
            }
            if (n == 0) {
                break;  // the source is shorter than it said
            }
            // Runs of non-zero blocks are written; zero blocks stay holes.
            const std::size_t got = static_cast<std::size_t>(n);
            std::size_t run = 0;  // where the current run of non-zero blocks began
            for (std::size_t b = 0;; b += kBlock) {
                const bool end = b >= got;
                if (!end && !all_zero(buffer.data() + b, std::min(kBlock, got - b))) {
                    continue;
                }
                const std::size_t run_end = end ? got : b;
                if (run_end > run) {
                    write_all(dst, buffer.data() + run, run_end - run,
                              at + static_cast<std::int64_t>(run));
                }
                if (end) {
                    break;
                }
                run = b + kBlock;
            }
            at += n;
            progress(at);
        }
        offset = std::max<std::int64_t>(hole, offset + 1);
    }
    if (fsync(dst) != 0) {
        base::throw_errno("cannot sync the copy");
    }
    progress(size);
    return result;
}

std::int64_t allocated_bytes(int fd) {
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        return 0;
    }
    return static_cast<std::int64_t>(st.st_blocks) * 512;
}

}  // namespace supervisor::vmd
