#pragma once
// The split virtqueue (virtio 1.x, 2.7), seen from the device, safe against a
// hostile or buggy driver. Everything the guest wrote is read once into a
// local copy and validated there; a malformed chain costs the driver that
// chain (PopStatus::kBadChain), a malformed ring costs it the queue
// (PopStatus::kBroken, the transport then sets DEVICE_NEEDS_RESET). Nothing
// here throws at run time.
//
// Ring layout in guest memory (all little-endian, as is the x86 host):
//   descriptor table  desc_addr   16 * size      align 16
//   available ring    avail_addr  6 + 2 * size   align 2  (flags, idx, ring[], used_event)
//   used ring         used_addr   6 + 8 * size   align 4  (flags, idx, ring[], avail_event)
//
// Limits on what one chain may be:
//   * at most `size` descriptors from the descriptor table,
//   * plus, when the last one is VIRTQ_DESC_F_INDIRECT, one indirect table of
//     1..kMaxIndirectDescriptors entries (len a non-zero multiple of 16),
//   * at most kMaxChainBytes bytes in all (used lengths are 32-bit).
// Zero-length descriptors are accepted and skipped: they add no Buffer.
//
// Heads in flight: a chain belongs to the device from pop() until push()
// gives it back (or undo_pop() returns it to the ring). A driver that
// publishes a head the device still holds breaks the queue (kBroken), so at
// most size() chains are ever in flight, whatever the driver writes.
//
// Not thread-safe: one device thread owns a Queue. The guest's vCPUs write the
// rings concurrently; the fences in queue.cpp order our accesses to them.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/guest_memory.h"

namespace devices::virtio {

// One buffer of a chain, already checked to lie inside guest RAM. `host`
// aliases guest memory, which the guest may change at any time: copy headers
// out once before validating them.
struct Buffer {
    base::GuestAddress addr = 0;
    std::span<std::uint8_t> host;
};

// A descriptor chain as the device sees it: the driver's readable buffers (in
// order), then the device-writable ones (in order).
struct Chain {
    std::uint16_t head = 0;
    std::vector<Buffer> readable;
    std::vector<Buffer> writable;

    std::uint64_t readable_bytes() const;
    std::uint64_t writable_bytes() const;
};

class Queue {
  public:
    static constexpr std::uint16_t kMaxSize = 256;
    // The largest queue size the split ring allows.
    static constexpr std::uint16_t kSpecMaxSize = 32768;
    static constexpr std::uint32_t kMaxIndirectDescriptors = 256;
    static constexpr std::uint64_t kMaxChainBytes = 0xFFFF'FFFFull;

    // Descriptor flags.
    static constexpr std::uint16_t kDescNext = 1;
    static constexpr std::uint16_t kDescWrite = 2;
    static constexpr std::uint16_t kDescIndirect = 4;
    // avail->flags and used->flags.
    static constexpr std::uint16_t kAvailNoInterrupt = 1;
    static constexpr std::uint16_t kUsedNoNotify = 1;

    // max_size: a power of two in [1, kSpecMaxSize]; InvalidInput otherwise.
    explicit Queue(std::uint16_t max_size = kMaxSize);

    // Driver configuration, written through the transport registers. Ignored
    // while ready(): the spec forbids changing a live queue.
    void set_size(std::uint16_t size);
    void set_desc_addr(std::uint64_t addr);
    void set_avail_addr(std::uint64_t addr);
    void set_used_addr(std::uint64_t addr);
    // VIRTIO_F_RING_EVENT_IDX negotiated or not.
    void set_event_idx(bool negotiated) { event_idx_ = negotiated; }

    std::uint16_t max_size() const { return max_size_; }
    std::uint16_t size() const { return size_; }
    std::uint64_t desc_addr() const { return desc_addr_; }
    std::uint64_t avail_addr() const { return avail_addr_; }
    std::uint64_t used_addr() const { return used_addr_; }
    bool event_idx() const { return event_idx_; }
    bool notifications_enabled() const { return notifications_enabled_; }
    bool ready() const { return ready_; }
    // The ring was found unusable; pop() keeps returning kBroken until reset().
    bool broken() const { return broken_; }
    std::uint16_t next_avail() const { return next_avail_; }
    std::uint16_t next_used() const { return next_used_; }
    // Chains popped and not pushed back yet (at most size()).
    std::uint32_t heads_in_flight() const { return heads_in_flight_; }
    bool head_in_flight(std::uint16_t head) const;

    // The driver wrote QueueReady = 1: checks the size (power of two, <= max)
    // and the rings (aligned, wholly inside RAM). On success ready() turns
    // true; on failure returns false and says why in *why (when non-null).
    bool activate(const base::GuestMemory& mem, std::string* why);
    // QueueReady = 0: stop using the rings, keep configuration and indices.
    void deactivate() { ready_ = false; }
    // Power-on state: size = max, addresses 0, not ready, indices 0, no
    // EVENT_IDX, notifications enabled, no head in flight.
    void reset();
    // Starts from given ring indices instead of 0 (snapshot restore, tests).
    void set_indices(std::uint16_t next_avail, std::uint16_t next_used);

    enum class PopStatus {
        kEmpty,     // nothing available (or the queue is not ready)
        kChain,     // chain is valid
        kBadChain,  // head consumed, descriptors invalid: push(head, 0) it
        kBroken,    // the ring itself is unusable: set DEVICE_NEEDS_RESET
    };
    struct PopResult {
        PopStatus status = PopStatus::kEmpty;
        // For kBadChain only chain.head is set: the value the driver put in
        // the ring, which may itself be out of range (>= size).
        Chain chain;
        std::string error;
    };
    // Takes the next available chain; its head (when < size()) is in flight
    // until push(). With EVENT_IDX and notifications enabled, an empty queue
    // also re-arms avail_event (so a device that simply drains until kEmpty
    // never misses a notification).
    PopResult pop(base::GuestMemory& mem);
    // Gives back the chain the last pop() took (kChain or kBadChain), so the
    // next pop() returns it again (e.g. net rx without room). Does nothing
    // when the last pop() took nothing or was already undone.
    void undo_pop();

    // Adds used element (head, written) and publishes used->idx after it;
    // the head is no longer in flight. False when the queue is not ready or
    // the ring is not writable.
    bool push(base::GuestMemory& mem, std::uint16_t head, std::uint32_t written);
    // After pushes: should the driver be interrupted? Without EVENT_IDX,
    // unless VIRTQ_AVAIL_F_NO_INTERRUPT is set; with it, when used_event was
    // crossed by the pushes since the previous call. False when nothing was
    // pushed since then.
    bool needs_interrupt(base::GuestMemory& mem);

    // Asks the driver to notify us of new buffers (clears
    // VIRTQ_USED_F_NO_NOTIFY or moves avail_event to next_avail). Returns
    // true when buffers arrived meanwhile: the device must pop again, the
    // driver may not have notified.
    bool enable_notifications(base::GuestMemory& mem);
    // Tells the driver notifications are not needed (a hint, it may still
    // notify). With EVENT_IDX avail_event is simply left behind.
    void disable_notifications(base::GuestMemory& mem);

  private:
    base::GuestAddress avail_idx_addr() const { return avail_addr_ + 2; }
    base::GuestAddress used_event_addr() const { return avail_addr_ + 4 + 2ull * size_; }
    base::GuestAddress avail_event_addr() const { return used_addr_ + 4 + 8ull * size_; }
    PopResult broken_result(std::string why);
    // Fills out.chain from the descriptors of `head`; false (out.error set)
    // when the chain breaks a rule.
    bool read_chain(base::GuestMemory& mem, std::uint16_t head, PopResult& out) const;
    void set_in_flight(std::uint16_t head, bool in_flight);

    std::uint16_t max_size_;
    std::uint16_t size_;
    std::uint64_t desc_addr_ = 0;
    std::uint64_t avail_addr_ = 0;
    std::uint64_t used_addr_ = 0;
    bool event_idx_ = false;
    bool ready_ = false;
    bool broken_ = false;
    bool notifications_enabled_ = true;
    bool can_undo_ = false;
    std::uint16_t last_head_ = 0;  // what undo_pop() gives back
    std::uint16_t next_avail_ = 0;
    std::uint16_t next_used_ = 0;
    // needs_interrupt(): used idx at the previous decision and the pushes
    // since (past 64 Ki the 16-bit comparison would wrap).
    std::uint16_t signalled_used_ = 0;
    std::uint32_t pushes_since_signal_ = 0;
    // One bit per head below max_size_.
    std::vector<std::uint64_t> in_flight_;
    std::uint32_t heads_in_flight_ = 0;
};

}  // namespace devices::virtio
