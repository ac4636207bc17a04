#include "base/guest_memory.h"

#include <sys/mman.h>

#include <cerrno>

#include "base/error.h"

namespace base {

namespace {
constexpr std::uint64_t kPageSize = 4096;
constexpr std::uint64_t kHugePageSize = 2 << 20;

// Guard space around guest RAM: at least one page below, the rest of the
// alignment above. Reserved without access (no memory, no commit charge),
// so a stray access past either end faults instead of landing in another
// mapping, and no other mapping (a thread stack, say) starts right at the
// 2 MiB-aligned edge of RAM, where the host's THP would give it huge pages.
constexpr std::uint64_t kGuardBelow = kPageSize;
}  // namespace

GuestMemory::GuestMemory(std::uint64_t ram_bytes, MemoryHole hole) : ram_bytes_(ram_bytes) {
    if (ram_bytes == 0 || ram_bytes % kPageSize != 0) {
        throw InvalidInput("guest memory size " + std::to_string(ram_bytes) +
                           " bytes is not a positive multiple of 4 KiB");
    }
    const bool has_hole = hole.end != 0;
    if (has_hole && (hole.start >= hole.end || hole.start % kPageSize != 0 ||
                     hole.end % kPageSize != 0 || hole.start == 0)) {
        throw InvalidInput("guest memory hole [" + std::to_string(hole.start) + ", " +
                           std::to_string(hole.end) + ") is not a page-aligned range above 0");
    }
    // One mapping, 2 MiB-aligned inside a reservation with guards (above);
    // the part above the hole is guest-physical 4 GiB upwards.
    reserved_bytes_ = ram_bytes + kGuardBelow + kHugePageSize;
    void* r = mmap(nullptr, reserved_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (r == MAP_FAILED) {
        throw_errno("mmap of " + std::to_string(ram_bytes >> 20) + " MiB guest memory");
    }
    reserved_ = static_cast<std::uint8_t*>(r);
    const auto low_edge = reinterpret_cast<std::uintptr_t>(reserved_) + kGuardBelow;
    const std::uintptr_t aligned = (low_edge + kHugePageSize - 1) & ~(kHugePageSize - 1);
    void* p = mmap(reinterpret_cast<void*>(aligned), ram_bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) {
        const int e = errno;
        munmap(reserved_, reserved_bytes_);
        errno = e;
        throw_errno("mmap of " + std::to_string(ram_bytes >> 20) + " MiB guest memory");
    }
    mapping_ = static_cast<std::uint8_t*>(p);
    madvise(p, ram_bytes, MADV_DONTDUMP);
    // Advice only: without THP in the host kernel the guest gets 4 KiB pages.
    madvise(p, ram_bytes, MADV_HUGEPAGE);
    const std::uint64_t low = has_hole && ram_bytes > hole.start ? hole.start : ram_bytes;
    regions_.push_back({0, low, mapping_});
    if (ram_bytes > low) {
        regions_.push_back({hole.end, ram_bytes - low, mapping_ + low});
    }
}

GuestMemory::~GuestMemory() {
    if (reserved_ != nullptr) {
        munmap(reserved_, reserved_bytes_);
    }
}

const GuestMemory::Region* GuestMemory::find(GuestAddress addr, std::uint64_t len) const {
    for (const Region& r : regions_) {
        // Written so that no sum can overflow: addr may be any 64-bit value.
        if (addr >= r.guest_start && addr - r.guest_start <= r.size &&
            len <= r.size - (addr - r.guest_start)) {
            return &r;
        }
    }
    return nullptr;
}

bool GuestMemory::contains(GuestAddress addr, std::uint64_t len) const {
    return find(addr, len) != nullptr;
}

std::optional<std::span<std::uint8_t>> GuestMemory::span(GuestAddress addr, std::uint64_t len) {
    const Region* r = find(addr, len);
    if (r == nullptr) {
        return std::nullopt;
    }
    return std::span<std::uint8_t>(r->host + (addr - r->guest_start), len);
}

std::optional<std::span<const std::uint8_t>> GuestMemory::span(GuestAddress addr,
                                                               std::uint64_t len) const {
    const Region* r = find(addr, len);
    if (r == nullptr) {
        return std::nullopt;
    }
    return std::span<const std::uint8_t>(r->host + (addr - r->guest_start), len);
}

bool GuestMemory::read(GuestAddress addr, std::span<std::uint8_t> out) const {
    auto s = span(addr, out.size());
    if (!s) {
        return false;
    }
    if (!out.empty()) {
        std::memcpy(out.data(), s->data(), out.size());
    }
    return true;
}

bool GuestMemory::write(GuestAddress addr, std::span<const std::uint8_t> in) {
    auto s = span(addr, in.size());
    if (!s) {
        return false;
    }
    if (!in.empty()) {
        std::memcpy(s->data(), in.data(), in.size());
    }
    return true;
}

bool GuestMemory::zero(GuestAddress addr, std::uint64_t len) {
    auto s = span(addr, len);
    if (!s) {
        return false;
    }
    if (len != 0) {
        std::memset(s->data(), 0, len);
    }
    return true;
}

void GuestMemory::clear() {
    // MADV_DONTNEED on private anonymous memory gives zero pages back.
    if (madvise(mapping_, ram_bytes_, MADV_DONTNEED) != 0) {
        std::memset(mapping_, 0, ram_bytes_);
    }
}

}  // namespace base
