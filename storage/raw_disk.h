#pragma once
// RawDisk: a regular file or a block device, byte for byte.
//
// An advisory flock() keeps two VMMs from writing one image: exclusive when
// opened read-write, shared when read-only (so any number of read-only or
// ephemeral users may share an image nobody writes).
//
// With `direct` (O_DIRECT) the page cache is bypassed; requests whose offset
// or iovecs (address and length) are not 512-byte aligned then end with
// -EINVAL. Guest buffers are guest pages, so this holds in practice; a device
// with 4096-byte logical blocks may refuse 512-aligned I/O too (the kernel's
// -EINVAL is passed on).

#include <cstdint>
#include <memory>
#include <string>

#include "base/fd.h"
#include "storage/disk.h"

namespace storage {

// An opened, checked and locked disk image.
struct ImageFile {
    base::Fd fd;
    std::uint64_t size = 0;  // bytes, a non-zero multiple of 512
    bool block_device = false;
};

// Opens `path` read-write or read-only (O_CLOEXEC, O_DIRECT if `direct`),
// checks it (see open_disk()) and takes the lock: exclusive when `writable`,
// shared otherwise.
ImageFile open_image(const std::string& path, bool writable, bool direct);

class RawDisk final : public Disk {
  public:
    static std::unique_ptr<RawDisk> open(base::IoRing& ring, const DiskOptions& options);
    RawDisk(base::IoRing& ring, ImageFile image, bool read_only, bool direct);
    ~RawDisk() override;

    std::uint64_t size() const override;
    bool read_only() const override;
    void read(std::uint64_t offset, std::span<const iovec> iov, Completion done) override;
    void write(std::uint64_t offset, std::span<const iovec> iov, Completion done) override;
    // fdatasync() through the ring.
    void flush(Completion done) override;
    // Punches a hole; where the filesystem cannot, does nothing (a hint).
    void discard(std::uint64_t offset, std::uint64_t len, Completion done) override;
    // FALLOC_FL_ZERO_RANGE, or PUNCH_HOLE when `may_unmap`; falls back to
    // writing zeros where the filesystem supports neither.
    void write_zeroes(std::uint64_t offset, std::uint64_t len, bool may_unmap,
                      Completion done) override;
    std::uint64_t allocated_bytes() const override;  // st_blocks * 512; size for a device
    void cancel() override;

  private:
    struct State;
    std::shared_ptr<State> state_;  // shared with requests in flight
};

}  // namespace storage
