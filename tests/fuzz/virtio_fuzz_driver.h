#pragma once
// A hostile virtio driver for the device fuzzers: it reads its moves from
// the fuzzer's input and makes them through the same MMIO registers and
// guest memory a guest uses. Guest RAM is two 64 KiB regions around a hole
// (as on x86, shrunk), and buffer addresses cluster around the edges of
// both, so chains straddle them.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "base/guest_memory.h"
#include "devices/virtio/mmio_transport.h"

namespace fuzzing {

// Aborts, naming the broken invariant, when `ok` is false.
#define FUZZ_CHECK(ok) ::fuzzing::check_at((ok), #ok, __FILE__, __LINE__)
inline void check_at(bool ok, const char* what, const char* file, int line) {
    if (!ok) {
        std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
        std::abort();
    }
}

// The fuzzer's bytes, read front to back; zeros once they run out.
class Input {
  public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    bool empty() const { return at_ >= size_; }
    std::uint8_t byte() { return at_ < size_ ? data_[at_++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | byte() << 8); }
    std::uint32_t u32() { return u16() | std::uint32_t{u16()} << 16; }
    std::uint64_t u64() { return u32() | std::uint64_t{u32()} << 32; }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t at_ = 0;
};

inline constexpr std::uint64_t kRegion = 64 * 1024;
inline constexpr std::uint64_t kHighStart = 1 << 20;  // the hole: [kRegion, kHighStart)

inline base::GuestMemory& guest_memory() {
    static base::GuestMemory mem(2 * kRegion, base::MemoryHole{kRegion, kHighStart});
    return mem;
}

inline void clear(base::GuestMemory& mem) {
    for (const auto& r : mem.regions()) {
        std::memset(r.host, 0, r.size);
    }
}

// The rings live below this (Driver::kRings on); buffers never do, so what
// the device publishes in them can be read back.
inline constexpr std::uint64_t kRingsEnd = 0x8000;

// A guest address for a buffer: mostly in the high region's data area,
// sometimes at the edges of the regions and the hole, sometimes anywhere
// but the rings.
inline std::uint64_t buffer_address(Input& in) {
    const std::uint8_t how = in.byte();
    const std::uint16_t offset = in.u16();
    const std::int64_t delta = static_cast<std::int16_t>(offset);
    switch (how % 8) {
        case 0:
            return kRegion + delta;
        case 1:
            return kHighStart + delta;
        case 2:
            return kHighStart + kRegion + delta;
        case 3:
            return (static_cast<std::uint64_t>(offset) << 20 | offset) + kRingsEnd;
        default:
            return kHighStart + (offset & (kRegion - 1));
    }
}

// Registers of virtio-mmio version 2.
namespace reg {
inline constexpr std::uint64_t kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014;
inline constexpr std::uint64_t kDriverFeatures = 0x020, kDriverFeaturesSel = 0x024;
inline constexpr std::uint64_t kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038;
inline constexpr std::uint64_t kQueueReady = 0x044, kQueueNotify = 0x050;
inline constexpr std::uint64_t kInterruptStatus = 0x060, kInterruptAck = 0x064;
inline constexpr std::uint64_t kStatus = 0x070;
inline constexpr std::uint64_t kQueueDesc = 0x080, kQueueDriver = 0x090, kQueueDevice = 0x0A0;
}  // namespace reg

class Driver {
  public:
    static constexpr std::uint64_t kRings = 0x1000;  // in the low region, 0x3000 per queue

    Driver(devices::virtio::MmioTransport& t, base::GuestMemory& mem)
        : t_(t), mem_(mem), queues_(t.device().queues().size()) {}

    std::uint32_t get(std::uint64_t offset) {
        std::uint32_t v = 0;
        t_.read(offset, {reinterpret_cast<std::uint8_t*>(&v), 4});
        return v;
    }
    void set(std::uint64_t offset, std::uint32_t v) {
        t_.write(offset, {reinterpret_cast<const std::uint8_t*>(&v), 4});
    }

    std::uint64_t desc(unsigned q) const { return kRings + 0x3000ull * q; }
    std::uint64_t avail(unsigned q) const { return desc(q) + 0x1000; }
    std::uint64_t used(unsigned q) const { return desc(q) + 0x2000; }
    std::uint16_t size(unsigned q) const { return queues_[q].size; }

    // The initialisation sequence with `features` (masked by what is
    // offered) and queues of `size` entries (a power of two, 1..256).
    // True when the device took it.
    bool initialise(std::uint64_t features, std::uint16_t size) {
        set(reg::kStatus, 0);
        for (Ring& r : queues_) {
            r = Ring{};
        }
        set(reg::kStatus, 1);
        set(reg::kStatus, 1 | 2);
        std::uint64_t offered = 0;
        for (std::uint32_t sel = 0; sel < 2; ++sel) {
            set(reg::kDeviceFeaturesSel, sel);
            offered |= std::uint64_t{get(reg::kDeviceFeatures)} << (32 * sel);
        }
        features = (features & offered) | (std::uint64_t{1} << 32);
        for (std::uint32_t sel = 0; sel < 2; ++sel) {
            set(reg::kDriverFeaturesSel, sel);
            set(reg::kDriverFeatures, static_cast<std::uint32_t>(features >> (32 * sel)));
        }
        set(reg::kStatus, 1 | 2 | 8);
        if ((get(reg::kStatus) & 8) == 0) {
            return false;
        }
        for (unsigned q = 0; q < queues_.size(); ++q) {
            set(reg::kQueueSel, q);
            set(reg::kQueueNum, size);
            set(reg::kQueueDesc, static_cast<std::uint32_t>(desc(q)));
            set(reg::kQueueDriver, static_cast<std::uint32_t>(avail(q)));
            set(reg::kQueueDevice, static_cast<std::uint32_t>(used(q)));
            set(reg::kQueueReady, 1);
            queues_[q].size = size;
        }
        set(reg::kStatus, 1 | 2 | 4 | 8);
        return get(reg::kStatus) == (1 | 2 | 4 | 8);
    }

    struct Seg {
        std::uint64_t addr;
        std::uint32_t len;
        bool writable;
    };
    // Lays `segs` out in the next descriptors of queue `q` (from `first`
    // when given, so a hostile driver may reuse descriptors) and publishes
    // the head. Returns the head.
    std::uint16_t add_chain(unsigned q, const std::vector<Seg>& segs) {
        Ring& r = queues_[q];
        const std::uint16_t mask = static_cast<std::uint16_t>(r.size - 1);
        const std::uint16_t head = r.next_desc & mask;
        for (std::size_t i = 0; i < segs.size(); ++i) {
            const std::uint16_t me = r.next_desc & mask;
            r.next_desc = static_cast<std::uint16_t>(r.next_desc + 1);
            const bool last = i + 1 == segs.size();
            write_desc(desc(q) + 16ull * me, segs[i].addr, segs[i].len,
                       static_cast<std::uint16_t>((segs[i].writable ? 2 : 0) | (last ? 0 : 1)),
                       r.next_desc & mask);
        }
        publish(q, head);
        return head;
    }
    void publish(unsigned q, std::uint16_t head) {
        Ring& r = queues_[q];
        mem_.write_obj<std::uint16_t>(avail(q) + 4 + 2ull * (r.avail_idx % r.size), head);
        ++r.avail_idx;
        mem_.write_obj<std::uint16_t>(avail(q) + 2, r.avail_idx);
    }
    void write_desc(std::uint64_t at, std::uint64_t addr, std::uint32_t len, std::uint16_t flags,
                    std::uint16_t next) {
        std::uint8_t d[16];
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
        mem_.write(at, d);
    }
    // Used elements since the last call: (id, len).
    std::vector<std::pair<std::uint32_t, std::uint32_t>> take_used(unsigned q) {
        std::vector<std::pair<std::uint32_t, std::uint32_t>> out;
        Ring& r = queues_[q];
        if (r.size == 0) {
            return out;
        }
        const std::uint16_t idx = mem_.read_obj<std::uint16_t>(used(q) + 2).value_or(0);
        while (r.used_seen != idx) {
            const std::uint64_t a = used(q) + 4 + 8ull * (r.used_seen % r.size);
            out.emplace_back(mem_.read_obj<std::uint32_t>(a).value_or(0),
                             mem_.read_obj<std::uint32_t>(a + 4).value_or(0));
            ++r.used_seen;
        }
        return out;
    }
    // After the device was reset behind the driver's back (or by it).
    void forget_rings() {
        for (Ring& r : queues_) {
            r = Ring{};
        }
    }

  private:
    struct Ring {
        std::uint16_t size = 0;
        std::uint16_t next_desc = 0;
        std::uint16_t avail_idx = 0;
        std::uint16_t used_seen = 0;
    };
    devices::virtio::MmioTransport& t_;
    base::GuestMemory& mem_;
    std::vector<Ring> queues_;
};

// Every ready queue of an active device has its rings inside guest RAM and
// never more heads in flight than its size.
inline void check_device(devices::virtio::VirtioDevice& d) {
    for (const auto& q : d.queues()) {
        FUZZ_CHECK(q.heads_in_flight() <= q.max_size());
        if (q.ready()) {
            FUZZ_CHECK(q.heads_in_flight() <= q.size());
            FUZZ_CHECK(d.memory().contains(q.desc_addr(), 16ull * q.size()));
            FUZZ_CHECK(d.memory().contains(q.avail_addr(), 6 + 2ull * q.size()));
            FUZZ_CHECK(d.memory().contains(q.used_addr(), 6 + 8ull * q.size()));
        }
    }
    if (d.active()) {
        FUZZ_CHECK((d.driver_features() & ~d.offered_features()) == 0);
        FUZZ_CHECK(d.negotiated(32));
    }
    FUZZ_CHECK((d.interrupt_status() & ~3u) == 0);
}

}  // namespace fuzzing
