#pragma once
// Bus: address ranges mapped to devices, one Bus for port I/O and another
// for MMIO (the same class). A vCPU exit hands an address and a span to
// read() or write(); the bus finds the device whose range holds the whole
// access and calls it with the offset from the range's base.
//
// Threading: add() builds the map before any vCPU runs and is not safe
// against concurrent accesses. After that, read(), write() and the counters
// may be used from any number of threads at once: the map is not changed and
// each device locks itself.
//
// Unmapped accesses (no range, or an access straddling a range's end) are
// refused: reads fill 0xFF, writes are dropped, both return false, are
// counted, and logged to stderr with their address: the first few, then only
// the 16th, 32nd, 64th, ... (rate-limited by count, lock-free).

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace devices {

class BusDevice {
  public:
    virtual ~BusDevice() = default;
    // `offset` is from the base of the range the device was added at;
    // `data` is the access (1, 2, 4 or 8 bytes for port I/O and MMIO).
    // Called on vCPU threads, concurrently: a device locks itself. Never throws.
    virtual void read(std::uint64_t offset, std::span<std::uint8_t> data) = 0;
    virtual void write(std::uint64_t offset, std::span<const std::uint8_t> data) = 0;
    // Back to the power-on state (reboot). Called while no vCPU runs.
    virtual void reset() {}
};

class Bus {
  public:
    // `name` appears in log lines ("pio", "mmio").
    explicit Bus(std::string name = "bus");
    Bus(const Bus&) = delete;
    Bus& operator=(const Bus&) = delete;

    // Maps [base, base + len) to `device`. Throws base::InvalidInput for a
    // null device, a zero length, a range past the end of the address space
    // or one overlapping a range already added. One device may be added at
    // several ranges (each access then carries the offset within its range).
    void add(std::uint64_t base, std::uint64_t len, std::shared_ptr<BusDevice> device);

    // False when no range holds all of [addr, addr + data.size()) (or data
    // is empty): reads then fill `data` with 0xFF.
    bool read(std::uint64_t addr, std::span<std::uint8_t> data) const;
    bool write(std::uint64_t addr, std::span<const std::uint8_t> data) const;

    // reset() on every device once, in the order they were added.
    void reset_all();

    std::uint64_t unmapped_accesses() const { return unmapped_.load(std::memory_order_relaxed); }
    std::size_t ranges() const { return entries_.size(); }
    const std::string& name() const { return name_; }

  private:
    struct Entry {
        std::uint64_t base;
        std::uint64_t last;  // inclusive, so a range may end at 2^64
        std::shared_ptr<BusDevice> device;
    };

    // The entry holding all of [addr, addr + len), or nullptr.
    const Entry* find(std::uint64_t addr, std::size_t len) const;
    void note_unmapped(const char* kind, std::uint64_t addr, std::size_t len) const;

    std::string name_;
    std::vector<Entry> entries_;  // sorted by base, never overlapping
    std::vector<std::shared_ptr<BusDevice>> added_order_;
    mutable std::atomic<std::uint64_t> unmapped_{0};
};

}  // namespace devices
