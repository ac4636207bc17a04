// Host-side microbenchmarks of the virtio device code: what the VMM itself
// spends per request, without KVM and without a guest. The driver side of the
// rings is written here, straight into GuestMemory, as a guest would.
//
//   BM_QueuePopPush*    Queue::pop() + Queue::push() of one 3-descriptor chain
//   BM_BlkParse         blk::parse_request() on a prepared chain
//   BM_BlkDevice*4K     MmioTransport + BlockDevice + RawDisk on a page-cached file:
//                       a batch of requests, notify(), IoRing::run() until all used
//   BM_Overlay*4K       the same through an ephemeral OverlayDisk
//
// items_per_second is requests per second; per_req is its inverse.
// Run: make microbench (or build/bin/virtio-bench --benchmark_filter=...).

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/guest_memory.h"
#include "base/io_ring.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/blk_request.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/queue.h"
#include "storage/disk.h"

namespace {

using devices::virtio::Buffer;
using devices::virtio::Chain;
using devices::virtio::Queue;

constexpr std::uint64_t kMemBytes = 64ull << 20;
constexpr std::uint16_t kQueueSize = 256;

// Guest-physical layout shared by every benchmark.
constexpr std::uint64_t kDesc = 0x10000;      // 16 * 256 bytes
constexpr std::uint64_t kAvail = 0x11000;     // 6 + 2 * 256 bytes
constexpr std::uint64_t kUsed = 0x12000;      // 6 + 8 * 256 bytes
constexpr std::uint64_t kIndirect = 0x13000;  // indirect tables
constexpr std::uint64_t kHeaders = 0x20000;   // 16 bytes per request slot
constexpr std::uint64_t kStatus = 0x21000;    // 1 byte per request slot
constexpr std::uint64_t kData = 0x100000;     // 4 KiB per request slot

constexpr std::uint32_t kBlock = 4096;
constexpr std::uint64_t kDiskBytes = 1ull << 30;  // sparse
// Requests cycle over the first kWindowBlocks blocks, written with a pattern
// beforehand so reads come from real page-cache pages, not holes.
constexpr std::uint64_t kWindowBlocks = 4096;  // 16 MiB

void ensure(bool ok, const char* what) {
    if (!ok) {
        throw std::runtime_error(what);
    }
}

std::uint8_t* host(base::GuestMemory& mem, std::uint64_t addr, std::uint64_t len) {
    auto s = mem.span(addr, len);
    ensure(s.has_value(), "guest address outside RAM");
    return s->data();
}

// items_per_second (requests), bytes_per_second when `bytes`, and per_req: the
// measured time (real time where the benchmark uses it) per request, in seconds
// (the console shows it with an SI prefix, e.g. "125.3ns").
void report(benchmark::State& state, std::int64_t requests, std::int64_t bytes) {
    state.SetItemsProcessed(requests);
    if (bytes > 0) {
        state.SetBytesProcessed(bytes);
    }
    state.counters["per_req"] = benchmark::Counter(
        static_cast<double>(requests), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// The driver's side of one split ring, through host pointers into guest RAM.
class RingWriter {
  public:
    struct Desc {
        std::uint64_t addr;
        std::uint32_t len;
        std::uint16_t flags;
        std::uint16_t next;
    };
    static_assert(sizeof(Desc) == 16);

    explicit RingWriter(base::GuestMemory& mem)
        : mem_(mem),
          desc_(host(mem, kDesc, 16ull * kQueueSize)),
          avail_(host(mem, kAvail, 6 + 2ull * kQueueSize)),
          used_(host(mem, kUsed, 6 + 8ull * kQueueSize)) {}

    void set_desc(std::uint16_t i, Desc d) { std::memcpy(desc_ + 16ull * i, &d, sizeof d); }
    void write_table(std::uint64_t addr, const std::vector<Desc>& descs) {
        std::uint8_t* t = host(mem_, addr, 16 * descs.size());
        std::memcpy(t, descs.data(), 16 * descs.size());
    }
    // Puts `head` in the next avail slot; publish() makes it visible.
    void add(std::uint16_t head) {
        std::memcpy(avail_ + 4 + 2ull * (avail_idx_ & (kQueueSize - 1)), &head, 2);
        ++avail_idx_;
    }
    void publish() {
        std::atomic_thread_fence(std::memory_order_release);
        __atomic_store_n(reinterpret_cast<std::uint16_t*>(avail_ + 2), avail_idx_,
                         __ATOMIC_RELAXED);
    }
    std::uint16_t avail_idx() const { return avail_idx_; }
    std::uint16_t used_idx() const {
        const std::uint16_t idx =
            __atomic_load_n(reinterpret_cast<const std::uint16_t*>(used_ + 2), __ATOMIC_ACQUIRE);
        return idx;
    }
    // (id, len) of used slot `i`.
    std::pair<std::uint32_t, std::uint32_t> used_elem(std::uint16_t i) const {
        std::uint32_t e[2];
        std::memcpy(e, used_ + 4 + 8ull * (i & (kQueueSize - 1)), 8);
        return {e[0], e[1]};
    }
    // VIRTIO_F_EVENT_IDX: interrupt me when the used idx passes `idx`.
    void set_used_event(std::uint16_t idx) {
        std::memcpy(avail_ + 4 + 2ull * kQueueSize, &idx, 2);
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }

  private:
    base::GuestMemory& mem_;
    std::uint8_t* desc_;
    std::uint8_t* avail_;
    std::uint8_t* used_;
    std::uint16_t avail_idx_ = 0;
};

// --- Queue ---------------------------------------------------------------

void queue_pop_push(benchmark::State& state, bool indirect) {
    base::GuestMemory mem(16ull << 20);
    Queue q(kQueueSize);
    q.set_size(kQueueSize);
    q.set_desc_addr(kDesc);
    q.set_avail_addr(kAvail);
    q.set_used_addr(kUsed);
    std::string why;
    if (!q.activate(mem, &why)) {
        state.SkipWithError(("activate: " + why).c_str());
        return;
    }
    RingWriter ring(mem);
    const std::vector<RingWriter::Desc> chain = {
        {kHeaders, 16, Queue::kDescNext, 1},
        {kData, kBlock, Queue::kDescWrite | Queue::kDescNext, 2},
        {kStatus, 1, Queue::kDescWrite, 0},
    };
    if (indirect) {
        ring.write_table(kIndirect, chain);
        ring.set_desc(0, {kIndirect, 48, Queue::kDescIndirect, 0});
    } else {
        for (std::uint16_t i = 0; i < 3; ++i) {
            ring.set_desc(i, chain[i]);
        }
    }
    // Check once that the chain comes out as laid out.
    ring.add(0);
    ring.publish();
    auto first = q.pop(mem);
    if (first.status != Queue::PopStatus::kChain || first.chain.readable.size() != 1 ||
        first.chain.writable.size() != 2 || first.chain.writable_bytes() != kBlock + 1 ||
        !q.push(mem, first.chain.head, kBlock + 1) || ring.used_idx() != 1) {
        state.SkipWithError("the chain did not round-trip");
        return;
    }
    for (auto _ : state) {
        ring.add(0);
        ring.publish();
        auto r = q.pop(mem);
        if (r.status != Queue::PopStatus::kChain) {
            state.SkipWithError("pop did not return the chain");
            break;
        }
        benchmark::DoNotOptimize(r.chain.writable.data());
        q.push(mem, r.chain.head, kBlock + 1);
    }
    if (!state.error_occurred() && ring.used_idx() != ring.avail_idx()) {
        state.SkipWithError("used idx does not match avail idx");
    }
    report(state, state.iterations(), 0);
}

void BM_QueuePopPush(benchmark::State& state) {
    queue_pop_push(state, false);
}
void BM_QueuePopPushIndirect(benchmark::State& state) {
    queue_pop_push(state, true);
}
BENCHMARK(BM_QueuePopPush);
BENCHMARK(BM_QueuePopPushIndirect);

// --- blk::parse_request --------------------------------------------------

void BM_BlkParse(benchmark::State& state, std::uint32_t type) {
    namespace blk = devices::virtio::blk;
    base::GuestMemory mem(16ull << 20);
    std::uint8_t header[16] = {};
    const std::uint64_t sector = 8 * 1000;
    std::memcpy(header, &type, 4);
    std::memcpy(header + 8, &sector, 8);
    ensure(mem.write(kHeaders, header), "header");
    Chain chain;
    chain.head = 0;
    const Buffer hdr{kHeaders, {host(mem, kHeaders, 16), 16}};
    const Buffer data{kData, {host(mem, kData, kBlock), kBlock}};
    const Buffer status{kStatus, {host(mem, kStatus, 1), 1}};
    chain.readable.push_back(hdr);
    if (type == blk::type::kOut) {
        chain.readable.push_back(data);
    } else {
        chain.writable.push_back(data);
    }
    chain.writable.push_back(status);
    blk::Limits limits;
    limits.capacity_bytes = kDiskBytes;
    limits.discard = true;
    limits.write_zeroes = true;

    const blk::Parsed check = blk::parse_request(chain, limits);
    const auto kind =
        type == blk::type::kOut ? blk::Request::Kind::kWrite : blk::Request::Kind::kRead;
    const std::uint32_t used = type == blk::type::kOut ? 1 : kBlock + 1;
    if (!check.request || check.request->kind != kind || check.request->offset != sector * 512 ||
        check.request->length != kBlock || check.used_length_on_success != used ||
        check.status != status.host.data()) {
        state.SkipWithError(("parse_request: " + check.error).c_str());
        return;
    }
    for (auto _ : state) {
        blk::Parsed p = blk::parse_request(chain, limits);
        benchmark::DoNotOptimize(p);
    }
    report(state, state.iterations(), 0);
}
BENCHMARK_CAPTURE(BM_BlkParse, read, devices::virtio::blk::type::kIn);
BENCHMARK_CAPTURE(BM_BlkParse, write, devices::virtio::blk::type::kOut);

// --- BlockDevice through its transport -------------------------------------

// Fills a 4 KiB block with bytes that depend on the block and on `seed`.
void fill_block(std::uint8_t* p, std::uint64_t block, std::uint8_t seed) {
    for (std::uint32_t i = 0; i < kBlock; i += 8) {
        const std::uint64_t v = (block * 0x9E3779B97F4A7C15ull) ^ (std::uint64_t{seed} << 56) ^ i;
        std::memcpy(p + i, &v, 8);
    }
}

// A temp file (1 GiB sparse, the first kWindowBlocks blocks written with
// seed 1), a BlockDevice on it behind an MmioTransport, initialised through
// the registers with every offered feature, and an IoRing to complete on.
class BlkRig {
  public:
    static constexpr std::uint8_t kBaseSeed = 1;

    explicit BlkRig(bool ephemeral) {
        char tmpl[] = "/tmp/virtio-bench-XXXXXX";
        const int fd = mkstemp(tmpl);
        ensure(fd >= 0, "mkstemp in /tmp");
        file_.path = tmpl;
        bool ok = ftruncate(fd, static_cast<off_t>(kDiskBytes)) == 0;
        std::vector<std::uint8_t> chunk(256 * kBlock);
        for (std::uint64_t b = 0; ok && b < kWindowBlocks; b += 256) {
            for (std::uint64_t i = 0; i < 256; ++i) {
                fill_block(chunk.data() + i * kBlock, b + i, kBaseSeed);
            }
            ok = pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(b * kBlock)) ==
                 static_cast<ssize_t>(chunk.size());
        }
        close(fd);
        ensure(ok, "writing the disk image");

        storage::DiskOptions options;
        options.path = file_.path;
        options.ephemeral = ephemeral;
        options.overlay_dir = "/tmp";
        blk_ = std::make_shared<devices::virtio::BlockDevice>(
            "virtio-bench", "bench", storage::open_disk(io_, options), mem_,
            [this](const std::string&, int) { ++errors_; });
        // The disk holds the file open: no name needs to outlive us.
        file_.remove();
        transport_ = std::make_unique<devices::virtio::MmioTransport>(blk_);
        ensure(initialise() == 0xF, "driver initialisation");
        ring_ = std::make_unique<RingWriter>(mem_);
    }
    ~BlkRig() = default;
    BlkRig(const BlkRig&) = delete;
    BlkRig& operator=(const BlkRig&) = delete;

    // Request slot s uses descriptors 3s..3s+2: header, 4 KiB data, status.
    void lay_out(std::uint32_t slots, bool write) {
        namespace blk = devices::virtio::blk;
        ensure(3 * slots <= kQueueSize, "too many slots for the queue");
        const std::uint16_t data_flags = write ? 0 : Queue::kDescWrite;
        for (std::uint16_t s = 0; s < slots; ++s) {
            const auto d = static_cast<std::uint16_t>(3 * s);
            ring_->set_desc(
                d, {kHeaders + 16ull * s, 16, Queue::kDescNext, static_cast<std::uint16_t>(d + 1)});
            ring_->set_desc(d + 1, {kData + kBlock * s, kBlock,
                                    static_cast<std::uint16_t>(data_flags | Queue::kDescNext),
                                    static_cast<std::uint16_t>(d + 2)});
            ring_->set_desc(d + 2, {kStatus + s, 1, Queue::kDescWrite, 0});
            const std::uint32_t type = write ? blk::type::kOut : blk::type::kIn;
            std::uint8_t header[16] = {};
            std::memcpy(header, &type, 4);
            ensure(mem_.write(kHeaders + 16ull * s, header), "header");
        }
        slots_ = slots;
        write_ = write;
        headers_ = host(mem_, kHeaders, 16ull * slots);
        status_ = host(mem_, kStatus, slots);
        data_ = host(mem_, kData, std::uint64_t{kBlock} * slots);
    }

    std::uint8_t* data(std::uint32_t slot) { return data_ + std::uint64_t{kBlock} * slot; }
    std::uint64_t block_of(std::uint32_t slot) const { return (cursor_ + slot) % kWindowBlocks; }

    // One batch: every slot at the next blocks of the window, one notify, then
    // completions until all are used. Empty on success, else what went wrong.
    const char* run_batch() {
        for (std::uint32_t s = 0; s < slots_; ++s) {
            const std::uint64_t sector = block_of(s) * (kBlock / 512);
            std::memcpy(headers_ + 16ull * s + 8, &sector, 8);
            status_[s] = 0xFF;
            ring_->add(static_cast<std::uint16_t>(3 * s));
        }
        ring_->publish();
        {
            std::lock_guard lock(blk_->lock());
            blk_->notify(0);
        }
        const std::uint16_t want = ring_->avail_idx();
        while (ring_->used_idx() != want) {
            if (io_.run(std::chrono::milliseconds(2000)) == 0 && ring_->used_idx() != want) {
                return "requests never completed";
            }
        }
        const std::uint32_t used_len = write_ ? 1 : kBlock + 1;
        for (std::uint32_t s = 0; s < slots_; ++s) {
            if (status_[s] != 0) {
                return "a request failed (status byte not OK)";
            }
            if (ring_->used_elem(static_cast<std::uint16_t>(want - 1 - s)).second != used_len) {
                return "wrong used length";
            }
        }
        // Re-enable interrupts the way a guest does after reaping.
        ring_->set_used_event(want);
        cursor_ = (cursor_ + slots_) % kWindowBlocks;
        return nullptr;
    }

    // Whether each slot's data holds the pattern of its block for `seed`.
    bool data_matches(std::uint8_t seed) {
        std::vector<std::uint8_t> want(kBlock);
        for (std::uint32_t s = 0; s < slots_; ++s) {
            fill_block(want.data(), block_of(s), seed);
            if (std::memcmp(data(s), want.data(), kBlock) != 0) {
                return false;
            }
        }
        return true;
    }
    void rewind(std::uint64_t cursor) { cursor_ = cursor; }
    std::uint64_t cursor() const { return cursor_; }
    unsigned errors() const { return errors_; }

  private:
    std::uint32_t reg(std::uint64_t offset) {
        std::uint32_t v = 0;
        transport_->read(offset, {reinterpret_cast<std::uint8_t*>(&v), 4});
        return v;
    }
    void set_reg(std::uint64_t offset, std::uint32_t v) {
        transport_->write(offset, {reinterpret_cast<const std::uint8_t*>(&v), 4});
    }
    // virtio 1.x, 3.1.1, accepting every offered feature (EVENT_IDX included).
    std::uint32_t initialise() {
        set_reg(0x70, 0);
        set_reg(0x70, 1);
        set_reg(0x70, 1 | 2);
        set_reg(0x14, 0);
        const std::uint32_t lo = reg(0x10);
        set_reg(0x14, 1);
        const std::uint32_t hi = reg(0x10);
        set_reg(0x24, 0);
        set_reg(0x20, lo);
        set_reg(0x24, 1);
        set_reg(0x20, hi);
        set_reg(0x70, 1 | 2 | 8);
        set_reg(0x30, 0);
        set_reg(0x38, kQueueSize);
        set_reg(0x80, static_cast<std::uint32_t>(kDesc));
        set_reg(0x84, 0);
        set_reg(0x90, static_cast<std::uint32_t>(kAvail));
        set_reg(0x94, 0);
        set_reg(0xA0, static_cast<std::uint32_t>(kUsed));
        set_reg(0xA4, 0);
        set_reg(0x44, 1);
        set_reg(0x70, 1 | 2 | 8 | 4);
        return reg(0x70);
    }

    // Unlinks the image when the rig is destroyed, or fails half-built.
    struct TempFile {
        std::string path;
        void remove() {
            if (!path.empty()) {
                unlink(path.c_str());
                path.clear();
            }
        }
        ~TempFile() { remove(); }
    };

    TempFile file_;
    base::GuestMemory mem_{kMemBytes};
    base::IoRing io_{256};
    std::shared_ptr<devices::virtio::BlockDevice> blk_;
    std::unique_ptr<devices::virtio::MmioTransport> transport_;
    std::unique_ptr<RingWriter> ring_;
    std::uint8_t* headers_ = nullptr;
    std::uint8_t* status_ = nullptr;
    std::uint8_t* data_ = nullptr;
    std::uint32_t slots_ = 0;
    bool write_ = false;
    std::uint64_t cursor_ = 0;
    unsigned errors_ = 0;
};

// Checks the path end to end before timing it: reads must return the base
// image; writes must read back (through the device) as written.
const char* verify(BlkRig& rig, std::uint32_t slots, bool write) {
    constexpr std::uint8_t kWriteSeed = 7;
    if (write) {
        rig.lay_out(slots, true);
        for (std::uint32_t s = 0; s < slots; ++s) {
            fill_block(rig.data(s), rig.block_of(s), kWriteSeed);
        }
        if (const char* e = rig.run_batch()) {
            return e;
        }
        rig.rewind(0);
    }
    rig.lay_out(slots, false);
    for (std::uint32_t s = 0; s < slots; ++s) {
        std::memset(rig.data(s), 0, kBlock);
    }
    if (const char* e = rig.run_batch()) {
        return e;
    }
    rig.rewind(0);
    if (!rig.data_matches(write ? kWriteSeed : BlkRig::kBaseSeed)) {
        return write ? "written data did not read back" : "read data differs from the image";
    }
    rig.lay_out(slots, write);
    return nullptr;
}

void blk_batch(benchmark::State& state, bool ephemeral, bool write) {
    const auto slots = static_cast<std::uint32_t>(state.range(0));
    std::unique_ptr<BlkRig> rig;
    try {
        rig = std::make_unique<BlkRig>(ephemeral);
    } catch (const std::exception& e) {
        state.SkipWithError(e.what());
        return;
    }
    if (const char* e = verify(*rig, slots, write)) {
        state.SkipWithError(e);
        return;
    }
    for (auto _ : state) {
        if (const char* e = rig->run_batch()) {
            state.SkipWithError(e);
            break;
        }
    }
    if (!state.error_occurred() && rig->errors() != 0) {
        state.SkipWithError("the backend reported errors");
    }
    const auto requests = static_cast<std::int64_t>(state.iterations()) * slots;
    report(state, requests, requests * kBlock);
}

void BM_BlkDeviceRead4K(benchmark::State& state) {
    blk_batch(state, false, false);
}
void BM_BlkDeviceWrite4K(benchmark::State& state) {
    blk_batch(state, false, true);
}
void BM_OverlayRead4K(benchmark::State& state) {
    blk_batch(state, true, false);
}
void BM_OverlayWrite4K(benchmark::State& state) {
    blk_batch(state, true, true);
}
BENCHMARK(BM_BlkDeviceRead4K)->ArgName("batch")->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_BlkDeviceWrite4K)->ArgName("batch")->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_OverlayRead4K)->ArgName("batch")->Arg(1)->Arg(32)->UseRealTime();
BENCHMARK(BM_OverlayWrite4K)->ArgName("batch")->Arg(1)->Arg(32)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
