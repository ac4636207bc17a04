#include "devices/virtio/blk.h"

#include <cerrno>
#include <cstring>

#include "base/join.h"

namespace devices::virtio {

namespace {

// Feature bits of virtio-blk (virtio 1.x, 5.2.3).
constexpr unsigned kSegMax = 2;
constexpr unsigned kReadOnly = 5;
constexpr unsigned kBlkSize = 6;
constexpr unsigned kFlush = 9;
constexpr unsigned kDiscard = 13;
constexpr unsigned kWriteZeroes = 14;

#pragma pack(push, 1)
struct BlkConfig {
    std::uint64_t capacity;  // in 512-byte sectors
    std::uint32_t size_max;
    std::uint32_t seg_max;
    std::uint16_t cylinders;
    std::uint8_t heads;
    std::uint8_t sectors;
    std::uint32_t blk_size;
    std::uint8_t physical_block_exp;
    std::uint8_t alignment_offset;
    std::uint16_t min_io_size;
    std::uint32_t opt_io_size;
    std::uint8_t writeback;
    std::uint8_t unused0;
    std::uint16_t num_queues;
    std::uint32_t max_discard_sectors;
    std::uint32_t max_discard_seg;
    std::uint32_t discard_sector_alignment;
    std::uint32_t max_write_zeroes_sectors;
    std::uint32_t max_write_zeroes_seg;
    std::uint8_t write_zeroes_may_unmap;
    std::uint8_t unused1[3];
};
#pragma pack(pop)
static_assert(sizeof(BlkConfig) == 60);

std::uint64_t features_for(const storage::Disk& disk) {
    std::uint64_t f = feature::bit(kSegMax) | feature::bit(kBlkSize) | feature::bit(kFlush);
    if (disk.read_only()) {
        f |= feature::bit(kReadOnly);
    } else {
        f |= feature::bit(kDiscard) | feature::bit(kWriteZeroes);
    }
    return f;
}

const char* op_name(blk::Request::Kind kind) {
    using K = blk::Request::Kind;
    switch (kind) {
        case K::kRead:
            return "read";
        case K::kWrite:
            return "write";
        case K::kFlush:
            return "flush";
        case K::kGetId:
            return "get-id";
        case K::kDiscard:
            return "discard";
        case K::kWriteZeroes:
            return "write-zeroes";
    }
    return "?";
}

}  // namespace

BlockDevice::BlockDevice(std::string name, std::string id, std::unique_ptr<storage::Disk> disk,
                         base::GuestMemory& memory, ErrorSink on_error)
    : VirtioDevice(DeviceType::kBlock, std::move(name), features_for(*disk), 1, memory),
      id_(std::move(id)),
      disk_(std::move(disk)),
      on_error_(std::move(on_error)) {}

BlockDevice::~BlockDevice() = default;

void BlockDevice::read_config(std::uint64_t offset, std::span<std::uint8_t> data) const {
    BlkConfig c{};
    c.capacity = disk_->size() / blk::kSectorSize;
    c.seg_max = Queue::kMaxSize - 2;
    c.blk_size = blk::kSectorSize;
    c.physical_block_exp = 3;  // 4 KiB physical blocks: the guest aligns its I/O
    c.num_queues = 1;
    c.max_discard_sectors = blk::kMaxRangeSectors;
    c.max_discard_seg = blk::kMaxRangeSegments;
    c.discard_sector_alignment = blk::kDiscardAlignmentSectors;
    c.max_write_zeroes_sectors = blk::kMaxRangeSectors;
    c.max_write_zeroes_seg = blk::kMaxRangeSegments;
    c.write_zeroes_may_unmap = 1;
    std::memset(data.data(), 0, data.size());
    if (offset < sizeof c) {
        const std::size_t n = std::min<std::size_t>(data.size(), sizeof c - offset);
        std::memcpy(data.data(), reinterpret_cast<const std::uint8_t*>(&c) + offset, n);
    }
}

bool BlockDevice::may_stay_quiet() const {
    return requests_in_flight() > slow_in_flight_ && slow_in_flight_ == 0;
}

void BlockDevice::on_cancel_requests() {
    disk_->cancel();
}

void BlockDevice::on_notify(unsigned index) {
    Queue& q = queues()[index];
    // Requests that complete at once (GET_ID, malformed ones) free their
    // heads, so a driver adding more meanwhile could keep this loop going:
    // one ring's worth, then the other devices get their turn.
    for (unsigned budget = q.size(); budget > 0; --budget) {
        auto popped = next_chain(index, may_stay_quiet());
        if (!popped) {
            return;
        }
        if (popped->status == Queue::PopStatus::kBadChain) {
            q.push(memory_, popped->chain.head, 0);
            signal_used(index);
            continue;
        }
        blk::Limits limits;
        limits.capacity_bytes = disk_->size();
        limits.read_only = disk_->read_only();
        limits.discard = negotiated(kDiscard);
        limits.write_zeroes = negotiated(kWriteZeroes);
        const blk::Parsed parsed = blk::parse_request(popped->chain, limits);
        if (!parsed.request) {
            bad_requests_.fetch_add(1, std::memory_order_relaxed);
            if (parsed.status) {
                finish(popped->chain.head, parsed.status, parsed.error_status, 1);
            } else {
                q.push(memory_, popped->chain.head, 0);
                signal_used(index);
            }
            continue;
        }
        submit(popped->chain.head, parsed);
    }
    serve_again_later(index);
}

void BlockDevice::submit(std::uint16_t head, const blk::Parsed& parsed) {
    using K = blk::Request::Kind;
    const blk::Request& r = *parsed.request;
    const std::uint64_t gen = generation();
    std::uint8_t* status = parsed.status;
    const std::uint32_t used = parsed.used_length_on_success;
    const char* op = op_name(r.kind);
    const bool slow = r.kind == K::kFlush || r.kind == K::kDiscard || r.kind == K::kWriteZeroes;
    request_started();
    slow_in_flight_ += slow ? 1 : 0;
    auto done = [this, gen, head, status, used, op, slow](int result) {
        complete(gen, head, status, used, op, slow, result);
    };
    switch (r.kind) {
        case K::kRead:
            counters_.reads.fetch_add(1, std::memory_order_relaxed);
            counters_.read_bytes.fetch_add(r.length, std::memory_order_relaxed);
            if (r.length == 0) {
                done(0);
            } else {
                disk_->read(r.offset, r.data, done);
            }
            break;
        case K::kWrite:
            counters_.writes.fetch_add(1, std::memory_order_relaxed);
            counters_.write_bytes.fetch_add(r.length, std::memory_order_relaxed);
            if (r.length == 0) {
                done(0);
            } else {
                disk_->write(r.offset, r.data, done);
            }
            break;
        case K::kFlush:
            counters_.flushes.fetch_add(1, std::memory_order_relaxed);
            disk_->flush(done);
            break;
        case K::kGetId: {
            std::uint8_t id[blk::kIdBytes] = {};
            std::memcpy(id, id_.data(), std::min(id_.size(), sizeof id));
            std::size_t at = 0;
            for (const iovec& part : r.data) {
                std::memcpy(part.iov_base, id + at, part.iov_len);
                at += part.iov_len;
            }
            done(0);
            break;
        }
        case K::kDiscard:
        case K::kWriteZeroes: {
            const bool discard = r.kind == K::kDiscard;
            (discard ? counters_.discards : counters_.write_zeroes)
                .fetch_add(1, std::memory_order_relaxed);
            auto join = std::make_shared<base::CompletionJoin>(done, r.ranges.size());
            for (const blk::Range& range : r.ranges) {
                auto part = [join](int result) { join->part_done(result); };
                if (range.length == 0) {
                    part(0);
                } else if (discard) {
                    disk_->discard(range.offset, range.length, part);
                } else {
                    disk_->write_zeroes(range.offset, range.length, range.unmap, part);
                }
            }
            break;
        }
    }
}

void BlockDevice::complete(std::uint64_t gen, std::uint16_t head, std::uint8_t* status,
                           std::uint32_t used, const char* op, bool slow, int result) {
    std::lock_guard lock(this->lock());
    slow_in_flight_ -= slow ? 1 : 0;
    const bool reset_meanwhile = gen != generation() || !active();
    if (result < 0 && !(reset_meanwhile && result == -ECANCELED)) {
        counters_.errors.fetch_add(1, std::memory_order_relaxed);
        if (on_error_) {
            on_error_(op, result);
        }
    }
    // After a reset nobody waits for this one: its status byte and used
    // entry would land in the next driver's memory.
    if (!reset_meanwhile) {
        finish(head, status, result < 0 ? blk::Status::kIoError : blk::Status::kOk,
               result < 0 ? 1 : used);
    }
    request_ended();  // last: may finish a pending reset
}

void BlockDevice::finish(std::uint16_t head, std::uint8_t* status, blk::Status value,
                         std::uint32_t used) {
    *status = static_cast<std::uint8_t>(value);
    queues()[0].push(memory_, head, used);
    signal_used(0);
}

nlohmann::json BlockDevice::metrics() const {
    nlohmann::json m = VirtioDevice::metrics();
    m["read_requests"] = count(counters_.reads);
    m["write_requests"] = count(counters_.writes);
    m["read_bytes"] = count(counters_.read_bytes);
    m["write_bytes"] = count(counters_.write_bytes);
    m["flushes"] = count(counters_.flushes);
    m["discards"] = count(counters_.discards);
    m["write_zeroes"] = count(counters_.write_zeroes);
    m["errors"] = count(counters_.errors);
    m["in_flight"] = requests_in_flight();
    return m;
}

}  // namespace devices::virtio
