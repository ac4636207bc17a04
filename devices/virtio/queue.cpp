#include "devices/virtio/queue.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cinttypes>
#include <cstdio>

#include "base/error.h"
#include "base/hex.h"

namespace devices::virtio {

static_assert(std::endian::native == std::endian::little,
              "virtio 1.x rings are little-endian; byte swapping is not implemented");

namespace {

struct Desc {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};
static_assert(sizeof(Desc) == 16);

struct UsedElem {
    std::uint32_t id;
    std::uint32_t len;
};
static_assert(sizeof(UsedElem) == 8);

constexpr std::uint64_t kRingHeader = 4;  // flags + idx

bool power_of_two(std::uint32_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

std::uint64_t total_bytes(const std::vector<Buffer>& buffers) {
    std::uint64_t n = 0;
    for (const Buffer& b : buffers) {
        n += b.host.size();
    }
    return n;
}

}  // namespace

std::uint64_t Chain::readable_bytes() const {
    return total_bytes(readable);
}
std::uint64_t Chain::writable_bytes() const {
    return total_bytes(writable);
}

Queue::Queue(std::uint16_t max_size) : max_size_(max_size), size_(max_size) {
    if (!power_of_two(max_size) || max_size > kSpecMaxSize) {
        throw base::InvalidInput("virtqueue max size " + std::to_string(max_size) +
                                 " is not a power of two in [1, 32768]");
    }
    in_flight_.assign((max_size + 63) / 64, 0);
}

bool Queue::head_in_flight(std::uint16_t head) const {
    return head < max_size_ && (in_flight_[head / 64] >> (head % 64) & 1) != 0;
}

void Queue::set_in_flight(std::uint16_t head, bool in_flight) {
    if (head >= max_size_ || head_in_flight(head) == in_flight) {
        return;
    }
    in_flight_[head / 64] ^= std::uint64_t{1} << (head % 64);
    if (in_flight) {
        ++heads_in_flight_;
    } else {
        --heads_in_flight_;
    }
}

void Queue::set_size(std::uint16_t size) {
    if (!ready_) {
        size_ = size;
    }
}

void Queue::set_desc_addr(std::uint64_t addr) {
    if (!ready_) {
        desc_addr_ = addr;
    }
}

void Queue::set_avail_addr(std::uint64_t addr) {
    if (!ready_) {
        avail_addr_ = addr;
    }
}

void Queue::set_used_addr(std::uint64_t addr) {
    if (!ready_) {
        used_addr_ = addr;
    }
}

bool Queue::activate(const base::GuestMemory& mem, std::string* why) {
    auto fail = [why](std::string reason) {
        if (why != nullptr) {
            *why = std::move(reason);
        }
        return false;
    };
    if (!power_of_two(size_) || size_ > max_size_) {
        return fail("queue size " + std::to_string(size_) +
                    " is not a power of two <= " + std::to_string(max_size_));
    }
    struct Ring {
        const char* name;
        std::uint64_t addr;
        std::uint64_t bytes;
        std::uint64_t align;
    };
    const Ring rings[] = {
        {"descriptor table", desc_addr_, 16ull * size_, 16},
        {"available ring", avail_addr_, 6 + 2ull * size_, 2},
        {"used ring", used_addr_, 6 + 8ull * size_, 4},
    };
    for (const Ring& r : rings) {
        if (r.addr % r.align != 0) {
            return fail(std::string(r.name) + " at " + base::hex(r.addr) + " is not " +
                        std::to_string(r.align) + "-byte aligned");
        }
        if (!mem.contains(r.addr, r.bytes)) {
            return fail(std::string(r.name) + " at " + base::hex(r.addr) + " (" +
                        std::to_string(r.bytes) + " bytes) is not inside guest RAM");
        }
    }
    ready_ = true;
    can_undo_ = false;
    signalled_used_ = next_used_;
    pushes_since_signal_ = 0;
    return true;
}

void Queue::reset() {
    size_ = max_size_;
    desc_addr_ = avail_addr_ = used_addr_ = 0;
    event_idx_ = false;
    ready_ = false;
    broken_ = false;
    notifications_enabled_ = true;
    can_undo_ = false;
    next_avail_ = next_used_ = 0;
    signalled_used_ = 0;
    pushes_since_signal_ = 0;
    std::fill(in_flight_.begin(), in_flight_.end(), 0);
    heads_in_flight_ = 0;
}

void Queue::set_indices(std::uint16_t next_avail, std::uint16_t next_used) {
    next_avail_ = next_avail;
    next_used_ = next_used;
    signalled_used_ = next_used;
    pushes_since_signal_ = 0;
    can_undo_ = false;
}

Queue::PopResult Queue::broken_result(std::string why) {
    broken_ = true;
    PopResult r;
    r.status = PopStatus::kBroken;
    r.error = std::move(why);
    return r;
}

Queue::PopResult Queue::pop(base::GuestMemory& mem) {
    can_undo_ = false;
    if (!ready_) {
        return {};
    }
    if (broken_) {
        return broken_result("queue is broken until reset");
    }
    auto avail_idx = mem.read_obj<std::uint16_t>(avail_idx_addr());
    if (!avail_idx) {
        return broken_result("available ring unreadable");
    }
    std::uint16_t pending = static_cast<std::uint16_t>(*avail_idx - next_avail_);
    if (pending == 0 && event_idx_ && notifications_enabled_) {
        // Re-arm avail_event, then look again: the driver may have published
        // a buffer after our read but before seeing the new avail_event.
        if (!mem.write_obj(avail_event_addr(), next_avail_)) {
            return broken_result("used ring unwritable");
        }
        std::atomic_thread_fence(std::memory_order_seq_cst);
        avail_idx = mem.read_obj<std::uint16_t>(avail_idx_addr());
        if (!avail_idx) {
            return broken_result("available ring unreadable");
        }
        pending = static_cast<std::uint16_t>(*avail_idx - next_avail_);
    }
    if (pending > size_) {
        return broken_result("avail idx " + std::to_string(*avail_idx) + " is " +
                             std::to_string(pending) + " entries ahead of " +
                             std::to_string(next_avail_) + " (size " + std::to_string(size_) + ")");
    }
    if (pending == 0) {
        return {};
    }
    // The ring entry and the descriptors were written before avail idx.
    std::atomic_thread_fence(std::memory_order_acquire);
    const auto head =
        mem.read_obj<std::uint16_t>(avail_addr_ + kRingHeader + 2ull * (next_avail_ & (size_ - 1)));
    if (!head) {
        return broken_result("available ring unreadable");
    }
    if (*head < size_ && head_in_flight(*head)) {
        return broken_result("head " + std::to_string(*head) +
                             " published again while the device still holds it");
    }
    ++next_avail_;
    can_undo_ = true;
    last_head_ = *head;
    if (*head < size_) {
        set_in_flight(*head, true);
    }

    PopResult r;
    r.chain.head = *head;
    if (read_chain(mem, *head, r)) {
        r.status = PopStatus::kChain;
    } else {
        r.status = PopStatus::kBadChain;
        r.chain.readable.clear();
        r.chain.writable.clear();
    }
    return r;
}

bool Queue::read_chain(base::GuestMemory& mem, std::uint16_t head, PopResult& out) const {
    auto bad = [&out](std::string why) {
        out.error = std::move(why);
        return false;
    };
    if (head >= size_) {
        return bad("head " + std::to_string(head) + " out of range (size " + std::to_string(size_) +
                   ")");
    }
    std::uint64_t table = desc_addr_;
    std::uint32_t table_len = size_;
    std::uint32_t index = head;
    bool indirect = false;
    // Descriptors walked in the current table: bounds every loop.
    std::uint32_t walked = 0;
    std::uint64_t bytes = 0;
    bool seen_writable = false;
    for (;;) {
        if (++walked > table_len) {
            return bad(indirect ? "indirect chain longer than its table (loop)"
                                : "chain longer than the queue size (loop)");
        }
        // One copy per descriptor: every check below looks at this copy.
        const auto d = mem.read_obj<Desc>(table + 16ull * index);
        if (!d) {
            return bad("descriptor " + std::to_string(index) + " unreadable");
        }
        if ((d->flags & kDescIndirect) != 0) {
            if (indirect) {
                return bad("indirect descriptor inside an indirect table");
            }
            if ((d->flags & kDescNext) != 0) {
                return bad("descriptor " + std::to_string(index) + " has both INDIRECT and NEXT");
            }
            if (d->len == 0 || d->len % sizeof(Desc) != 0 ||
                d->len / sizeof(Desc) > kMaxIndirectDescriptors) {
                return bad("indirect table length " + std::to_string(d->len) +
                           " is not a multiple of 16 in [16, " +
                           std::to_string(16 * kMaxIndirectDescriptors) + "]");
            }
            if (!mem.contains(d->addr, d->len)) {
                return bad("indirect table at " + base::hex(d->addr) + " is not inside guest RAM");
            }
            // The WRITE flag of the descriptor naming the table means nothing.
            table = d->addr;
            table_len = d->len / sizeof(Desc);
            index = 0;
            indirect = true;
            walked = 0;
            continue;
        }
        const bool writable = (d->flags & kDescWrite) != 0;
        if (!writable && seen_writable) {
            return bad("readable descriptor after a writable one");
        }
        seen_writable = seen_writable || writable;
        if (d->len != 0) {
            bytes += d->len;
            if (bytes > kMaxChainBytes) {
                return bad("chain longer than " + std::to_string(kMaxChainBytes) + " bytes");
            }
            const auto host = mem.span(d->addr, d->len);
            if (!host) {
                return bad("buffer at " + base::hex(d->addr) + " (" + std::to_string(d->len) +
                           " bytes) is not inside guest RAM");
            }
            (writable ? out.chain.writable : out.chain.readable).push_back({d->addr, *host});
        }
        if ((d->flags & kDescNext) == 0) {
            return true;
        }
        if (d->next >= table_len) {
            return bad("next index " + std::to_string(d->next) + " out of range (" +
                       std::to_string(table_len) + " descriptors)");
        }
        index = d->next;
    }
}

void Queue::undo_pop() {
    if (can_undo_) {
        --next_avail_;
        can_undo_ = false;
        set_in_flight(last_head_, false);
    }
}

bool Queue::push(base::GuestMemory& mem, std::uint16_t head, std::uint32_t written) {
    set_in_flight(head, false);
    if (!ready_) {
        return false;
    }
    const base::GuestAddress elem = used_addr_ + kRingHeader + 8ull * (next_used_ & (size_ - 1));
    if (!mem.write_obj(elem, UsedElem{head, written})) {
        return false;
    }
    // The element must be visible before the index that publishes it.
    std::atomic_thread_fence(std::memory_order_release);
    const std::uint16_t idx = next_used_ + 1;
    if (!mem.write_obj(used_addr_ + 2, idx)) {
        return false;
    }
    next_used_ = idx;
    if (pushes_since_signal_ <= 0xFFFF) {
        ++pushes_since_signal_;
    }
    return true;
}

bool Queue::needs_interrupt(base::GuestMemory& mem) {
    // Our used idx store must be ordered before the load of used_event /
    // avail flags, or we may miss the driver re-enabling interrupts.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!ready_ || pushes_since_signal_ == 0) {
        return false;
    }
    const std::uint16_t old_idx = signalled_used_;
    const std::uint32_t pushes = pushes_since_signal_;
    signalled_used_ = next_used_;
    pushes_since_signal_ = 0;
    if (event_idx_) {
        if (pushes > 0xFFFF) {
            return true;
        }
        const auto used_event = mem.read_obj<std::uint16_t>(used_event_addr());
        if (!used_event) {
            return true;
        }
        // Interrupt when used_event lies in [old_idx, next_used_), modulo 2^16.
        return static_cast<std::uint16_t>(next_used_ - *used_event - 1) <
               static_cast<std::uint16_t>(next_used_ - old_idx);
    }
    const auto flags = mem.read_obj<std::uint16_t>(avail_addr_);
    if (!flags) {
        return true;
    }
    return (*flags & kAvailNoInterrupt) == 0;
}

bool Queue::enable_notifications(base::GuestMemory& mem) {
    notifications_enabled_ = true;
    if (!ready_) {
        return false;
    }
    // With EVENT_IDX the used flags must stay 0; writing 0 is right either way.
    bool ok = mem.write_obj<std::uint16_t>(used_addr_, 0);
    if (event_idx_) {
        ok = mem.write_obj(avail_event_addr(), next_avail_) && ok;
    }
    // Our store must be visible before we load avail idx again (store-load).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const auto avail_idx = mem.read_obj<std::uint16_t>(avail_idx_addr());
    if (!ok || !avail_idx) {
        return true;  // let the device pop and find out
    }
    return *avail_idx != next_avail_;
}

void Queue::disable_notifications(base::GuestMemory& mem) {
    notifications_enabled_ = false;
    if (ready_ && !event_idx_) {
        mem.write_obj<std::uint16_t>(used_addr_, kUsedNoNotify);
    }
}

}  // namespace devices::virtio
