// libFuzzer target for the split virtqueue. The input is a hostile driver:
//   bytes 0..7    queue configuration (size, ring placement, EVENT_IDX, ops seed)
//   then          records of 16 bytes, each written into guest RAM where
//                 its first bytes say: descriptors (in the table or in an
//                 indirect table), avail ring entries, avail idx, flags
// Guest RAM is two regions around a hole, as on x86 (below 3 GiB and above
// 4 GiB, shrunk here): 64 KiB at 0 and 64 KiB at kHighStart. Descriptors
// point anywhere near the edges of both regions and of the hole, so chains
// straddle them. Every buffer the queue hands out must lie inside one region
// and map to that region's host memory; a head is never handed out twice
// before it is pushed back.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "base/guest_memory.h"
#include "devices/virtio/queue.h"

namespace {

using devices::virtio::Buffer;
using devices::virtio::Queue;

constexpr std::uint64_t kRegion = 64 * 1024;
constexpr std::uint64_t kHighStart = 1 << 20;  // the hole is [kRegion, kHighStart)
constexpr int kMaxSteps = 64;

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

void check_inside(const base::GuestMemory& mem, const Buffer& b) {
    check(!b.host.empty());
    bool found = false;
    for (const auto& r : mem.regions()) {
        if (b.addr >= r.guest_start && b.addr - r.guest_start <= r.size &&
            b.host.size() <= r.size - (b.addr - r.guest_start)) {
            check(b.host.data() == r.host + (b.addr - r.guest_start));
            found = true;
        }
    }
    check(found);
    // Touch both ends so ASan would see a stray span.
    volatile std::uint8_t sink = b.host.front();
    sink = b.host.back();
    (void)sink;
}

// A guest address near something interesting: either edge of either region
// (so inside, across the hole, or past the end), or wherever the bytes say.
std::uint64_t address(std::uint8_t how, std::uint16_t offset) {
    const std::int64_t delta = static_cast<std::int16_t>(offset);
    switch (how % 6) {
        case 0:
            return static_cast<std::uint64_t>(delta) & (kRegion - 1);  // low region
        case 1:
            return kRegion + delta;  // around the hole's start
        case 2:
            return kHighStart + delta;  // around the hole's end
        case 3:
            return kHighStart + kRegion + delta;  // around the end of RAM
        case 4:
            return kHighStart + (static_cast<std::uint64_t>(offset) & (kRegion - 1));
        default:
            return static_cast<std::uint64_t>(offset) << 16 | offset;  // anywhere
    }
}

struct Desc {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(Desc) == 16);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 8) {
        return 0;
    }
    static base::GuestMemory mem(2 * kRegion, base::MemoryHole{kRegion, kHighStart});
    for (const auto& r : mem.regions()) {
        std::memset(r.host, 0, r.size);
    }
    const std::uint8_t* cfg = data;

    Queue q(Queue::kMaxSize);
    // Mostly valid sizes, sometimes anything.
    const std::uint16_t qsize =
        (cfg[0] & 0x80) != 0 ? cfg[0] : static_cast<std::uint16_t>(1u << (cfg[0] % 9));
    // The rings: in either region, mostly aligned.
    const std::uint64_t ring_base = (cfg[4] & 1) ? kHighStart : 0;
    const std::uint64_t desc = ring_base + 0x1000 + (cfg[4] & 0x10 ? cfg[1] : 0);
    const std::uint64_t avail = ring_base + 0x4000 + (cfg[4] & 0x20 ? cfg[2] : 0);
    const std::uint64_t used = ring_base + 0x6000 + (cfg[4] & 0x40 ? cfg[3] : 0);
    q.set_size(qsize);
    q.set_desc_addr((cfg[4] & 0x80) ? address(cfg[1], cfg[2] << 8 | cfg[3]) : desc);
    q.set_avail_addr(avail);
    q.set_used_addr(used);
    q.set_event_idx((cfg[5] & 0x08) != 0);
    if ((cfg[5] & 0x10) != 0) {
        q.set_indices(static_cast<std::uint16_t>(cfg[6] * 257), static_cast<std::uint16_t>(cfg[7]));
    }
    if (!q.activate(mem, nullptr)) {
        return 0;
    }
    const std::uint16_t size_mask = static_cast<std::uint16_t>(qsize - 1);
    const std::uint64_t indirect_base = ring_base + 0x8000;

    // Records: where the driver writes, and what.
    std::uint16_t avail_idx = q.next_avail();
    for (std::size_t at = 8; at + 16 <= size; at += 16) {
        const std::uint8_t* r = data + at;
        const std::uint16_t index = static_cast<std::uint16_t>(r[1] | r[2] << 8);
        Desc d{};
        d.addr = address(r[3], static_cast<std::uint16_t>(r[4] | r[5] << 8));
        std::memcpy(&d.len, r + 6, 4);
        if ((r[0] & 0x40) == 0) {
            d.len &= 0x3FFF;  // mostly small
        }
        d.flags = r[10] & 7;
        d.next = static_cast<std::uint16_t>(r[11] | r[12] << 8);
        if ((d.flags & Queue::kDescIndirect) != 0 && (r[0] & 0x20) == 0) {
            d.addr = indirect_base + 16 * (r[13] & 0x3F);
            d.len = 16 * (r[14] % 20);
        }
        switch (r[0] & 3) {
            case 0:  // a descriptor of the table
                mem.write_obj(desc + 16ull * (index & size_mask), d);
                break;
            case 1:  // a descriptor of an indirect table
                mem.write_obj(indirect_base + 16ull * (index & 0xFF), d);
                break;
            case 2:  // publish a head
                mem.write_obj<std::uint16_t>(avail + 4 + 2ull * (avail_idx & size_mask), index);
                ++avail_idx;
                mem.write_obj<std::uint16_t>(avail + 2, avail_idx);
                break;
            default: {  // flags, idx or used_event as the driver pleases
                const std::uint64_t field[] = {avail, avail + 2, avail + 4 + 2ull * qsize};
                mem.write_obj<std::uint16_t>(field[r[13] % 3], index);
                if (r[13] % 3 == 1) {
                    avail_idx = index;
                }
                break;
            }
        }
    }

    std::uint32_t ops = std::uint32_t{cfg[6]} << 8 | cfg[7];
    std::vector<std::uint16_t> held;  // heads popped and not pushed back yet
    for (int step = 0; step < kMaxSteps; ++step) {
        const auto r = q.pop(mem);
        std::uint64_t writable = 0;
        switch (r.status) {
            case Queue::PopStatus::kEmpty:
            case Queue::PopStatus::kBroken:
                check(r.chain.readable.empty() && r.chain.writable.empty());
                return 0;
            case Queue::PopStatus::kBadChain:
                check(r.chain.readable.empty() && r.chain.writable.empty());
                break;
            case Queue::PopStatus::kChain:
                check(r.chain.head < qsize);
                for (const Buffer& b : r.chain.readable) {
                    check_inside(mem, b);
                }
                for (const Buffer& b : r.chain.writable) {
                    check_inside(mem, b);
                }
                writable = r.chain.writable_bytes();
                check(r.chain.readable_bytes() + writable <= Queue::kMaxChainBytes);
                break;
        }
        if (r.chain.head < qsize) {
            check(std::find(held.begin(), held.end(), r.chain.head) == held.end());
            held.push_back(r.chain.head);
        }
        check(q.heads_in_flight() == held.size() && held.size() <= qsize);
        ops = ops * 1103515245u + 12345u;
        if ((ops >> 16) % 8 == 0) {
            q.undo_pop();
            if (r.chain.head < qsize) {
                held.pop_back();
            }
            continue;
        }
        if ((ops >> 19) % 4 == 0) {
            continue;  // keep it in flight a while
        }
        // Give back the oldest held chain (out of order, as devices do).
        if (!held.empty()) {
            const std::size_t pick = (ops >> 8) % held.size();
            q.push(mem, held[pick], static_cast<std::uint32_t>(writable));
            held.erase(held.begin() + static_cast<std::ptrdiff_t>(pick));
        } else {
            q.push(mem, r.chain.head, 0);  // a bad chain with a head out of range
        }
        q.needs_interrupt(mem);
        if ((ops >> 20) % 4 == 0) {
            q.disable_notifications(mem);
        } else if ((ops >> 20) % 4 == 1) {
            q.enable_notifications(mem);
        }
    }
    return 0;
}
