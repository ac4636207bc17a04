// libFuzzer target: the ephemeral copy-on-write disk (storage/overlay_disk.h)
// against a plain file, differentially, both through one real base::IoRing.
// The overlay gets requests the way the virtio-blk device gives them, many
// in flight at once; the model (a RawDisk on a private copy of the base)
// gets the same requests one at a time, so that it is the sequential truth.
// A discard goes to the model as write-zeroes: the overlay promises zeros
// where a plain file may keep the old bytes.
//
// Input: a byte choosing the base (3 sizes: with a short last cluster, whole
// clusters, one sector), then operations:
//   op byte: bits 0-2 the kind (0 read, 1 write, 2 discard, 3 write-zeroes,
//            4 flush, 5 settle (wait for everything), 6 read, 7 write),
//            bit 3 sector-aligned offset and length, bit 4 may_unmap,
//            bits 5-6 how many iovecs the buffer is cut into (1-4),
//            bit 7 64 KiB more on an unaligned offset
//   u16 offset, u16 length, for a write a byte seeding its data, and a u16
//   for each cut between iovecs
//
// Invariants: each request completes exactly once, never from inside the
// call that started it, with the model's result; once every request is
// done, every byte a read returned equals the model's, except bytes that a
// write, discard or write-zeroes in flight at the same time covers (those
// may be old or new); the whole disk equals the model at the end; the base
// image never changes.

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.h"
#include "base/io_ring.h"
#include "storage/disk.h"
#include "storage/overlay_disk.h"
#include "storage/raw_disk.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using fuzz::check;

constexpr std::uint64_t kSector = 512;
constexpr std::uint64_t kCluster = storage::OverlayDisk::kClusterSize;
constexpr std::array<std::uint64_t, 3> kSizes = {16 * kCluster + 3 * kSector, 2 * kCluster,
                                                 kSector};
constexpr std::size_t kMaxInFlight = 16;
constexpr int kMaxOps = 256;
constexpr auto kWait = std::chrono::seconds(20);

// An unnamed file in /tmp holding `bytes`, reachable by a path through
// /proc/self/fd as long as the Fd lives: no name is left behind, even when
// the fuzzer dies.
struct TempFile {
    explicit TempFile(const std::vector<std::uint8_t>& bytes)
        : fd(::open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)) {
        check(fd.valid(), "cannot create a file in /tmp");
        check(
            ::pwrite(fd.get(), bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()),
            "cannot write a file in /tmp");
        path = "/proc/self/fd/" + std::to_string(fd.get());
    }
    std::vector<std::uint8_t> contents(std::size_t size) const {
        std::vector<std::uint8_t> out(size);
        check(::pread(fd.get(), out.data(), size, 0) == static_cast<ssize_t>(size),
              "cannot read a file in /tmp");
        return out;
    }
    base::Fd fd;
    std::string path;
};

std::vector<std::uint8_t> noise(std::uint64_t size) {
    std::vector<std::uint8_t> bytes(size);
    std::uint32_t x = 0x9E3779B9u ^ static_cast<std::uint32_t>(size);
    for (auto& b : bytes) {
        x = x * 1664525u + 1013904223u;
        b = static_cast<std::uint8_t>(x >> 24);
    }
    return bytes;
}

// A base image: its bytes and the file holding them.
struct Base {
    explicit Base(std::uint64_t size) : bytes(noise(size)), file(bytes) {}
    std::vector<std::uint8_t> bytes;
    TempFile file;
};

base::IoRing& ring() {
    static base::IoRing r(64);
    return r;
}

struct Request {
    enum Kind { kRead, kWrite, kDiscard, kWriteZeroes, kFlush } kind = kRead;
    std::uint64_t offset = 0, len = 0;
    std::vector<std::uint8_t> buffer;    // read into, or written from
    std::vector<iovec> iov;              // `buffer` cut into pieces
    std::vector<std::uint8_t> expected;  // reads: the model's bytes
    int expected_result = 0;
    std::optional<int> result;
    bool in_call = false;
};

class Run {
  public:
    Run(const Base& base, fuzz::Input& in)
        : base_(base),
          in_(in),
          size_(base.bytes.size()),
          model_file_(base.bytes),
          model_(storage::RawDisk::open(ring(), {.path = model_file_.path})),
          overlay_(storage::OverlayDisk::open(
              ring(), {.path = base.file.path, .ephemeral = true, .overlay_dir = "/tmp"})) {
        check(overlay_->size() == size_ && model_->size() == size_, "the disks' sizes differ");
    }

    void go() {
        for (int ops = 0; ops < kMaxOps && !in_.empty(); ++ops) {
            step();
        }
        settle();
        // The whole disk, in one read each.
        Request all;
        all.kind = Request::kRead;
        all.len = size_;
        all.buffer.resize(size_);
        all.iov = {{all.buffer.data(), size_}};
        all.expected = model_read(0, size_);
        submit_overlay(all);
        wait_for([&] { return all.result.has_value(); });
        check(*all.result == 0, "reading the whole overlay failed");
        check(all.buffer == all.expected, "the overlay differs from the model");
        check(base_.file.contents(size_) == base_.bytes, "the base image changed");
    }

  private:
    void step() {
        const std::uint8_t op = in_.u8();
        const unsigned kind = op & 7;
        if (kind == 5) {
            settle();
            return;
        }
        auto r = std::make_unique<Request>();
        static constexpr Request::Kind kKinds[] = {
            Request::kRead,  Request::kWrite, Request::kDiscard, Request::kWriteZeroes,
            Request::kFlush, Request::kRead,  Request::kRead,    Request::kWrite};
        r->kind = kKinds[kind];
        const std::uint16_t offset = in_.u16();
        const std::uint16_t len = in_.u16();
        if ((op & 0x08) != 0) {
            // Sectors, sometimes at or past the end; lengths up to 20 KiB.
            r->offset = offset % (size_ / kSector + 2) * kSector;
            r->len = len % 41 * kSector;
        } else {
            r->offset = (offset + ((op & 0x80) != 0 ? 0x10000u : 0u)) % (size_ + 600);
            r->len = len % 20000;
        }
        const bool may_unmap = (op & 0x10) != 0;
        if (r->kind == Request::kRead || r->kind == Request::kWrite) {
            r->buffer.resize(r->len);
            if (r->kind == Request::kWrite) {
                std::uint8_t x = in_.u8();
                for (auto& b : r->buffer) {
                    b = x;
                    x = static_cast<std::uint8_t>(x * 5 + 1);
                }
            }
            cut(*r, 1 + ((op >> 5) & 3));
        }

        // The model first, alone: the truth as of this request.
        if (r->kind == Request::kWrite || r->kind == Request::kDiscard ||
            r->kind == Request::kWriteZeroes) {
            mutated(*r);
        }
        r->expected_result = model_do(*r, may_unmap);

        submit_overlay(*r, may_unmap);
        in_flight_.push_back(std::move(r));
        if (in_flight_.size() >= kMaxInFlight) {
            settle();
        }
    }

    // `r.buffer` as 1 to 4 iovecs of uneven lengths, some maybe empty.
    void cut(Request& r, unsigned pieces) {
        std::uint64_t at = 0;
        for (unsigned i = 1; i < pieces; ++i) {
            const std::uint64_t n = r.len == 0 ? 0 : in_.u16() % (r.len - at + 1);
            r.iov.push_back({r.buffer.data() + at, n});
            at += n;
        }
        r.iov.push_back({r.buffer.data() + at, r.len - at});
    }

    void mutated(const Request& r) {
        if (storage::within(r.offset, r.len, size_) && r.len > 0) {
            mutations_.emplace_back(r.offset, r.offset + r.len);
        }
    }

    std::vector<std::uint8_t> model_read(std::uint64_t offset, std::uint64_t len) {
        std::vector<std::uint8_t> out(len);
        const iovec v{out.data(), len};
        std::optional<int> result;
        model_->read(offset, std::span(&v, 1), [&](int res) { result = res; });
        wait_for([&] { return result.has_value(); });
        check(*result == 0, "the model's read failed");
        return out;
    }

    int model_do(Request& r, bool may_unmap) {
        std::optional<int> result;
        auto done = [&](int res) { result = res; };
        switch (r.kind) {
            case Request::kRead: {
                r.expected.resize(r.len);
                const iovec v{r.expected.data(), r.len};
                model_->read(r.offset, std::span(&v, 1), done);
                break;
            }
            case Request::kWrite:
                model_->write(r.offset, r.iov, done);
                break;
            case Request::kDiscard:  // see the top: zeros, as the overlay promises
            case Request::kWriteZeroes:
                model_->write_zeroes(r.offset, r.len, may_unmap, done);
                break;
            case Request::kFlush:
                model_->flush(done);
                break;
        }
        wait_for([&] { return result.has_value(); });
        return *result;
    }

    void submit_overlay(Request& r, bool may_unmap = false) {
        Request* p = &r;
        auto done = [p](int res) {
            check(!p->in_call, "a completion ran inside the call that started it");
            check(!p->result.has_value(), "a request completed twice");
            p->result = res;
        };
        r.in_call = true;
        switch (r.kind) {
            case Request::kRead:
                overlay_->read(r.offset, r.iov, done);
                break;
            case Request::kWrite:
                overlay_->write(r.offset, r.iov, done);
                break;
            case Request::kDiscard:
                overlay_->discard(r.offset, r.len, done);
                break;
            case Request::kWriteZeroes:
                overlay_->write_zeroes(r.offset, r.len, may_unmap, done);
                break;
            case Request::kFlush:
                overlay_->flush(done);
                break;
        }
        r.in_call = false;
    }

    template <typename Pred>
    void wait_for(Pred done) {
        const auto deadline = std::chrono::steady_clock::now() + kWait;
        while (!done()) {
            check(std::chrono::steady_clock::now() < deadline, "a request never completed");
            ring().run(std::chrono::milliseconds(100));
        }
    }

    // Waits for every request in flight and checks it.
    void settle() {
        wait_for([&] {
            return std::all_of(in_flight_.begin(), in_flight_.end(),
                               [](const auto& r) { return r->result.has_value(); });
        });
        for (const auto& r : in_flight_) {
            check(*r->result == r->expected_result,
                  "the overlay's result differs from the model's");
            if (r->kind != Request::kRead || *r->result != 0) {
                continue;
            }
            for (std::uint64_t i = 0; i < r->len; ++i) {
                const std::uint64_t at = r->offset + i;
                if (r->buffer[i] != r->expected[i] && !raced(at)) {
                    fuzz::fail("a read returned other bytes than the model's");
                }
            }
        }
        if (fuzz::verbose()) {
            std::fprintf(stderr, "settled %zu requests:", in_flight_.size());
            for (const auto& r : in_flight_) {
                std::fprintf(stderr, " %c[%llu,+%llu]=%d", "RWDZF"[r->kind],
                             static_cast<unsigned long long>(r->offset),
                             static_cast<unsigned long long>(r->len), *r->result);
            }
            std::fprintf(stderr, "\n");
        }
        in_flight_.clear();
        mutations_.clear();
    }

    // Whether a mutation in flight beside the reads covers byte `at`.
    bool raced(std::uint64_t at) const {
        return std::any_of(mutations_.begin(), mutations_.end(),
                           [at](const auto& m) { return at >= m.first && at < m.second; });
    }

    const Base& base_;
    fuzz::Input& in_;
    std::uint64_t size_;
    TempFile model_file_;
    std::unique_ptr<storage::RawDisk> model_;
    std::unique_ptr<storage::OverlayDisk> overlay_;
    std::vector<std::unique_ptr<Request>> in_flight_;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> mutations_;  // [from, to) in flight
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::array<Base, kSizes.size()> bases = {Base(kSizes[0]), Base(kSizes[1]),
                                                          Base(kSizes[2])};
    fuzz::Input in(data, size);
    const Base& base = bases[in.u8() % bases.size()];
    Run(base, in).go();
    check(ring().in_flight() == 0, "operations left in the ring");
    return 0;
}
