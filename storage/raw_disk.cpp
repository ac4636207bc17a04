#include "storage/raw_disk.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/error.h"

namespace storage {

namespace {

constexpr std::uint64_t kSector = 512;

[[noreturn]] void throw_open_error(const std::string& path, bool writable, bool direct, int err) {
    const std::string file = "disk image '" + path + "'";
    switch (err) {
        case ENOENT:
            throw base::InvalidInput(file + " does not exist: check the path");
        case EACCES:
        case EPERM:
            throw base::InvalidInput(
                file + ": permission denied for " + (writable ? "reading and writing" : "reading") +
                ": fix its permissions" + (writable ? " or attach it read-only" : ""));
        case EROFS:
            throw base::InvalidInput(file +
                                     " is on a read-only filesystem: attach it read-only "
                                     "or ephemeral");
        case EISDIR:
            throw base::InvalidInput(file + " is a directory: give the path of an image file");
        case ETXTBSY:
        case EBUSY:
            throw base::InvalidInput(file + " is busy (in use by the host): " + std::strerror(err));
        case EINVAL:
            if (direct) {
                throw base::InvalidInput(file +
                                         ": its filesystem does not support O_DIRECT: drop the "
                                         "direct option");
            }
            break;
        case EMFILE:
        case ENFILE:
        case ENOMEM:
            errno = err;
            base::throw_errno("open " + file);
        default:
            break;
    }
    throw base::InvalidInput(file + " cannot be opened: " + std::strerror(err));
}

bool is_unsupported(int result) {
    return result == -EOPNOTSUPP || result == -ENOSYS;
}

}  // namespace

ImageFile open_image(const std::string& path, bool writable, bool direct) {
    if (path.empty()) {
        throw base::InvalidInput("disk: no image path given");
    }
    const std::string file = "disk image '" + path + "'";
    int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
    if (direct) {
        flags |= O_DIRECT;
    }
    ImageFile image;
    image.fd.reset(::open(path.c_str(), flags));
    if (!image.fd.valid()) {
        throw_open_error(path, writable, direct, errno);
    }
    struct stat st {};
    if (::fstat(image.fd.get(), &st) != 0) {
        base::throw_errno("fstat " + file);
    }
    if (S_ISDIR(st.st_mode)) {
        throw base::InvalidInput(file + " is a directory: give the path of an image file");
    }
    if (S_ISBLK(st.st_mode)) {
        image.block_device = true;
        if (::ioctl(image.fd.get(), BLKGETSIZE64, &image.size) != 0) {
            base::throw_errno("BLKGETSIZE64 on " + file);
        }
    } else if (S_ISREG(st.st_mode)) {
        image.size = static_cast<std::uint64_t>(st.st_size);
    } else {
        throw base::InvalidInput(file + " is neither a regular file nor a block device");
    }
    if (image.size == 0) {
        throw base::InvalidInput(file + " is empty: a disk needs at least 512 bytes");
    }
    if (image.size % kSector != 0) {
        throw base::InvalidInput(file + " is " + std::to_string(image.size) +
                                 " bytes, not a multiple of 512: resize it (e.g. truncate -s)");
    }
    if (::flock(image.fd.get(), (writable ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            throw base::InvalidInput(file + " is in use by another VM (it is locked" +
                                     std::string(writable ? "" : " for writing") +
                                     "): stop that VM or use another image");
        }
        if (errno != ENOLCK && errno != EOPNOTSUPP && errno != EINVAL) {
            base::throw_errno("flock " + file);
        }
        // Some network file systems have no locks: go on unguarded, but say so.
        std::fprintf(stderr, "vmm: cannot lock %s (%s): nothing stops another VM from using it\n",
                     file.c_str(), std::strerror(errno));
    }
    return image;
}

struct RawDisk::State {
    base::IoRing& ring;
    ImageFile image;
    bool read_only;
    bool direct;
    bool punch_hole_works = true;
    bool zero_range_works = true;
    std::uint64_t cancels = 0;  // cancel() calls: a request begun before one takes no new step

    bool aligned(std::uint64_t offset, std::span<const iovec> iov) const {
        if (!direct) {
            return true;
        }
        if (offset % kSector != 0) {
            return false;
        }
        return std::all_of(iov.begin(), iov.end(), [](const iovec& part) {
            return reinterpret_cast<std::uintptr_t>(part.iov_base) % kSector == 0 &&
                   part.iov_len % kSector == 0;
        });
    }

    // Writes zeros over [offset, offset + len), one chunk at a time, while
    // no cancel() came after `epoch`.
    static void write_zero_chunks(std::shared_ptr<State> s, std::uint64_t offset, std::uint64_t len,
                                  std::uint64_t epoch, Completion done);
};

namespace {

void answer(base::IoRing& ring, Completion done, int result) {
    ring.nop([done = std::move(done), result](int) { done(result); });
}

}  // namespace

void RawDisk::State::write_zero_chunks(std::shared_ptr<State> s, std::uint64_t offset,
                                       std::uint64_t len, std::uint64_t epoch, Completion done) {
    const std::uint64_t n = std::min<std::uint64_t>(len, zeros().size());
    const iovec part{const_cast<std::uint8_t*>(zeros().data()), n};
    const int fd = s->image.fd.get();
    base::IoRing& ring = s->ring;
    write_all(
        ring, fd, std::span(&part, 1), offset,
        [s = std::move(s), offset, len, n, epoch, done = std::move(done)](int result) mutable {
            if (result < 0 || n == len) {
                done(result);
                return;
            }
            if (s->cancels != epoch) {
                done(-ECANCELED);
                return;
            }
            write_zero_chunks(std::move(s), offset + n, len - n, epoch, std::move(done));
        });
}

std::unique_ptr<RawDisk> RawDisk::open(base::IoRing& ring, const DiskOptions& options) {
    return std::make_unique<RawDisk>(ring,
                                     open_image(options.path, !options.read_only, options.direct),
                                     options.read_only, options.direct);
}

RawDisk::RawDisk(base::IoRing& ring, ImageFile image, bool read_only, bool direct)
    : state_(std::make_shared<State>(State{ring, std::move(image), read_only, direct})) {}

RawDisk::~RawDisk() = default;

std::uint64_t RawDisk::size() const {
    return state_->image.size;
}

bool RawDisk::read_only() const {
    return state_->read_only;
}

void RawDisk::read(std::uint64_t offset, std::span<const iovec> iov, Completion done) {
    State& s = *state_;
    if (!within(offset, iov_bytes(iov), s.image.size) || !s.aligned(offset, iov)) {
        answer(s.ring, std::move(done), -EINVAL);
        return;
    }
    read_all(s.ring, s.image.fd.get(), iov, offset,
             [keep = state_, done = std::move(done)](int result) { done(result); });
}

void RawDisk::write(std::uint64_t offset, std::span<const iovec> iov, Completion done) {
    State& s = *state_;
    if (s.read_only) {
        answer(s.ring, std::move(done), -EROFS);
        return;
    }
    if (!within(offset, iov_bytes(iov), s.image.size) || !s.aligned(offset, iov)) {
        answer(s.ring, std::move(done), -EINVAL);
        return;
    }
    write_all(s.ring, s.image.fd.get(), iov, offset,
              [keep = state_, done = std::move(done)](int result) { done(result); });
}

void RawDisk::flush(Completion done) {
    State& s = *state_;
    if (s.read_only) {
        answer(s.ring, std::move(done), 0);
        return;
    }
    s.ring.fsync(s.image.fd.get(), true,
                 [keep = state_, done = std::move(done)](int result) { done(result); });
}

void RawDisk::discard(std::uint64_t offset, std::uint64_t len, Completion done) {
    State& s = *state_;
    if (s.read_only) {
        answer(s.ring, std::move(done), -EROFS);
        return;
    }
    if (!within(offset, len, s.image.size)) {
        answer(s.ring, std::move(done), -EINVAL);
        return;
    }
    if (len == 0 || !s.punch_hole_works) {
        answer(s.ring, std::move(done), 0);
        return;
    }
    s.ring.fallocate(s.image.fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len,
                     [keep = state_, done = std::move(done)](int result) {
                         if (is_unsupported(result)) {
                             keep->punch_hole_works = false;
                             result = 0;  // discarding is a hint
                         }
                         done(result);
                     });
}

void RawDisk::write_zeroes(std::uint64_t offset, std::uint64_t len, bool may_unmap,
                           Completion done) {
    State& s = *state_;
    if (s.read_only) {
        answer(s.ring, std::move(done), -EROFS);
        return;
    }
    if (!within(offset, len, s.image.size)) {
        answer(s.ring, std::move(done), -EINVAL);
        return;
    }
    if (len == 0) {
        answer(s.ring, std::move(done), 0);
        return;
    }
    // Ways to zero, best first; each one the filesystem refuses is dropped
    // for good and the next one tried.
    const std::uint64_t epoch = s.cancels;
    auto try_zero_range = [keep = state_, offset, len, epoch](Completion d) {
        State& st = *keep;
        if (!st.zero_range_works) {
            State::write_zero_chunks(keep, offset, len, epoch, std::move(d));
            return;
        }
        st.ring.fallocate(st.image.fd.get(), FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset,
                          len, [keep, offset, len, epoch, d = std::move(d)](int result) mutable {
                              if (!is_unsupported(result)) {
                                  d(result);
                                  return;
                              }
                              keep->zero_range_works = false;
                              State::write_zero_chunks(keep, offset, len, epoch, std::move(d));
                          });
    };
    if (!may_unmap || !s.punch_hole_works) {
        try_zero_range(std::move(done));
        return;
    }
    s.ring.fallocate(s.image.fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, len,
                     [keep = state_, try_zero_range, done = std::move(done)](int result) mutable {
                         if (!is_unsupported(result)) {
                             done(result);
                             return;
                         }
                         keep->punch_hole_works = false;
                         try_zero_range(std::move(done));
                     });
}

void RawDisk::cancel() {
    ++state_->cancels;
    state_->ring.cancel_fd(state_->image.fd.get());
}

std::uint64_t RawDisk::allocated_bytes() const {
    if (state_->image.block_device) {
        return state_->image.size;
    }
    struct stat st {};
    if (::fstat(state_->image.fd.get(), &st) != 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace storage
