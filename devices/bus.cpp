#include "devices/bus.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <limits>
#include <utility>

#include "base/error.h"
#include "base/hex.h"

namespace devices {

namespace {

// Unmapped accesses logged one by one; after that only the 2^k-th is.
constexpr std::uint64_t kUnmappedLogLimit = 8;

}  // namespace

Bus::Bus(std::string name) : name_(std::move(name)) {}

void Bus::add(std::uint64_t base, std::uint64_t len, std::shared_ptr<BusDevice> device) {
    const std::string where = name_ + " range at " + base::hex(base) + " length " + base::hex(len);
    if (device == nullptr) {
        throw base::InvalidInput(where + ": no device");
    }
    if (len == 0) {
        throw base::InvalidInput(where + ": zero length");
    }
    if (len - 1 > std::numeric_limits<std::uint64_t>::max() - base) {
        throw base::InvalidInput(where + ": past the end of the address space");
    }
    const std::uint64_t last = base + (len - 1);
    auto next = std::upper_bound(entries_.begin(), entries_.end(), base,
                                 [](std::uint64_t b, const Entry& e) { return b < e.base; });
    if (next != entries_.end() && next->base <= last) {
        throw base::InvalidInput(where + ": overlaps the range at " + base::hex(next->base));
    }
    if (next != entries_.begin() && std::prev(next)->last >= base) {
        throw base::InvalidInput(where + ": overlaps the range at " +
                                 base::hex(std::prev(next)->base));
    }
    if (std::find(added_order_.begin(), added_order_.end(), device) == added_order_.end()) {
        added_order_.push_back(device);
    }
    entries_.insert(next, Entry{base, last, std::move(device)});
}

const Bus::Entry* Bus::find(std::uint64_t addr, std::size_t len) const {
    if (len == 0 || len - 1 > std::numeric_limits<std::uint64_t>::max() - addr) {
        return nullptr;
    }
    // The last range starting at or below addr is the only candidate.
    auto next = std::upper_bound(entries_.begin(), entries_.end(), addr,
                                 [](std::uint64_t a, const Entry& e) { return a < e.base; });
    if (next == entries_.begin()) {
        return nullptr;
    }
    const Entry& e = *std::prev(next);
    if (addr > e.last || addr + (len - 1) > e.last) {
        return nullptr;
    }
    return &e;
}

void Bus::note_unmapped(const char* kind, std::uint64_t addr, std::size_t len) const {
    const std::uint64_t n = unmapped_.fetch_add(1, std::memory_order_relaxed) + 1;
    // The first few, then only the 2^k-th: a guest probing in a loop costs
    // a handful of lines, and a later, different address still shows up.
    if (n > kUnmappedLogLimit && (n & (n - 1)) != 0) {
        return;
    }
    std::fprintf(stderr,
                 "vmm: %s: unmapped %s of %zu byte(s) at 0x%" PRIx64 " (%" PRIu64 " so far)\n",
                 name_.c_str(), kind, len, addr, n);
}

bool Bus::read(std::uint64_t addr, std::span<std::uint8_t> data) const {
    const Entry* e = find(addr, data.size());
    if (e == nullptr) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
        note_unmapped("read", addr, data.size());
        return false;
    }
    e->device->read(addr - e->base, data);
    return true;
}

bool Bus::write(std::uint64_t addr, std::span<const std::uint8_t> data) const {
    const Entry* e = find(addr, data.size());
    if (e == nullptr) {
        note_unmapped("write", addr, data.size());
        return false;
    }
    e->device->write(addr - e->base, data);
    return true;
}

void Bus::reset_all() {
    for (const auto& device : added_order_) {
        device->reset();
    }
}

}  // namespace devices
