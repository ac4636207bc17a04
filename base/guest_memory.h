#pragma once
// GuestMemory: the guest's RAM and the only road into it. Every access
// checks its start *and* length against the regions and fails (returns
// false / nullopt) instead of touching anything outside; spans are handed out
// only after that check. Guest-driven code must go through here.
//
// Layout: RAM from guest-physical 0 up to the machine's MMIO hole, the rest
// from the hole's end (x86: the hole is 3 GiB .. 4 GiB, x86/layout.h). The
// hole holds device windows, never RAM.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace base {

using GuestAddress = std::uint64_t;

// Guest-physical addresses [start, end) that hold no RAM; RAM that does not
// fit below `start` continues at `end`. The empty hole: one contiguous region.
struct MemoryHole {
    GuestAddress start = 0;
    GuestAddress end = 0;
};

class GuestMemory {
  public:
    struct Region {
        GuestAddress guest_start;
        std::uint64_t size;
        std::uint8_t* host;
        GuestAddress guest_end() const { return guest_start + size; }
    };

    // Maps `ram_bytes` of anonymous memory (MAP_NORESERVE: pages are taken
    // only when touched), starting on a 2 MiB boundary and advised for
    // transparent huge pages, so that the host (where THP is "always" or
    // "madvise") backs the guest with 2 MiB pages: one nested page fault per
    // 2 MiB the guest touches instead of per 4 KiB, and fewer TLB misses.
    // Inaccessible guard space surrounds it.
    // Throws InvalidInput for a zero or unaligned size or a hole that is not
    // page-aligned, HostError when mmap fails.
    explicit GuestMemory(std::uint64_t ram_bytes, MemoryHole hole = {});
    ~GuestMemory();
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    std::uint64_t ram_bytes() const { return ram_bytes_; }
    std::span<const Region> regions() const { return regions_; }
    // One past the highest guest-physical RAM address.
    GuestAddress end() const { return regions_.back().guest_end(); }

    // True when [addr, addr + len) lies inside one region (len 0 included).
    bool contains(GuestAddress addr, std::uint64_t len) const;

    // A view of [addr, addr + len), or nullopt when any byte is outside RAM.
    std::optional<std::span<std::uint8_t>> span(GuestAddress addr, std::uint64_t len);
    std::optional<std::span<const std::uint8_t>> span(GuestAddress addr, std::uint64_t len) const;

    bool read(GuestAddress addr, std::span<std::uint8_t> out) const;
    bool write(GuestAddress addr, std::span<const std::uint8_t> in);
    // Fills [addr, addr + len) with zeros; false when outside RAM.
    bool zero(GuestAddress addr, std::uint64_t len);

    template <typename T>
    std::optional<T> read_obj(GuestAddress addr) const {
        static_assert(std::is_trivially_copyable_v<T>);
        T value;
        if (!read(addr, {reinterpret_cast<std::uint8_t*>(&value), sizeof value})) {
            return std::nullopt;
        }
        return value;
    }

    template <typename T>
    bool write_obj(GuestAddress addr, const T& value) {
        static_assert(std::is_trivially_copyable_v<T>);
        return write(addr, {reinterpret_cast<const std::uint8_t*>(&value), sizeof value});
    }

    // Returns all RAM to zero (reboot): the pages go back to the host.
    void clear();

  private:
    const Region* find(GuestAddress addr, std::uint64_t len) const;

    std::uint64_t ram_bytes_;
    std::uint8_t* reserved_ = nullptr;  // RAM plus the guards around it
    std::uint64_t reserved_bytes_ = 0;
    std::uint8_t* mapping_ = nullptr;
    std::vector<Region> regions_;
};

}  // namespace base
