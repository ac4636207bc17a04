// Model test: thousands of random requests against a Disk, several in flight
// at once, each checked on completion against a plain byte vector. Requests in
// flight together never overlap by byte, but often share a cluster, which is
// what the overlay's fills and per-cluster serialization must get right.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "storage/disk.h"
#include "storage_test_files.h"

namespace storage {
namespace {

using test_files::random_bytes;
using test_files::read_file;
using test_files::TempDir;
using test_files::write_file;

constexpr std::uint64_t kSector = 512;
constexpr std::uint64_t kSize = 2 * 1024 * 1024 + 3 * kSector;  // last cluster short
constexpr int kRequests = 6000;
constexpr int kRound = 500;
constexpr std::size_t kMaxInFlight = 8;

struct Request {
    enum Kind { kRead, kWrite, kDiscard, kWriteZeroes } kind;
    std::uint64_t offset, len;
    std::vector<std::uint8_t> data;  // what is written, or where a read lands
    std::vector<iovec> iov;          // `data` in uneven pieces
};

class Model {
  public:
    Model(Disk& disk, base::IoRing& ring, std::vector<std::uint8_t> contents, std::uint32_t seed)
        : disk_(disk), ring_(ring), model_(std::move(contents)), rng_(seed) {}

    void run() {
        // In rounds; after each, with nothing in flight, the whole disk is compared.
        for (int round = 0; round < kRequests / kRound; ++round) {
            int issued = 0;
            while (issued < kRound || !in_flight_.empty()) {
                while (issued < kRound && in_flight_.size() < kMaxInFlight) {
                    if (!issue()) {
                        break;  // no free range this time: let something finish
                    }
                    ++issued;
                }
                ring_.run(std::chrono::milliseconds(1000));
                if (::testing::Test::HasFatalFailure()) {
                    return;
                }
            }
            check_everything();
        }
        EXPECT_EQ(completed_, kRequests);
    }

  private:
    std::uint64_t pick(std::uint64_t n) { return rng_() % n; }

    bool overlaps_in_flight(std::uint64_t offset, std::uint64_t len) const {
        for (const auto& r : in_flight_) {
            if (offset < r->offset + r->len && r->offset < offset + len) {
                return true;
            }
        }
        return false;
    }

    bool issue() {
        auto r = std::make_shared<Request>();
        const std::uint64_t sectors = kSize / kSector;
        // Mostly small requests, sometimes large ones spanning many clusters.
        const std::uint64_t max_len = pick(10) == 0 ? 128 : 12;
        std::uint64_t len = 1 + pick(max_len);
        std::uint64_t first = pick(sectors);
        len = std::min(len, sectors - first);
        r->offset = first * kSector;
        r->len = len * kSector;
        if (overlaps_in_flight(r->offset, r->len)) {
            return false;
        }
        const std::uint64_t k = pick(100);
        r->kind = k < 40   ? Request::kRead
                  : k < 80 ? Request::kWrite
                  : k < 90 ? Request::kDiscard
                           : Request::kWriteZeroes;
        if (r->kind == Request::kRead || r->kind == Request::kWrite) {
            r->data = r->kind == Request::kWrite
                          ? random_bytes(r->len, static_cast<std::uint32_t>(rng_()))
                          : std::vector<std::uint8_t>(r->len, 0xee);
            // Split into 1..4 pieces at arbitrary byte boundaries.
            std::vector<std::uint64_t> cuts{0, r->len};
            for (std::uint64_t i = pick(4); i > 0; --i) {
                cuts.push_back(pick(r->len));
            }
            std::sort(cuts.begin(), cuts.end());
            for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
                if (cuts[i + 1] > cuts[i]) {
                    r->iov.push_back({r->data.data() + cuts[i], cuts[i + 1] - cuts[i]});
                }
            }
        }
        in_flight_.push_back(r);
        auto done = [this, r](int result) { complete(r, result); };
        switch (r->kind) {
            case Request::kRead:
                disk_.read(r->offset, r->iov, done);
                break;
            case Request::kWrite:
                disk_.write(r->offset, r->iov, done);
                break;
            case Request::kDiscard:
                disk_.discard(r->offset, r->len, done);
                break;
            case Request::kWriteZeroes:
                disk_.write_zeroes(r->offset, r->len, pick(2) == 0, done);
                break;
        }
        return true;
    }

    void complete(const std::shared_ptr<Request>& r, int result) {
        ++completed_;
        in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), r));
        ASSERT_EQ(result, 0) << "kind " << r->kind << " at " << r->offset << " len " << r->len;
        auto at = model_.begin() + static_cast<std::ptrdiff_t>(r->offset);
        switch (r->kind) {
            case Request::kRead:
                ASSERT_TRUE(std::equal(r->data.begin(), r->data.end(), at))
                    << "read at " << r->offset << " len " << r->len << " after " << completed_;
                break;
            case Request::kWrite:
                std::copy(r->data.begin(), r->data.end(), at);
                break;
            case Request::kDiscard:  // both backends here read discarded ranges as zeros
            case Request::kWriteZeroes:
                std::fill_n(at, r->len, 0);
                break;
        }
    }

    void check_everything() {
        std::vector<std::uint8_t> all(kSize, 0xee);
        const iovec iov{all.data(), all.size()};
        ASSERT_EQ(
            test_files::await(ring_, [&](auto done) { disk_.read(0, std::span(&iov, 1), done); }),
            0);
        ASSERT_TRUE(all == model_) << "the whole disk differs from the model";
    }

    Disk& disk_;
    base::IoRing& ring_;
    std::vector<std::uint8_t> model_;
    std::mt19937_64 rng_;
    std::vector<std::shared_ptr<Request>> in_flight_;
    int completed_ = 0;
};

class DiskModelTest : public ::testing::TestWithParam<bool> {};

TEST_P(DiskModelTest, RandomRequestsMatchAByteModel) {
    const bool ephemeral = GetParam();
    TempDir dir;
    const std::string path = dir.file("disk.img");
    const auto base = random_bytes(kSize, 99);
    write_file(path, base);
    base::IoRing ring(32);
    DiskOptions o;
    o.path = path;
    o.ephemeral = ephemeral;
    o.overlay_dir = dir.path();
    {
        auto disk = open_disk(ring, o);
        Model model(*disk, ring, base, ephemeral ? 1234 : 4321);
        model.run();
    }
    if (ephemeral) {
        EXPECT_EQ(read_file(path), base) << "the base image changed";
        EXPECT_EQ(dir.entries(), 1u);  // just the image
    }
}

INSTANTIATE_TEST_SUITE_P(Backends, DiskModelTest, ::testing::Values(false, true),
                         [](const auto& p) { return p.param ? "Overlay" : "Raw"; });

}  // namespace
}  // namespace storage
