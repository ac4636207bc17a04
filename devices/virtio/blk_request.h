#pragma once
// virtio-blk requests (virtio 1.x, section 5.2.6) parsed from a descriptor
// chain the guest wrote. Pure: no I/O, no device state, so it is unit-tested
// and fuzzed on its own. Everything in the chain is hostile until checked:
// the header may be split across buffers, lengths may not add up, sectors
// may lie past the end of the disk. A request that cannot be served comes
// back with the status the driver must see instead.

#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "devices/virtio/queue.h"

namespace devices::virtio::blk {

inline constexpr std::uint64_t kSectorSize = 512;
inline constexpr std::size_t kIdBytes = 20;  // VIRTIO_BLK_ID_BYTES

// The limits of discard and write-zeroes, announced to the driver in the
// configuration space (devices/virtio/blk.cpp) and enforced here:
// Segments one request may carry (max_discard_seg / max_write_zeroes_seg);
// more: VIRTIO_BLK_S_UNSUPP.
inline constexpr std::uint32_t kMaxRangeSegments = 16;
// Sectors one segment may span (max_discard_sectors /
// max_write_zeroes_sectors), 2 GiB; more: VIRTIO_BLK_S_IOERR.
inline constexpr std::uint32_t kMaxRangeSectors = 1u << 22;
// discard_sector_alignment, 4 KiB: a discard acts only on the whole aligned
// units inside its segments (discarding is a hint, virtio 1.x 5.2.6.2: the
// device MAY deallocate), so no backend ever splits a cluster for one. A
// write-zeroes takes any whole sectors.
inline constexpr std::uint32_t kDiscardAlignmentSectors = 8;

namespace type {
inline constexpr std::uint32_t kIn = 0;
inline constexpr std::uint32_t kOut = 1;
inline constexpr std::uint32_t kFlush = 4;
inline constexpr std::uint32_t kGetId = 8;
inline constexpr std::uint32_t kDiscard = 11;
inline constexpr std::uint32_t kWriteZeroes = 13;
}  // namespace type

enum class Status : std::uint8_t { kOk = 0, kIoError = 1, kUnsupported = 2 };

struct Range {
    std::uint64_t offset = 0;  // bytes
    std::uint64_t length = 0;  // bytes
    bool unmap = false;        // write-zeroes may deallocate
};

struct Request {
    enum class Kind { kRead, kWrite, kFlush, kGetId, kDiscard, kWriteZeroes };
    Kind kind = Kind::kRead;
    std::uint64_t offset = 0;  // bytes, for kRead and kWrite
    std::uint64_t length = 0;  // bytes of `data`
    // Guest buffers: the destination of kRead and kGetId, the source of kWrite.
    std::vector<iovec> data;
    std::vector<Range> ranges;  // kDiscard, kWriteZeroes
};

struct Limits {
    std::uint64_t capacity_bytes = 0;
    bool read_only = false;
    bool discard = false;       // VIRTIO_BLK_F_DISCARD negotiated
    bool write_zeroes = false;  // VIRTIO_BLK_F_WRITE_ZEROES negotiated
};

struct Parsed {
    // The status byte (the last device-writable byte of the chain), or
    // nullptr when the chain has none: then the request can only be
    // returned with used length 0.
    std::uint8_t* status = nullptr;
    // Set when the request can be served; otherwise `error_status` and
    // `error` say why not.
    std::optional<Request> request;
    Status error_status = Status::kIoError;
    std::string error;
    // Bytes the device will have written on success (data + status byte).
    std::uint32_t used_length_on_success = 0;
};

Parsed parse_request(const Chain& chain, const Limits& limits);

// The guest buffers [skip, skip + length) of `buffers` as iovecs; nullopt
// when they hold fewer bytes.
std::optional<std::vector<iovec>> slice(const std::vector<Buffer>& buffers, std::uint64_t skip,
                                        std::uint64_t length);
// Copies [skip, skip + out.size()) of `buffers` into `out`; false when short.
bool gather(const std::vector<Buffer>& buffers, std::uint64_t skip, std::span<std::uint8_t> out);

}  // namespace devices::virtio::blk
