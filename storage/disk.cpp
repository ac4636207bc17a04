#include "storage/disk.h"

#include <cerrno>
#include <vector>

#include "storage/overlay_disk.h"
#include "storage/raw_disk.h"

namespace storage {

namespace {

// Tries again after -EAGAIN/-EINTR a few times, not forever.
constexpr int kRetries = 3;

struct Transfer {
    base::IoRing& ring;
    bool write;
    int fd;
    std::vector<iovec> iov;
    std::size_t first = 0;  // iov[first..] is what is left
    std::uint64_t offset;
    int retries = 0;
    Completion done;

    static void step(std::shared_ptr<Transfer> t) {
        base::IoRing& ring = t->ring;
        const int fd = t->fd;
        const std::uint64_t offset = t->offset;
        const bool write = t->write;
        std::span<const iovec> rest(t->iov.data() + t->first, t->iov.size() - t->first);
        auto next = [t = std::move(t)](int result) mutable { on_result(std::move(t), result); };
        if (write) {
            ring.writev(fd, rest, offset, std::move(next));
        } else {
            ring.readv(fd, rest, offset, std::move(next));
        }
    }

    static void on_result(std::shared_ptr<Transfer> t, int result) {
        if (result == -EAGAIN || result == -EINTR) {
            if (++t->retries <= kRetries) {
                step(std::move(t));
                return;
            }
        }
        if (result <= 0) {
            Completion done = std::move(t->done);
            done(result < 0 ? result : -EIO);
            return;
        }
        t->retries = 0;
        t->offset += static_cast<std::uint64_t>(result);
        std::size_t left = static_cast<std::size_t>(result);
        while (t->first < t->iov.size() && left >= t->iov[t->first].iov_len) {
            left -= t->iov[t->first].iov_len;
            ++t->first;
        }
        if (t->first == t->iov.size()) {
            Completion done = std::move(t->done);
            done(0);
            return;
        }
        iovec& part = t->iov[t->first];
        part.iov_base = static_cast<std::uint8_t*>(part.iov_base) + left;
        part.iov_len -= left;
        step(std::move(t));
    }
};

void transfer(base::IoRing& ring, bool write, int fd, std::span<const iovec> iov,
              std::uint64_t offset, Completion done) {
    auto t =
        std::make_shared<Transfer>(Transfer{ring, write, fd, {}, 0, offset, 0, std::move(done)});
    for (const iovec& part : iov) {
        if (part.iov_len > 0) {
            t->iov.push_back(part);
        }
    }
    if (t->iov.empty()) {
        ring.nop([t](int) {
            Completion d = std::move(t->done);
            d(0);
        });
        return;
    }
    Transfer::step(std::move(t));
}

}  // namespace

void read_all(base::IoRing& ring, int fd, std::span<const iovec> iov, std::uint64_t offset,
              Completion done) {
    transfer(ring, false, fd, iov, offset, std::move(done));
}

void write_all(base::IoRing& ring, int fd, std::span<const iovec> iov, std::uint64_t offset,
               Completion done) {
    transfer(ring, true, fd, iov, offset, std::move(done));
}

std::uint64_t iov_bytes(std::span<const iovec> iov) {
    std::uint64_t n = 0;
    for (const iovec& part : iov) {
        n += part.iov_len;
    }
    return n;
}

std::span<const std::uint8_t> zeros() {
    // Never written, so it stays in .bss and costs no memory until read.
    alignas(4096) static std::uint8_t block[1 << 20];
    return block;
}

std::unique_ptr<Disk> open_disk(base::IoRing& ring, const DiskOptions& options) {
    if (options.ephemeral && !options.read_only) {
        return OverlayDisk::open(ring, options);
    }
    return RawDisk::open(ring, options);
}

}  // namespace storage
