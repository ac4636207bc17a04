// libFuzzer target: virtio-blk request parsing over arbitrary chains. The
// input is split into a layout (how many buffers, where, how long, which are
// device-writable) and guest memory content; every parsed request must point
// only into guest memory and stay within the disk.

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "base/guest_memory.h"
#include "devices/virtio/blk_request.h"

namespace {

constexpr std::uint64_t kMemoryBytes = 64 * 1024;

bool inside(const base::GuestMemory& mem, const void* p, std::size_t len) {
    const auto* base = mem.regions()[0].host;
    const auto* at = static_cast<const std::uint8_t*>(p);
    return at >= base && at + len <= base + kMemoryBytes && at + len >= at;
}

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static base::GuestMemory mem(kMemoryBytes);
    if (size < 4) {
        return 0;
    }
    using namespace devices::virtio;
    blk::Limits limits;
    limits.capacity_bytes = (std::uint64_t{data[0]} << 12) | (data[1] & 0xF) << 9;
    limits.read_only = data[1] & 0x10;
    limits.discard = data[1] & 0x20;
    limits.write_zeroes = data[1] & 0x40;
    const unsigned buffers = data[2] % 9;
    data += 3;
    size -= 3;

    Chain chain;
    auto host = *mem.span(0, kMemoryBytes);
    std::memset(host.data(), 0, host.size());
    for (unsigned i = 0; i < buffers && size >= 5; ++i) {
        const std::uint64_t addr = (std::uint64_t{data[0]} << 8 | data[1]) % kMemoryBytes;
        const std::uint64_t len = std::min<std::uint64_t>(
            std::uint64_t{data[2]} << 4 | (data[3] & 0xF), kMemoryBytes - addr);
        const bool writable = data[4] & 1;
        data += 5;
        size -= 5;
        Buffer b{addr, *mem.span(addr, len)};
        if (writable) {
            chain.writable.push_back(b);
        } else if (chain.writable.empty()) {
            chain.readable.push_back(b);
        }
    }
    std::memcpy(host.data(), data, std::min<std::size_t>(size, kMemoryBytes));

    const blk::Parsed parsed = blk::parse_request(chain, limits);
    if (parsed.status) {
        check(inside(mem, parsed.status, 1));
    }
    if (parsed.request) {
        const blk::Request& r = *parsed.request;
        std::uint64_t total = 0;
        for (const iovec& v : r.data) {
            check(inside(mem, v.iov_base, v.iov_len));
            total += v.iov_len;
        }
        check(total == r.length);
        if (r.kind == blk::Request::Kind::kRead || r.kind == blk::Request::Kind::kWrite) {
            check(r.offset + r.length <= limits.capacity_bytes);
            check(r.length % blk::kSectorSize == 0);
        }
        for (const blk::Range& range : r.ranges) {
            check(range.offset + range.length <= limits.capacity_bytes);
        }
    }
    return 0;
}
