#pragma once
// Disk: what virtio-blk drives. Backends: RawDisk (a file or block device)
// and OverlayDisk (an ephemeral copy-on-write view of a file).
//
// Threading: a Disk and its IoRing are used from one thread only.
//
// Requests are asynchronous: each ends with exactly one call of `done`, from
// IoRing::run() (never from inside the call that started it), with 0 on
// success or -errno. Short transfers are retried; a transfer that makes no
// progress ends with -EIO. A request reaching past size() ends with -EINVAL
// and touches nothing; writes to a read-only disk end with -EROFS.
// The buffers `iov` points to must live until `done` runs; the iovec array
// itself may go away when the call returns.
//
// A Disk may be destroyed with requests in flight: what those requests need
// (file descriptors, bounce buffers) lives until their completions.

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/io_ring.h"

namespace storage {

using Completion = base::IoRing::Completion;

class Disk {
  public:
    virtual ~Disk() = default;

    virtual std::uint64_t size() const = 0;  // bytes, a multiple of 512
    virtual bool read_only() const = 0;

    virtual void read(std::uint64_t offset, std::span<const iovec> iov, Completion done) = 0;
    virtual void write(std::uint64_t offset, std::span<const iovec> iov, Completion done) = 0;
    virtual void flush(Completion done) = 0;
    // Afterwards the range reads back as zeros or as its old contents.
    virtual void discard(std::uint64_t offset, std::uint64_t len, Completion done) = 0;
    // Afterwards the range reads back as zeros; `may_unmap` allows freeing space.
    virtual void write_zeroes(std::uint64_t offset, std::uint64_t len, bool may_unmap,
                              Completion done) = 0;

    // Asks the disk to end its requests in flight early (the device is being
    // reset). Each still ends with exactly one call of its `done`: -ECANCELED
    // where it was stopped before it touched its buffers, else its own
    // result (the kernel finishes what it has started; a request waiting for
    // another one, or split into steps, takes no further step). Requests
    // made afterwards are served as usual.
    virtual void cancel() {}

    // Host space the disk's data takes (for a report; one fstat()); 0 if unknown.
    virtual std::uint64_t allocated_bytes() const { return 0; }
};

struct DiskOptions {
    std::string path;
    bool read_only = false;
    // Guest writes go to a private overlay that vanishes with the process; the
    // file at `path` is opened read-only and never changes.
    bool ephemeral = false;
    // O_DIRECT on the image (not on an ephemeral disk, see overlay_disk.h).
    bool direct = false;
    // Where the ephemeral overlay is created; empty: $TMPDIR, else /var/tmp.
    std::string overlay_dir;
};

// Throws base::InvalidInput naming the file when it is missing, unreadable,
// not a regular file or block device, empty, not a multiple of 512 bytes,
// or in use by another VM; base::HostError when a syscall fails otherwise.
// `ephemeral` together with `read_only` opens the image read-only, with no
// overlay.
std::unique_ptr<Disk> open_disk(base::IoRing& ring, const DiskOptions& options);

// For backends: transfers all of `iov` at `offset`, retrying short transfers.
// done(0), done(-errno), or done(-EIO) when the kernel moves no bytes (a file
// truncated under us). `done` should keep `fd` open (capture its owner).
void read_all(base::IoRing& ring, int fd, std::span<const iovec> iov, std::uint64_t offset,
              Completion done);
void write_all(base::IoRing& ring, int fd, std::span<const iovec> iov, std::uint64_t offset,
               Completion done);

// Bytes in an iovec array.
std::uint64_t iov_bytes(std::span<const iovec> iov);

// Whether [offset, offset + len) lies within [0, size), without overflow.
inline bool within(std::uint64_t offset, std::uint64_t len, std::uint64_t size) {
    return len <= size && offset <= size - len;
}

// 1 MiB of zeros, 4096-aligned (fit for O_DIRECT), to write zeros from.
std::span<const std::uint8_t> zeros();

}  // namespace storage
