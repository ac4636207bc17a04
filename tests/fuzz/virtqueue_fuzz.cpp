// libFuzzer target for the split virtqueue. The input is a hostile driver:
//   bytes 0..7   queue configuration (size, ring offsets, EVENT_IDX, ops seed)
//   bytes 8..    guest RAM content (64 KiB, repeated to fill it)
// Every buffer the queue hands out must lie inside guest RAM.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "base/guest_memory.h"
#include "devices/virtio/queue.h"

namespace {

using devices::virtio::Buffer;
using devices::virtio::Queue;

constexpr std::uint64_t kRam = 64 * 1024;
constexpr int kMaxSteps = 64;

void check_inside(base::GuestMemory& mem, const Buffer& b) {
    const auto all = mem.span(0, mem.ram_bytes());
    const auto again = mem.span(b.addr, b.host.size());
    if (b.host.empty() || !again || again->data() != b.host.data() || b.host.data() < all->data() ||
        b.host.data() + b.host.size() > all->data() + all->size()) {
        std::abort();
    }
    // Touch both ends so ASan would see a stray span.
    volatile std::uint8_t sink = b.host.front();
    sink = b.host.back();
    (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 8) {
        return 0;
    }
    static base::GuestMemory mem(kRam);
    const std::uint8_t* cfg = data;
    const std::span<const std::uint8_t> content(data + 8, size - 8);
    auto ram = *mem.span(0, kRam);
    if (content.empty()) {
        std::memset(ram.data(), 0, ram.size());
    } else {
        for (std::size_t off = 0; off < ram.size(); off += content.size()) {
            std::memcpy(ram.data() + off, content.data(),
                        std::min(content.size(), ram.size() - off));
        }
    }

    Queue q(Queue::kMaxSize);
    // Mostly valid sizes, sometimes anything.
    const std::uint16_t qsize =
        (cfg[0] & 0x80) != 0 ? cfg[0] : static_cast<std::uint16_t>(1u << (cfg[0] % 9));
    q.set_size(qsize);
    // Ring offsets in 16-byte steps, sometimes misaligned or out of RAM.
    q.set_desc_addr(std::uint64_t{cfg[1]} * 256 + (cfg[4] & 0x0F));
    q.set_avail_addr(std::uint64_t{cfg[2]} * 256 + (cfg[4] >> 4));
    q.set_used_addr(std::uint64_t{cfg[3]} * 256 + (cfg[5] & 0x07) * 2);
    q.set_event_idx((cfg[5] & 0x08) != 0);
    if ((cfg[5] & 0x10) != 0) {
        q.set_indices(static_cast<std::uint16_t>(cfg[6] * 257), static_cast<std::uint16_t>(cfg[7]));
    }
    if (!q.activate(mem, nullptr)) {
        return 0;
    }

    std::uint32_t ops = std::uint32_t{cfg[6]} << 8 | cfg[7];
    for (int step = 0; step < kMaxSteps; ++step) {
        const auto r = q.pop(mem);
        std::uint64_t writable = 0;
        switch (r.status) {
            case Queue::PopStatus::kEmpty:
            case Queue::PopStatus::kBroken:
                return 0;
            case Queue::PopStatus::kBadChain:
                if (!r.chain.readable.empty() || !r.chain.writable.empty()) {
                    std::abort();
                }
                break;
            case Queue::PopStatus::kChain:
                for (const Buffer& b : r.chain.readable) {
                    check_inside(mem, b);
                }
                for (const Buffer& b : r.chain.writable) {
                    check_inside(mem, b);
                }
                writable = r.chain.writable_bytes();
                if (r.chain.readable_bytes() + writable > Queue::kMaxChainBytes) {
                    std::abort();
                }
                break;
        }
        ops = ops * 1103515245u + 12345u;
        if ((ops >> 16) % 8 == 0) {
            q.undo_pop();
            continue;
        }
        q.push(mem, r.chain.head, static_cast<std::uint32_t>(writable));
        q.needs_interrupt(mem);
        if ((ops >> 20) % 4 == 0) {
            q.disable_notifications(mem);
        } else if ((ops >> 20) % 4 == 1) {
            q.enable_notifications(mem);
        }
    }
    return 0;
}
