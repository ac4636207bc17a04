#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/guest_memory.h"
#include "devices/virtio/queue.h"
#include "x86/layout.h"

namespace devices::virtio {
namespace {

using PopStatus = Queue::PopStatus;

constexpr std::uint64_t kDesc = 0x1000;
constexpr std::uint64_t kAvail = 0x3000;
constexpr std::uint64_t kUsed = 0x4000;
constexpr std::uint64_t kData = 0x10000;
constexpr std::uint64_t kIndirect = 0x8000;

constexpr std::uint16_t F_NEXT = Queue::kDescNext;
constexpr std::uint16_t F_WRITE = Queue::kDescWrite;
constexpr std::uint16_t F_INDIRECT = Queue::kDescIndirect;

struct Desc {
    std::uint64_t addr;
    std::uint32_t len;
    std::uint16_t flags;
    std::uint16_t next;
};

// The driver's side of the rings, written the way a guest would.
class FakeDriver {
  public:
    FakeDriver(base::GuestMemory& mem, std::uint16_t size) : mem_(mem), size_(size) {}

    void write_desc(std::uint16_t i, Desc d) { ASSERT_TRUE(mem_.write_obj(kDesc + 16ull * i, d)); }
    void write_table(std::uint64_t addr, const std::vector<Desc>& descs) {
        for (std::size_t i = 0; i < descs.size(); ++i) {
            ASSERT_TRUE(mem_.write_obj(addr + 16 * i, descs[i]));
        }
    }
    // Puts `head` in the next avail slot and publishes it.
    void publish(std::uint16_t head) {
        ASSERT_TRUE(mem_.write_obj<std::uint16_t>(kAvail + 4 + 2ull * (avail_idx_ % size_), head));
        set_avail_idx(avail_idx_ + 1);
    }
    void set_avail_idx(std::uint16_t idx) {
        avail_idx_ = idx;
        ASSERT_TRUE(mem_.write_obj<std::uint16_t>(kAvail + 2, idx));
    }
    struct Seg {
        std::uint64_t addr;
        std::uint32_t len;
        bool writable;
    };
    // Lays `segs` out as a direct chain in free descriptors and publishes it.
    std::uint16_t add_chain(const std::vector<Seg>& segs) {
        const std::uint16_t head = next_free_;
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const std::uint16_t me = next_free_;
            next_free_ = (next_free_ + 1) % size_;
            const bool last = i + 1 == segs.size();
            write_desc(me, {segs[i].addr, segs[i].len,
                            static_cast<std::uint16_t>((segs[i].writable ? F_WRITE : 0) |
                                                       (last ? 0 : F_NEXT)),
                            last ? std::uint16_t{0} : next_free_});
        }
        publish(head);
        return head;
    }

    std::uint16_t used_idx() const { return *mem_.read_obj<std::uint16_t>(kUsed + 2); }
    std::uint16_t used_flags() const { return *mem_.read_obj<std::uint16_t>(kUsed); }
    std::pair<std::uint32_t, std::uint32_t> used_elem(std::uint16_t slot) const {
        const std::uint64_t a = kUsed + 4 + 8ull * (slot % size_);
        return {*mem_.read_obj<std::uint32_t>(a), *mem_.read_obj<std::uint32_t>(a + 4)};
    }
    std::uint16_t avail_event() const {
        return *mem_.read_obj<std::uint16_t>(kUsed + 4 + 8ull * size_);
    }
    void set_used_event(std::uint16_t v) {
        ASSERT_TRUE(mem_.write_obj<std::uint16_t>(kAvail + 4 + 2ull * size_, v));
    }
    void set_avail_flags(std::uint16_t v) { ASSERT_TRUE(mem_.write_obj<std::uint16_t>(kAvail, v)); }
    std::uint16_t avail_idx() const { return avail_idx_; }
    // After a device reset: rings start over.
    void restart() {
        next_free_ = 0;
        set_avail_idx(0);
    }

  private:
    base::GuestMemory& mem_;
    std::uint16_t size_;
    std::uint16_t avail_idx_ = 0;
    std::uint16_t next_free_ = 0;
};

void configure(Queue& q, std::uint16_t size) {
    q.set_size(size);
    q.set_desc_addr(kDesc);
    q.set_avail_addr(kAvail);
    q.set_used_addr(kUsed);
}

bool inside(const base::GuestMemory& mem, const Buffer& b) {
    const auto all = mem.span(0, mem.ram_bytes());
    return !b.host.empty() && b.host.data() >= all->data() &&
           b.host.data() + b.host.size() <= all->data() + all->size() &&
           mem.span(b.addr, b.host.size())->data() == b.host.data();
}

class VirtioQueue : public ::testing::Test {
  protected:
    static constexpr std::uint16_t kSize = 16;

    VirtioQueue() : mem(1 << 20), q(Queue::kMaxSize), drv(mem, kSize) {}
    void SetUp() override {
        configure(q, kSize);
        std::string why;
        ASSERT_TRUE(q.activate(mem, &why)) << why;
    }
    Queue::PopResult pop() { return q.pop(mem); }
    // Writes `descs` from index 0, publishes `head` and expects a bad chain
    // that costs only that chain.
    void expect_bad(const std::vector<Desc>& descs, std::uint16_t head = 0) {
        for (std::size_t i = 0; i < descs.size(); ++i) {
            drv.write_desc(static_cast<std::uint16_t>(i), descs[i]);
        }
        drv.publish(head);
        const auto r = pop();
        EXPECT_EQ(r.status, PopStatus::kBadChain);
        EXPECT_EQ(r.chain.head, head);
        EXPECT_TRUE(r.chain.readable.empty());
        EXPECT_TRUE(r.chain.writable.empty());
        EXPECT_FALSE(r.error.empty());
        EXPECT_FALSE(q.broken());
        // The device completes it; the queue keeps working.
        EXPECT_TRUE(q.push(mem, r.chain.head, 0));
        const std::uint16_t good = drv.add_chain({{kData, 8, false}});
        const auto next = pop();
        EXPECT_EQ(next.status, PopStatus::kChain) << next.error;
        EXPECT_EQ(next.chain.head, good);
        EXPECT_TRUE(q.push(mem, next.chain.head, 0));
    }

    base::GuestMemory mem;
    Queue q;
    FakeDriver drv;
};

// ---- configuration ----

TEST(VirtioQueueConfig, ConstructorRejectsBadMaxSize) {
    EXPECT_THROW(Queue(0), base::InvalidInput);
    EXPECT_THROW(Queue(3), base::InvalidInput);
    EXPECT_THROW(Queue(65535), base::InvalidInput);
    EXPECT_NO_THROW(Queue(1));
    EXPECT_NO_THROW(Queue(32768));
}

TEST(VirtioQueueConfig, PowerOnState) {
    Queue q(64);
    EXPECT_EQ(q.max_size(), 64);
    EXPECT_EQ(q.size(), 64);
    EXPECT_EQ(q.desc_addr(), 0u);
    EXPECT_FALSE(q.ready());
    EXPECT_FALSE(q.event_idx());
}

TEST(VirtioQueueConfig, ActivateRejectsBadSizes) {
    base::GuestMemory mem(1 << 20);
    Queue q(64);
    std::string why;
    for (std::uint16_t size : {0, 3, 48, 128}) {
        configure(q, size);
        why.clear();
        EXPECT_FALSE(q.activate(mem, &why)) << size;
        EXPECT_NE(why.find("size"), std::string::npos) << why;
        EXPECT_FALSE(q.ready());
    }
    configure(q, 64);
    EXPECT_TRUE(q.activate(mem, nullptr));
    EXPECT_TRUE(q.ready());
}

TEST(VirtioQueueConfig, ActivateRejectsMisalignedRings) {
    base::GuestMemory mem(1 << 20);
    Queue q(16);
    std::string why;
    configure(q, 16);
    q.set_desc_addr(kDesc + 8);
    EXPECT_FALSE(q.activate(mem, &why));
    EXPECT_NE(why.find("descriptor table"), std::string::npos) << why;
    configure(q, 16);
    q.set_avail_addr(kAvail + 1);
    EXPECT_FALSE(q.activate(mem, &why));
    EXPECT_NE(why.find("available ring"), std::string::npos) << why;
    configure(q, 16);
    q.set_used_addr(kUsed + 2);
    EXPECT_FALSE(q.activate(mem, &why));
    EXPECT_NE(why.find("used ring"), std::string::npos) << why;
    // Minimal alignments are enough.
    configure(q, 16);
    q.set_desc_addr(kDesc + 16);
    q.set_avail_addr(kAvail + 2);
    q.set_used_addr(kUsed + 4);
    EXPECT_TRUE(q.activate(mem, &why)) << why;
}

TEST(VirtioQueueConfig, ActivateRejectsRingsOutsideRam) {
    base::GuestMemory mem(1 << 20);
    Queue q(256);
    std::string why;
    const std::uint64_t end = mem.end();
    struct Case {
        std::uint64_t desc, avail, used;
    };
    const Case cases[] = {
        {end - 16 * 255, kAvail, kUsed},            // table straddles the end
        {kDesc, end - (6 + 2 * 256) + 2, kUsed},    // used_event past the end
        {kDesc, kAvail, end - (6 + 8 * 256) + 2},   // avail_event past the end
        {0xFFFF'FFFF'FFFF'FFF0ull, kAvail, kUsed},  // would wrap around
        {kDesc, kAvail, layout::kMmioHoleStart},
    };
    for (const Case& c : cases) {
        q.set_desc_addr(c.desc);
        q.set_avail_addr(c.avail);
        q.set_used_addr(c.used);
        why.clear();
        EXPECT_FALSE(q.activate(mem, &why));
        EXPECT_NE(why.find("inside guest RAM"), std::string::npos) << why;
    }
    // Exactly fitting at the end is fine.
    q.set_desc_addr(end - 16 * 256);
    q.set_avail_addr(end - 16 * 256 - (6 + 2 * 256) - 2);
    q.set_used_addr(kUsed);
    EXPECT_TRUE(q.activate(mem, &why)) << why;
}

TEST_F(VirtioQueue, ConfigurationIgnoredWhileReady) {
    q.set_size(4);
    q.set_desc_addr(0x9000);
    q.set_avail_addr(0x9000);
    q.set_used_addr(0x9000);
    EXPECT_EQ(q.size(), kSize);
    EXPECT_EQ(q.desc_addr(), kDesc);
    EXPECT_EQ(q.avail_addr(), kAvail);
    EXPECT_EQ(q.used_addr(), kUsed);
    q.deactivate();
    q.set_size(4);
    EXPECT_EQ(q.size(), 4);
}

TEST_F(VirtioQueue, NotReadyDoesNothing) {
    q.deactivate();
    drv.add_chain({{kData, 8, false}});
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
    EXPECT_FALSE(q.push(mem, 0, 0));
    EXPECT_FALSE(q.needs_interrupt(mem));
    EXPECT_FALSE(q.enable_notifications(mem));
}

// ---- normal operation ----

TEST_F(VirtioQueue, EmptyQueuePopsEmpty) {
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
    EXPECT_EQ(q.next_avail(), 0);
}

TEST_F(VirtioQueue, DirectChainSplitsReadableAndWritable) {
    const std::uint16_t head =
        drv.add_chain({{kData, 16, false}, {kData + 0x100, 32, false}, {kData + 0x200, 100, true}});
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_EQ(r.chain.head, head);
    ASSERT_EQ(r.chain.readable.size(), 2u);
    ASSERT_EQ(r.chain.writable.size(), 1u);
    EXPECT_EQ(r.chain.readable[0].addr, kData);
    EXPECT_EQ(r.chain.readable[1].addr, kData + 0x100);
    EXPECT_EQ(r.chain.writable[0].addr, kData + 0x200);
    EXPECT_EQ(r.chain.readable_bytes(), 48u);
    EXPECT_EQ(r.chain.writable_bytes(), 100u);
    EXPECT_EQ(r.chain.readable[0].host.data(), mem.span(kData, 16)->data());
    EXPECT_EQ(r.chain.writable[0].host.data(), mem.span(kData + 0x200, 100)->data());
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
}

TEST_F(VirtioQueue, WriteOnlyAndReadOnlyChains) {
    drv.add_chain({{kData, 64, true}, {kData + 64, 64, true}});
    drv.add_chain({{kData + 128, 64, false}});
    auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain);
    EXPECT_TRUE(r.chain.readable.empty());
    EXPECT_EQ(r.chain.writable_bytes(), 128u);
    r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain);
    EXPECT_TRUE(r.chain.writable.empty());
    EXPECT_EQ(r.chain.readable_bytes(), 64u);
}

TEST_F(VirtioQueue, PushFillsUsedRing) {
    const std::uint16_t a = drv.add_chain({{kData, 8, false}, {kData + 8, 8, true}});
    const std::uint16_t b = drv.add_chain({{kData + 16, 8, true}});
    const auto ra = pop();
    const auto rb = pop();
    ASSERT_EQ(ra.status, PopStatus::kChain);
    ASSERT_EQ(rb.status, PopStatus::kChain);
    // Out of order completion is allowed.
    ASSERT_TRUE(q.push(mem, rb.chain.head, 5));
    EXPECT_EQ(drv.used_idx(), 1);
    ASSERT_TRUE(q.push(mem, ra.chain.head, 8));
    EXPECT_EQ(drv.used_idx(), 2);
    EXPECT_EQ(drv.used_elem(0), std::make_pair(std::uint32_t{b}, std::uint32_t{5}));
    EXPECT_EQ(drv.used_elem(1), std::make_pair(std::uint32_t{a}, std::uint32_t{8}));
    EXPECT_EQ(q.next_used(), 2);
}

TEST_F(VirtioQueue, IndirectChain) {
    drv.write_table(
        kIndirect,
        {{kData, 10, F_NEXT, 1}, {kData + 0x100, 20, F_NEXT, 2}, {kData + 0x200, 30, F_WRITE, 0}});
    drv.write_desc(3, {kIndirect, 3 * 16, F_INDIRECT, 0});
    drv.publish(3);
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_EQ(r.chain.head, 3);
    ASSERT_EQ(r.chain.readable.size(), 2u);
    ASSERT_EQ(r.chain.writable.size(), 1u);
    EXPECT_EQ(r.chain.readable[1].addr, kData + 0x100);
    EXPECT_EQ(r.chain.writable[0].host.size(), 30u);
}

TEST_F(VirtioQueue, IndirectNextFieldsFollowTheTableNotTheOrder) {
    drv.write_table(
        kIndirect,
        {{kData + 0x200, 30, F_WRITE, 0}, {kData, 10, F_NEXT, 2}, {kData + 0x100, 20, F_NEXT, 0}});
    drv.write_desc(0, {kIndirect, 3 * 16, F_INDIRECT, 0});
    drv.publish(0);
    // Starts at entry 0 of the table, which ends the chain at once.
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_TRUE(r.chain.readable.empty());
    ASSERT_EQ(r.chain.writable.size(), 1u);
    EXPECT_EQ(r.chain.writable[0].addr, kData + 0x200);
}

TEST_F(VirtioQueue, DirectDescriptorsThenIndirectTable) {
    drv.write_table(kIndirect, {{kData + 0x100, 20, F_NEXT, 1}, {kData + 0x200, 30, F_WRITE, 0}});
    drv.write_desc(5, {kData, 10, F_NEXT, 6});
    drv.write_desc(6, {kIndirect, 2 * 16, F_INDIRECT, 0});
    drv.publish(5);
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    ASSERT_EQ(r.chain.readable.size(), 2u);
    EXPECT_EQ(r.chain.readable[0].addr, kData);
    EXPECT_EQ(r.chain.readable[1].addr, kData + 0x100);
    EXPECT_EQ(r.chain.writable_bytes(), 30u);
}

TEST_F(VirtioQueue, WriteFlagOnIndirectDescriptorIsIgnored) {
    drv.write_table(kIndirect, {{kData, 10, 0, 0}});
    drv.write_desc(0, {kIndirect, 16, F_INDIRECT | F_WRITE, 0});
    drv.publish(0);
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_EQ(r.chain.readable_bytes(), 10u);
}

TEST_F(VirtioQueue, IndirectTableOfMaximumLength) {
    std::vector<Desc> table;
    for (std::uint32_t i = 0; i < Queue::kMaxIndirectDescriptors; ++i) {
        const bool last = i + 1 == Queue::kMaxIndirectDescriptors;
        table.push_back({kData + i, 1, static_cast<std::uint16_t>(last ? 0 : F_NEXT),
                         static_cast<std::uint16_t>(last ? 0 : i + 1)});
    }
    drv.write_table(kIndirect, table);
    drv.write_desc(0, {kIndirect, 16 * Queue::kMaxIndirectDescriptors, F_INDIRECT, 0});
    drv.publish(0);
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_EQ(r.chain.readable.size(), Queue::kMaxIndirectDescriptors);
}

TEST_F(VirtioQueue, ChainOfQueueSizeDescriptors) {
    std::vector<FakeDriver::Seg> segs;
    for (int i = 0; i < kSize; ++i) {
        segs.push_back({kData + 8ull * i, 8, i >= kSize / 2});
    }
    drv.add_chain(segs);
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_EQ(r.chain.readable.size() + r.chain.writable.size(), std::size_t{kSize});
}

TEST_F(VirtioQueue, ZeroLengthDescriptorsAreSkipped) {
    // A zero-length descriptor may even carry an address outside RAM.
    drv.add_chain({{kData, 8, false}, {0xFFFF'FFFF'FFFF'FFFFull, 0, false}, {kData + 8, 0, true}});
    const auto r = pop();
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_EQ(r.chain.readable.size(), 1u);
    EXPECT_TRUE(r.chain.writable.empty());
}

TEST_F(VirtioQueue, IndicesWrapAround) {
    q.set_indices(65534, 65534);
    drv.set_avail_idx(65534);
    ASSERT_TRUE(mem.write_obj<std::uint16_t>(kUsed + 2, 65534));
    std::vector<std::uint16_t> heads;
    for (int i = 0; i < 4; ++i) {
        heads.push_back(drv.add_chain({{kData + 0x100ull * i, 8, true}}));
    }
    EXPECT_EQ(drv.avail_idx(), 2);
    for (int i = 0; i < 4; ++i) {
        const auto r = pop();
        ASSERT_EQ(r.status, PopStatus::kChain) << i << r.error;
        EXPECT_EQ(r.chain.head, heads[i]);
        EXPECT_EQ(r.chain.writable[0].addr, kData + 0x100ull * i);
        ASSERT_TRUE(q.push(mem, r.chain.head, 8));
    }
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
    EXPECT_EQ(q.next_avail(), 2);
    EXPECT_EQ(drv.used_idx(), 2);
    // 65534 % 16 == 14: the elements went to slots 14, 15, 0, 1.
    EXPECT_EQ(drv.used_elem(14).first, heads[0]);
    EXPECT_EQ(drv.used_elem(15).first, heads[1]);
    EXPECT_EQ(drv.used_elem(0).first, heads[2]);
    EXPECT_EQ(drv.used_elem(1).first, heads[3]);
}

TEST_F(VirtioQueue, RunsPastSixtyFourKiChains) {
    for (int i = 0; i < 70000; ++i) {
        const std::uint16_t head = drv.add_chain({{kData, 4, true}});
        const auto r = pop();
        ASSERT_EQ(r.status, PopStatus::kChain) << i;
        ASSERT_EQ(r.chain.head, head);
        ASSERT_TRUE(q.push(mem, head, 4));
    }
    EXPECT_EQ(drv.used_idx(), static_cast<std::uint16_t>(70000));
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
}

TEST_F(VirtioQueue, UndoPopReturnsTheSameChainOnce) {
    const std::uint16_t a = drv.add_chain({{kData, 8, true}});
    const std::uint16_t b = drv.add_chain({{kData + 8, 8, true}});
    EXPECT_EQ(pop().chain.head, a);
    q.undo_pop();
    q.undo_pop();  // only one step back
    EXPECT_EQ(q.next_avail(), 0);
    EXPECT_EQ(pop().chain.head, a);
    EXPECT_EQ(pop().chain.head, b);
    q.undo_pop();
    EXPECT_EQ(pop().chain.head, b);
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
    q.undo_pop();  // nothing popped: no-op
    EXPECT_EQ(q.next_avail(), 2);
}

TEST_F(VirtioQueue, AHeadIsInFlightFromPopToPush) {
    const std::uint16_t head = drv.add_chain({{kData, 8, true}});
    EXPECT_FALSE(q.head_in_flight(head));
    ASSERT_EQ(pop().status, PopStatus::kChain);
    EXPECT_TRUE(q.head_in_flight(head));
    EXPECT_EQ(q.heads_in_flight(), 1u);
    ASSERT_TRUE(q.push(mem, head, 8));
    EXPECT_FALSE(q.head_in_flight(head));
    EXPECT_EQ(q.heads_in_flight(), 0u);
    drv.publish(head);  // used, so the driver may post it again
    EXPECT_EQ(pop().status, PopStatus::kChain);
}

TEST_F(VirtioQueue, AHeadPublishedAgainWhileInFlightBreaksTheQueue) {
    const std::uint16_t head = drv.add_chain({{kData, 8, true}});
    ASSERT_EQ(pop().status, PopStatus::kChain);
    drv.publish(head);  // the device still holds it
    const auto r = pop();
    EXPECT_EQ(r.status, PopStatus::kBroken);
    EXPECT_NE(r.error.find("still holds"), std::string::npos) << r.error;
    EXPECT_EQ(q.heads_in_flight(), 1u) << "the republished head was not taken a second time";
    q.reset();
    EXPECT_EQ(q.heads_in_flight(), 0u);
    EXPECT_FALSE(q.head_in_flight(head));
}

TEST_F(VirtioQueue, ABadChainsHeadIsInFlightUntilPushedToo) {
    drv.write_desc(0, {0xFFFF'FFFF'0000, 8, 0, 0});  // outside RAM
    drv.publish(0);
    ASSERT_EQ(pop().status, PopStatus::kBadChain);
    drv.publish(0);
    EXPECT_EQ(pop().status, PopStatus::kBroken);
}

TEST_F(VirtioQueue, NeverMoreChainsInFlightThanTheQueueSize) {
    // A driver that keeps publishing heads without waiting for them: the
    // device holds at most one of each, kSize in all.
    std::uint16_t head = 0;
    int popped = 0;
    for (int i = 0; i < 4 * kSize; ++i) {
        drv.write_desc(head, {kData, 8, F_WRITE, 0});
        drv.publish(head);
        const auto r = pop();
        if (r.status != PopStatus::kChain) {
            EXPECT_EQ(r.status, PopStatus::kBroken);
            break;
        }
        ++popped;
        head = static_cast<std::uint16_t>((head + 1) % kSize);
    }
    EXPECT_EQ(popped, kSize);
    EXPECT_LE(q.heads_in_flight(), kSize);
    EXPECT_TRUE(q.broken());
}

TEST_F(VirtioQueue, UndoPopGivesTheHeadBack) {
    const std::uint16_t head = drv.add_chain({{kData, 8, true}});
    ASSERT_EQ(pop().status, PopStatus::kChain);
    q.undo_pop();
    EXPECT_FALSE(q.head_in_flight(head));
    EXPECT_EQ(pop().status, PopStatus::kChain) << "taking it again is no reuse";
}

TEST_F(VirtioQueue, ResetRestoresPowerOnState) {
    q.set_event_idx(true);
    drv.add_chain({{kData, 8, true}});
    ASSERT_EQ(pop().status, PopStatus::kChain);
    ASSERT_TRUE(q.push(mem, 0, 0));
    q.reset();
    EXPECT_FALSE(q.ready());
    EXPECT_FALSE(q.broken());
    EXPECT_FALSE(q.event_idx());
    EXPECT_EQ(q.size(), Queue::kMaxSize);
    EXPECT_EQ(q.desc_addr(), 0u);
    EXPECT_EQ(q.avail_addr(), 0u);
    EXPECT_EQ(q.used_addr(), 0u);
    EXPECT_EQ(q.next_avail(), 0);
    EXPECT_EQ(q.next_used(), 0);
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
}

// ---- interrupts and notifications ----

TEST_F(VirtioQueue, InterruptWithoutEventIdx) {
    EXPECT_FALSE(q.needs_interrupt(mem));  // nothing pushed
    drv.add_chain({{kData, 8, true}});
    ASSERT_TRUE(q.push(mem, pop().chain.head, 8));
    EXPECT_TRUE(q.needs_interrupt(mem));
    EXPECT_FALSE(q.needs_interrupt(mem));  // already decided for that push

    drv.set_avail_flags(Queue::kAvailNoInterrupt);
    drv.add_chain({{kData, 8, true}});
    ASSERT_TRUE(q.push(mem, pop().chain.head, 8));
    EXPECT_FALSE(q.needs_interrupt(mem));
    drv.set_avail_flags(0);
    drv.add_chain({{kData, 8, true}});
    ASSERT_TRUE(q.push(mem, pop().chain.head, 8));
    EXPECT_TRUE(q.needs_interrupt(mem));
}

TEST_F(VirtioQueue, InterruptWithEventIdx) {
    q.set_event_idx(true);
    // NO_INTERRUPT means nothing once EVENT_IDX is negotiated.
    drv.set_avail_flags(Queue::kAvailNoInterrupt);
    auto push_n = [&](int n) {
        for (int i = 0; i < n; ++i) {
            drv.add_chain({{kData, 8, true}});
            const auto r = pop();
            ASSERT_EQ(r.status, PopStatus::kChain);
            ASSERT_TRUE(q.push(mem, r.chain.head, 8));
        }
    };
    // used_event = 2: the driver wants an interrupt once entry 2 is used.
    drv.set_used_event(2);
    push_n(2);  // used 0..1
    EXPECT_FALSE(q.needs_interrupt(mem));
    push_n(1);  // used 2
    EXPECT_TRUE(q.needs_interrupt(mem));
    push_n(3);  // used 3..5: event 2 already passed
    EXPECT_FALSE(q.needs_interrupt(mem));
    drv.set_used_event(7);
    push_n(4);  // used 6..9 crosses 7 in one batch
    EXPECT_TRUE(q.needs_interrupt(mem));
    EXPECT_FALSE(q.needs_interrupt(mem));  // nothing new
}

TEST_F(VirtioQueue, InterruptWithEventIdxAcrossWrap) {
    q.set_event_idx(true);
    q.set_indices(65530, 65530);
    drv.set_avail_idx(65530);
    drv.set_used_event(1);  // wants entry 1 of the next lap
    for (int i = 0; i < 6; ++i) {
        drv.add_chain({{kData, 8, true}});
        ASSERT_TRUE(q.push(mem, pop().chain.head, 8));
    }
    EXPECT_EQ(q.next_used(), 0);
    EXPECT_FALSE(q.needs_interrupt(mem));
    for (int i = 0; i < 2; ++i) {
        drv.add_chain({{kData, 8, true}});
        ASSERT_TRUE(q.push(mem, pop().chain.head, 8));
    }
    EXPECT_TRUE(q.needs_interrupt(mem));
}

TEST_F(VirtioQueue, NotificationSuppressionWithoutEventIdx) {
    q.disable_notifications(mem);
    EXPECT_EQ(drv.used_flags(), Queue::kUsedNoNotify);
    EXPECT_FALSE(q.enable_notifications(mem));
    EXPECT_EQ(drv.used_flags(), 0);
    q.disable_notifications(mem);
    drv.add_chain({{kData, 8, true}});
    // A buffer arrived while suppressed: enable must say so.
    EXPECT_TRUE(q.enable_notifications(mem));
    EXPECT_EQ(pop().status, PopStatus::kChain);
    EXPECT_FALSE(q.enable_notifications(mem));
}

TEST_F(VirtioQueue, NotificationSuppressionWithEventIdx) {
    q.set_event_idx(true);
    q.disable_notifications(mem);
    EXPECT_EQ(drv.used_flags(), 0);  // flags stay 0 with EVENT_IDX
    drv.add_chain({{kData, 8, true}});
    drv.add_chain({{kData, 8, true}});
    EXPECT_TRUE(q.enable_notifications(mem));
    EXPECT_EQ(drv.avail_event(), 0);
    EXPECT_EQ(pop().status, PopStatus::kChain);
    EXPECT_EQ(pop().status, PopStatus::kChain);
    EXPECT_FALSE(q.enable_notifications(mem));
    EXPECT_EQ(drv.avail_event(), 2);
    EXPECT_EQ(drv.used_flags(), 0);
}

TEST_F(VirtioQueue, DrainingToEmptyRearmsAvailEvent) {
    q.set_event_idx(true);
    for (int i = 0; i < 3; ++i) {
        drv.add_chain({{kData, 8, true}});
    }
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(pop().status, PopStatus::kChain);
    }
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
    EXPECT_EQ(drv.avail_event(), 3);
    // Not when the device turned notifications off.
    q.disable_notifications(mem);
    drv.add_chain({{kData, 8, true}});
    EXPECT_EQ(pop().status, PopStatus::kChain);
    EXPECT_EQ(pop().status, PopStatus::kEmpty);
    EXPECT_EQ(drv.avail_event(), 3);
}

// ---- hostile drivers ----

TEST_F(VirtioQueue, HostileBufferOutsideRam) {
    expect_bad({{mem.end() - 4, 8, 0, 0}});            // straddles the end
    expect_bad({{mem.end(), 1, 0, 0}});                // just past it
    expect_bad({{layout::kMmioHoleStart, 16, 0, 0}});  // device window
}

TEST_F(VirtioQueue, HostileAddressPlusLengthOverflows) {
    expect_bad({{0xFFFF'FFFF'FFFF'FFF0ull, 0x20, 0, 0}});
    expect_bad({{0xFFFF'FFFF'FFFF'FFFFull, 0xFFFF'FFFF, F_WRITE, 0}});
}

TEST_F(VirtioQueue, HostileNextOutOfRange) {
    expect_bad({{kData, 8, F_NEXT, kSize}});
    expect_bad({{kData, 8, F_NEXT, 0xFFFF}});
}

TEST_F(VirtioQueue, HostileDirectLoop) {
    expect_bad({{kData, 8, F_NEXT, 1}, {kData, 8, F_NEXT, 0}});
    expect_bad({{kData, 8, F_NEXT, 0}});  // points at itself
}

TEST_F(VirtioQueue, HostileChainLongerThanQueue) {
    // kSize + 1 descriptors cannot exist without a loop; a full ring cycle is.
    std::vector<Desc> descs;
    for (std::uint16_t i = 0; i < kSize; ++i) {
        descs.push_back({kData, 1, F_NEXT, static_cast<std::uint16_t>((i + 1) % kSize)});
    }
    expect_bad(descs, 3);
}

TEST_F(VirtioQueue, HostileIndirectLoop) {
    drv.write_table(kIndirect, {{kData, 8, F_NEXT, 1}, {kData, 8, F_NEXT, 0}});
    expect_bad({{kIndirect, 32, F_INDIRECT, 0}});
}

TEST_F(VirtioQueue, HostileIndirectNextOutOfTable) {
    drv.write_table(kIndirect, {{kData, 8, F_NEXT, 2}, {kData, 8, 0, 0}, {kData, 8, 0, 0}});
    expect_bad({{kIndirect, 32, F_INDIRECT, 0}});  // table has 2 entries, next = 2
}

TEST_F(VirtioQueue, HostileIndirectTableLength) {
    drv.write_table(kIndirect, {{kData, 8, 0, 0}});
    expect_bad({{kIndirect, 0, F_INDIRECT, 0}});
    expect_bad({{kIndirect, 15, F_INDIRECT, 0}});
    expect_bad({{kIndirect, 24, F_INDIRECT, 0}});
    expect_bad({{kIndirect, 16 * (Queue::kMaxIndirectDescriptors + 1), F_INDIRECT, 0}});
    expect_bad({{kIndirect, 0xFFFF'FFF0u, F_INDIRECT, 0}});
}

TEST_F(VirtioQueue, HostileIndirectTableOutsideRam) {
    expect_bad({{mem.end() - 16, 32, F_INDIRECT, 0}});
    expect_bad({{0xFFFF'FFFF'FFFF'FFF0ull, 32, F_INDIRECT, 0}});
}

TEST_F(VirtioQueue, HostileNestedIndirect) {
    drv.write_table(kIndirect + 0x100, {{kData, 8, 0, 0}});
    drv.write_table(kIndirect, {{kData, 8, F_NEXT, 1}, {kIndirect + 0x100, 16, F_INDIRECT, 0}});
    expect_bad({{kIndirect, 32, F_INDIRECT, 0}});
}

TEST_F(VirtioQueue, HostileIndirectWithNext) {
    drv.write_table(kIndirect, {{kData, 8, 0, 0}});
    expect_bad({{kIndirect, 16, F_INDIRECT | F_NEXT, 1}, {kData, 8, 0, 0}});
}

TEST_F(VirtioQueue, HostileReadableAfterWritable) {
    expect_bad({{kData, 8, F_WRITE | F_NEXT, 1}, {kData + 8, 8, 0, 0}});
    // Also across the step into an indirect table.
    drv.write_table(kIndirect, {{kData, 8, 0, 0}});
    expect_bad({{kData, 8, F_WRITE | F_NEXT, 1}, {kIndirect, 16, F_INDIRECT, 0}});
    // And a zero-length readable one still counts.
    expect_bad({{kData, 8, F_WRITE | F_NEXT, 1}, {kData, 0, 0, 0}});
}

TEST(VirtioQueueHostile, ChainBytesAreCapped) {
    // Descriptors may overlap, so 17 x 256 MiB fit in 256 MiB of RAM. The
    // mapping is MAP_NORESERVE and the data pages are never touched.
    constexpr std::uint64_t kBig = 256ull << 20;
    base::GuestMemory mem(kBig);
    Queue q(32);
    configure(q, 32);
    ASSERT_TRUE(q.activate(mem, nullptr));
    FakeDriver drv(mem, 32);
    std::vector<FakeDriver::Seg> segs(17, {0, static_cast<std::uint32_t>(kBig), true});
    drv.add_chain(segs);
    auto r = q.pop(mem);
    EXPECT_EQ(r.status, PopStatus::kBadChain);
    EXPECT_NE(r.error.find("bytes"), std::string::npos) << r.error;
    // 15 x 256 MiB + (256 MiB - 1) = 4 GiB - 1 is the most allowed.
    segs.assign(15, {0, static_cast<std::uint32_t>(kBig), false});
    segs.push_back({0, static_cast<std::uint32_t>(kBig - 1), true});
    drv.add_chain(segs);
    r = q.pop(mem);
    ASSERT_EQ(r.status, PopStatus::kChain) << r.error;
    EXPECT_EQ(r.chain.readable_bytes() + r.chain.writable_bytes(), Queue::kMaxChainBytes);
}

TEST_F(VirtioQueue, HostileHeadOutOfRange) {
    drv.publish(kSize);
    auto r = pop();
    EXPECT_EQ(r.status, PopStatus::kBadChain);
    EXPECT_EQ(r.chain.head, kSize);
    EXPECT_TRUE(q.push(mem, r.chain.head, 0));
    drv.publish(0xFFFF);
    r = pop();
    EXPECT_EQ(r.status, PopStatus::kBadChain);
    EXPECT_EQ(r.chain.head, 0xFFFF);
    const std::uint16_t good = drv.add_chain({{kData, 8, false}});
    r = pop();
    EXPECT_EQ(r.status, PopStatus::kChain);
    EXPECT_EQ(r.chain.head, good);
}

TEST_F(VirtioQueue, HostileAvailIdxTooFarAhead) {
    drv.add_chain({{kData, 8, false}});
    ASSERT_EQ(pop().status, PopStatus::kChain);
    ASSERT_TRUE(q.push(mem, 0, 0));
    drv.set_avail_idx(1 + kSize);  // exactly a full ring: fine
    for (int i = 0; i < kSize; ++i) {
        const auto r = pop();  // head 0 each time: the ring holds zeros
        ASSERT_NE(r.status, PopStatus::kBroken) << r.error;
        ASSERT_TRUE(q.push(mem, r.chain.head, 0));
    }
    drv.set_avail_idx(q.next_avail() + kSize + 1);
    auto r = pop();
    EXPECT_EQ(r.status, PopStatus::kBroken);
    EXPECT_FALSE(r.error.empty());
    EXPECT_TRUE(q.broken());
    // Stays broken even when the driver "fixes" the index.
    drv.set_avail_idx(q.next_avail());
    EXPECT_EQ(pop().status, PopStatus::kBroken);
    q.reset();
    EXPECT_FALSE(q.broken());
}

TEST_F(VirtioQueue, HostileAvailIdxGoingBackwards) {
    drv.add_chain({{kData, 8, false}});
    drv.add_chain({{kData, 8, false}});
    ASSERT_EQ(pop().status, PopStatus::kChain);
    ASSERT_EQ(pop().status, PopStatus::kChain);
    drv.set_avail_idx(1);  // 65535 ahead, modulo 2^16
    EXPECT_EQ(pop().status, PopStatus::kBroken);
}

TEST_F(VirtioQueue, HostileRandomGarbage) {
    std::mt19937_64 rng(12345);
    const auto all = mem.span(0, mem.ram_bytes());
    int counts[4] = {};
    for (int iter = 0; iter < 20000; ++iter) {
        if (q.broken() || iter % 500 == 0) {
            q.reset();
            configure(q, kSize);
            q.set_event_idx(rng() & 1);
            ASSERT_TRUE(q.activate(mem, nullptr));
            drv.restart();
        }
        // Random descriptors: mostly plausible, sometimes wild.
        for (std::uint16_t i = 0; i < kSize; ++i) {
            Desc d{};
            const std::uint64_t r = rng();
            d.addr = (r & 3) == 0 ? rng() : kData + (rng() % 0x20000);
            d.len = (r & 12) == 0 ? static_cast<std::uint32_t>(rng()) : rng() % 0x2000;
            d.flags = static_cast<std::uint16_t>(rng() & 7);
            d.next = (r & 48) == 0 ? static_cast<std::uint16_t>(rng()) : rng() % (kSize + 1);
            if ((d.flags & F_INDIRECT) && (r & 64)) {
                d.addr = kIndirect + 16 * (rng() % 64);
                d.len = 16 * (rng() % 20);
            }
            drv.write_desc(i, d);
        }
        for (int i = 0; i < 64; ++i) {
            Desc d{};
            d.addr = kData + (rng() % 0x20000);
            d.len = rng() % 0x1000;
            d.flags = static_cast<std::uint16_t>(rng() & 7);
            d.next = rng() % 24;
            ASSERT_TRUE(mem.write_obj(kIndirect + 16ull * i, d));
        }
        const std::uint64_t pick = rng() % 8;
        if (pick == 0) {
            drv.set_avail_idx(static_cast<std::uint16_t>(rng()));
        } else {
            for (std::uint64_t n = rng() % 4; n > 0; --n) {
                drv.publish(static_cast<std::uint16_t>(pick == 1 ? rng() : rng() % kSize));
            }
        }
        for (int n = 0; n < 8; ++n) {
            const std::uint16_t avail_before = q.next_avail();
            const auto r = pop();
            ++counts[static_cast<int>(r.status)];
            // What each outcome promises the device.
            const bool no_buffers = r.chain.readable.empty() && r.chain.writable.empty();
            switch (r.status) {
                case PopStatus::kEmpty:
                    ASSERT_TRUE(no_buffers);
                    ASSERT_EQ(q.next_avail(), avail_before) << "nothing taken";
                    break;
                case PopStatus::kChain:
                    ASSERT_TRUE(r.error.empty()) << r.error;
                    ASSERT_LT(r.chain.head, kSize);
                    ASSERT_TRUE(q.head_in_flight(r.chain.head));
                    ASSERT_EQ(q.next_avail(), static_cast<std::uint16_t>(avail_before + 1));
                    break;
                case PopStatus::kBadChain:
                    ASSERT_TRUE(no_buffers) << "a bad chain hands out no buffer";
                    ASSERT_FALSE(r.error.empty());
                    ASSERT_EQ(q.next_avail(), static_cast<std::uint16_t>(avail_before + 1));
                    break;
                case PopStatus::kBroken:
                    ASSERT_TRUE(no_buffers);
                    ASSERT_FALSE(r.error.empty());
                    ASSERT_TRUE(q.broken());
                    break;
            }
            std::uint64_t bytes = 0;
            for (const auto* list : {&r.chain.readable, &r.chain.writable}) {
                for (const Buffer& b : *list) {
                    ASSERT_TRUE(inside(mem, b));
                    ASSERT_GE(b.host.data(), all->data());
                    bytes += b.host.size();
                }
            }
            ASSERT_LE(bytes, Queue::kMaxChainBytes);
            if (r.status == PopStatus::kChain || r.status == PopStatus::kBadChain) {
                ASSERT_TRUE(q.push(mem, r.chain.head, static_cast<std::uint32_t>(bytes)));
                q.needs_interrupt(mem);
            } else {
                break;
            }
        }
        if (rng() % 3 == 0) {
            q.enable_notifications(mem);
        } else if (rng() % 3 == 0) {
            q.disable_notifications(mem);
        }
    }
    // The garbage exercised every outcome.
    EXPECT_GT(counts[static_cast<int>(PopStatus::kEmpty)], 0);
    EXPECT_GT(counts[static_cast<int>(PopStatus::kChain)], 0);
    EXPECT_GT(counts[static_cast<int>(PopStatus::kBadChain)], 0);
    EXPECT_GT(counts[static_cast<int>(PopStatus::kBroken)], 0);
}

}  // namespace
}  // namespace devices::virtio
