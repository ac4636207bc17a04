#pragma once
// A virtio driver for unit tests: talks to an MmioTransport through its
// registers and lays out split rings in GuestMemory, as a guest's driver
// would, so devices are tested through the same path the guest uses.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/guest_memory.h"
#include "devices/virtio/mmio_transport.h"

namespace testing_support {

class VirtioTestDriver {
  public:
    static constexpr std::uint16_t kQueueSize = 16;
    static constexpr std::uint64_t kDataBase = 0x100000;

    VirtioTestDriver(devices::virtio::MmioTransport& t, base::GuestMemory& mem)
        : t_(t),
          mem_(mem),
          next_desc_(t.device().queues().size(), 0),
          avail_idx_(t.device().queues().size(), 0),
          used_seen_(t.device().queues().size(), 0) {}

    std::uint32_t reg(std::uint64_t offset) {
        std::uint32_t v = 0;
        t_.read(offset, {reinterpret_cast<std::uint8_t*>(&v), 4});
        return v;
    }
    void set_reg(std::uint64_t offset, std::uint32_t v) {
        t_.write(offset, {reinterpret_cast<const std::uint8_t*>(&v), 4});
    }
    std::uint64_t device_features() {
        set_reg(0x14, 0);
        std::uint64_t f = reg(0x10);
        set_reg(0x14, 1);
        return f | std::uint64_t{reg(0x10)} << 32;
    }
    void set_driver_features(std::uint64_t f) {
        set_reg(0x24, 0);
        set_reg(0x20, static_cast<std::uint32_t>(f));
        set_reg(0x24, 1);
        set_reg(0x20, static_cast<std::uint32_t>(f >> 32));
    }
    std::uint64_t desc_addr(unsigned q) const { return 0x10000 * (q + 1); }
    std::uint64_t avail_addr(unsigned q) const { return desc_addr(q) + 0x1000; }
    std::uint64_t used_addr(unsigned q) const { return desc_addr(q) + 0x2000; }

    void setup_queue(unsigned q, std::uint16_t size = kQueueSize) {
        set_reg(0x30, q);
        set_reg(0x38, size);
        set_reg(0x80, static_cast<std::uint32_t>(desc_addr(q)));
        set_reg(0x84, 0);
        set_reg(0x90, static_cast<std::uint32_t>(avail_addr(q)));
        set_reg(0x94, 0);
        set_reg(0xA0, static_cast<std::uint32_t>(used_addr(q)));
        set_reg(0xA4, 0);
        set_reg(0x44, 1);
    }
    // The whole initialisation sequence (virtio 1.x, 3.1.1), accepting
    // every offered feature unless `features` says otherwise. Returns the
    // final status.
    std::uint32_t initialise(std::uint64_t features = ~0ull) {
        set_reg(0x70, 0);
        set_reg(0x70, 1);
        set_reg(0x70, 1 | 2);
        set_driver_features(device_features() & features);
        set_reg(0x70, 1 | 2 | 8);
        if (!(reg(0x70) & 8)) {
            return reg(0x70);
        }
        for (unsigned q = 0; q < t_.device().queues().size(); ++q) {
            setup_queue(q);
        }
        set_reg(0x70, 1 | 2 | 8 | 4);
        return reg(0x70);
    }

    struct Seg {
        std::uint64_t addr;
        std::uint32_t len;
        bool writable;
    };
    std::uint16_t add_chain(unsigned q, const std::vector<Seg>& segs) {
        const std::uint16_t head = next_desc_[q];
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const std::uint16_t me = next_desc_[q];
            next_desc_[q] = static_cast<std::uint16_t>((me + 1) % kQueueSize);
            const bool last = i + 1 == segs.size();
            const std::uint16_t flags =
                static_cast<std::uint16_t>((segs[i].writable ? 2 : 0) | (last ? 0 : 1));
            std::uint8_t desc[16];
            std::memcpy(desc, &segs[i].addr, 8);
            std::memcpy(desc + 8, &segs[i].len, 4);
            std::memcpy(desc + 12, &flags, 2);
            std::memcpy(desc + 14, &next_desc_[q], 2);
            EXPECT_TRUE(mem_.write(desc_addr(q) + 16ull * me, desc));
        }
        EXPECT_TRUE(mem_.write_obj<std::uint16_t>(
            avail_addr(q) + 4 + 2ull * (avail_idx_[q] % kQueueSize), head));
        ++avail_idx_[q];
        EXPECT_TRUE(mem_.write_obj<std::uint16_t>(avail_addr(q) + 2, avail_idx_[q]));
        return head;
    }
    // A chain of `direct` descriptors followed by one naming an indirect
    // table at `table` that holds `indirect`.
    std::uint16_t add_indirect_chain(unsigned q, const std::vector<Seg>& direct,
                                     std::uint64_t table, const std::vector<Seg>& indirect) {
        for (std::size_t i = 0; i < indirect.size(); ++i) {
            const bool last = i + 1 == indirect.size();
            write_desc(table + 16 * i, indirect[i], last ? 0 : 1,
                       static_cast<std::uint16_t>(i + 1));
        }
        const std::uint16_t head = next_desc_[q];
        for (const Seg& seg : direct) {
            const std::uint16_t me = next_desc_[q];
            next_desc_[q] = static_cast<std::uint16_t>((me + 1) % kQueueSize);
            write_desc(desc_addr(q) + 16ull * me, seg, 1, next_desc_[q]);
        }
        const std::uint16_t me = next_desc_[q];
        next_desc_[q] = static_cast<std::uint16_t>((me + 1) % kQueueSize);
        write_desc(desc_addr(q) + 16ull * me,
                   {table, static_cast<std::uint32_t>(16 * indirect.size()), false}, 4, 0);
        publish(q, head);
        return head;
    }
    // Puts `head` in the next avail slot and publishes it.
    void publish(unsigned q, std::uint16_t head) {
        EXPECT_TRUE(mem_.write_obj<std::uint16_t>(
            avail_addr(q) + 4 + 2ull * (avail_idx_[q] % kQueueSize), head));
        ++avail_idx_[q];
        EXPECT_TRUE(mem_.write_obj<std::uint16_t>(avail_addr(q) + 2, avail_idx_[q]));
    }
    // Used elements the device added since the last call: (id, len).
    std::vector<std::pair<std::uint32_t, std::uint32_t>> take_used(unsigned q) {
        std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
        const std::uint16_t idx = *mem_.read_obj<std::uint16_t>(used_addr(q) + 2);
        while (used_seen_[q] != idx) {
            const std::uint64_t a = used_addr(q) + 4 + 8ull * (used_seen_[q] % kQueueSize);
            out.emplace_back(*mem_.read_obj<std::uint32_t>(a),
                             *mem_.read_obj<std::uint32_t>(a + 4));
            ++used_seen_[q];
        }
        return out;
    }

  private:
    void write_desc(std::uint64_t at, const Seg& seg, std::uint16_t flags, std::uint16_t next) {
        flags = static_cast<std::uint16_t>(flags | (seg.writable ? 2 : 0));
        std::uint8_t desc[16];
        std::memcpy(desc, &seg.addr, 8);
        std::memcpy(desc + 8, &seg.len, 4);
        std::memcpy(desc + 12, &flags, 2);
        std::memcpy(desc + 14, &next, 2);
        EXPECT_TRUE(mem_.write(at, desc));
    }

    devices::virtio::MmioTransport& t_;
    base::GuestMemory& mem_;
    std::vector<std::uint16_t> next_desc_;
    std::vector<std::uint16_t> avail_idx_;
    std::vector<std::uint16_t> used_seen_;
};

}  // namespace testing_support
