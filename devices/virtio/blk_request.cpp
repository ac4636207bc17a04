#include "devices/virtio/blk_request.h"

#include <algorithm>
#include <cstring>

namespace devices::virtio::blk {

namespace {

constexpr std::uint64_t kHeaderBytes = 16;
constexpr std::uint64_t kSegmentBytes = 16;
constexpr std::uint32_t kSegmentFlagUnmap = 1;

struct Header {
    std::uint32_t type;
    std::uint32_t reserved;
    std::uint64_t sector;
};
static_assert(sizeof(Header) == kHeaderBytes);

struct Segment {
    std::uint64_t sector;
    std::uint32_t num_sectors;
    std::uint32_t flags;
};
static_assert(sizeof(Segment) == kSegmentBytes);

std::uint64_t total(const std::vector<Buffer>& buffers) {
    std::uint64_t sum = 0;
    for (const Buffer& b : buffers) {
        sum += b.host.size();
    }
    return sum;
}

// [offset, offset + length) lies on the disk; no overflow on the way.
bool in_bounds(std::uint64_t sector, std::uint64_t length, const Limits& limits) {
    if (sector > limits.capacity_bytes / kSectorSize) {
        return false;
    }
    const std::uint64_t offset = sector * kSectorSize;
    return length <= limits.capacity_bytes - offset;
}

Parsed fail(Parsed p, Status status, std::string why) {
    p.request.reset();
    p.error_status = status;
    p.error = std::move(why);
    return p;
}

}  // namespace

std::optional<std::vector<iovec>> slice(const std::vector<Buffer>& buffers, std::uint64_t skip,
                                        std::uint64_t length) {
    std::vector<iovec> out;
    for (const Buffer& b : buffers) {
        if (length == 0) {
            break;
        }
        const std::uint64_t size = b.host.size();
        if (skip >= size) {
            skip -= size;
            continue;
        }
        const std::uint64_t take = std::min(size - skip, length);
        out.push_back({b.host.data() + skip, static_cast<std::size_t>(take)});
        length -= take;
        skip = 0;
    }
    if (length != 0) {
        return std::nullopt;
    }
    return out;
}

bool gather(const std::vector<Buffer>& buffers, std::uint64_t skip, std::span<std::uint8_t> out) {
    const auto parts = slice(buffers, skip, out.size());
    if (!parts) {
        return false;
    }
    std::size_t at = 0;
    for (const iovec& part : *parts) {
        std::memcpy(out.data() + at, part.iov_base, part.iov_len);
        at += part.iov_len;
    }
    return true;
}

Parsed parse_request(const Chain& chain, const Limits& limits) {
    Parsed p;
    const std::uint64_t readable = total(chain.readable);
    const std::uint64_t writable = total(chain.writable);
    for (auto it = chain.writable.rbegin(); it != chain.writable.rend(); ++it) {
        if (!it->host.empty()) {
            p.status = &it->host.back();
            break;
        }
    }
    if (!p.status) {
        return fail(p, Status::kIoError, "no room for the status byte");
    }
    p.used_length_on_success = 1;
    Header header;
    if (!gather(chain.readable, 0, {reinterpret_cast<std::uint8_t*>(&header), sizeof header})) {
        return fail(p, Status::kIoError, "request header shorter than 16 bytes");
    }
    const std::uint64_t data_in = writable - 1;  // device-writable bytes before the status
    const std::uint64_t data_out = readable - kHeaderBytes;

    Request r;
    switch (header.type) {
        case type::kIn:
        case type::kOut: {
            const bool is_read = header.type == type::kIn;
            r.kind = is_read ? Request::Kind::kRead : Request::Kind::kWrite;
            r.length = is_read ? data_in : data_out;
            if (!is_read && limits.read_only) {
                return fail(p, Status::kIoError, "write to a read-only disk");
            }
            if (r.length % kSectorSize != 0) {
                return fail(p, Status::kIoError, "data length is not a multiple of 512");
            }
            if (!in_bounds(header.sector, r.length, limits)) {
                return fail(p, Status::kIoError, "request past the end of the disk");
            }
            r.offset = header.sector * kSectorSize;
            auto data = is_read ? slice(chain.writable, 0, r.length)
                                : slice(chain.readable, kHeaderBytes, r.length);
            if (!data) {
                return fail(p, Status::kIoError, "data buffers shorter than the request");
            }
            r.data = std::move(*data);
            if (is_read) {
                p.used_length_on_success += static_cast<std::uint32_t>(r.length);
            }
            break;
        }
        case type::kFlush:
            r.kind = Request::Kind::kFlush;
            break;
        case type::kGetId: {
            r.kind = Request::Kind::kGetId;
            r.length = std::min<std::uint64_t>(kIdBytes, data_in);
            r.data = *slice(chain.writable, 0, r.length);
            p.used_length_on_success += static_cast<std::uint32_t>(r.length);
            break;
        }
        case type::kDiscard:
        case type::kWriteZeroes: {
            const bool discard = header.type == type::kDiscard;
            if (discard ? !limits.discard : !limits.write_zeroes) {
                return fail(p, Status::kUnsupported, "feature not negotiated");
            }
            if (limits.read_only) {
                return fail(p, Status::kIoError, "discard or write-zeroes on a read-only disk");
            }
            r.kind = discard ? Request::Kind::kDiscard : Request::Kind::kWriteZeroes;
            if (data_out == 0 || data_out % kSegmentBytes != 0 ||
                data_out / kSegmentBytes > kMaxRangeSegments) {
                return fail(p, Status::kUnsupported, "bad number of range segments");
            }
            for (std::uint64_t i = 0; i < data_out / kSegmentBytes; ++i) {
                Segment seg;
                gather(chain.readable, kHeaderBytes + i * kSegmentBytes,
                       {reinterpret_cast<std::uint8_t*>(&seg), sizeof seg});
                if ((seg.flags & ~kSegmentFlagUnmap) != 0 ||
                    (discard && (seg.flags & kSegmentFlagUnmap))) {
                    return fail(p, Status::kUnsupported, "unknown segment flags");
                }
                if (seg.num_sectors > kMaxRangeSectors) {
                    return fail(p, Status::kIoError,
                                "segment of " + std::to_string(seg.num_sectors) +
                                    " sectors, more than the " + std::to_string(kMaxRangeSectors) +
                                    " announced");
                }
                const std::uint64_t length = std::uint64_t{seg.num_sectors} * kSectorSize;
                if (!in_bounds(seg.sector, length, limits)) {
                    return fail(p, Status::kIoError, "range past the end of the disk");
                }
                std::uint64_t first = seg.sector;
                std::uint64_t end = seg.sector + seg.num_sectors;
                if (discard) {
                    constexpr std::uint64_t kUnit = kDiscardAlignmentSectors;
                    first = (first + kUnit - 1) / kUnit * kUnit;
                    end = std::max(first, end / kUnit * kUnit);
                }
                r.ranges.push_back({first * kSectorSize, (end - first) * kSectorSize,
                                    (seg.flags & kSegmentFlagUnmap) != 0});
            }
            break;
        }
        default:
            return fail(p, Status::kUnsupported,
                        "unknown request type " + std::to_string(header.type));
    }
    p.request = std::move(r);
    return p;
}

}  // namespace devices::virtio::blk
