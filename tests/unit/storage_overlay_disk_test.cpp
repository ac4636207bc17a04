#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "storage/overlay_disk.h"
#include "storage_test_files.h"

namespace storage {
namespace {

using test_files::await;
using test_files::drain;
using test_files::random_bytes;
using test_files::read_file;
using test_files::TempDir;
using test_files::write_file;

constexpr std::uint64_t kCluster = OverlayDisk::kClusterSize;
constexpr std::size_t kSize = 256 * kCluster + 1536;  // the last cluster is short

class OverlayDiskTest : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = dir_.file("base.img");
        base_ = random_bytes(kSize, 11);
        write_file(path_, base_);
        DiskOptions o;
        o.path = path_;
        o.ephemeral = true;
        o.overlay_dir = overlay_dir_.path();
        disk_ = open_disk(ring_, o);
        ASSERT_NE(dynamic_cast<OverlayDisk*>(disk_.get()), nullptr);
    }
    void TearDown() override {
        disk_.reset();
        EXPECT_EQ(read_file(path_), base_) << "the base image changed";
        EXPECT_EQ(overlay_dir_.entries(), 0u);
    }

    int write(std::uint64_t offset, const std::vector<std::uint8_t>& data) {
        const iovec iov{const_cast<std::uint8_t*>(data.data()), data.size()};
        return await(ring_, [&](auto done) { disk_->write(offset, std::span(&iov, 1), done); });
    }
    std::vector<std::uint8_t> read(std::uint64_t offset, std::size_t len, int expect = 0) {
        std::vector<std::uint8_t> buf(len, 0xee);
        const iovec iov{buf.data(), buf.size()};
        EXPECT_EQ(await(ring_, [&](auto done) { disk_->read(offset, std::span(&iov, 1), done); }),
                  expect);
        return buf;
    }
    std::vector<std::uint8_t> base(std::uint64_t offset, std::size_t len) const {
        return {base_.begin() + static_cast<std::ptrdiff_t>(offset),
                base_.begin() + static_cast<std::ptrdiff_t>(offset + len)};
    }

    TempDir dir_;
    TempDir overlay_dir_;
    std::string path_;
    std::vector<std::uint8_t> base_;
    base::IoRing ring_;
    std::unique_ptr<Disk> disk_;
};

TEST_F(OverlayDiskTest, ReadsTheBaseUntilWritten) {
    EXPECT_EQ(disk_->size(), kSize);
    EXPECT_FALSE(disk_->read_only());
    EXPECT_EQ(read(0, kSize), base_);
}

TEST_F(OverlayDiskTest, ReadsSeeWritesAndTheBaseStaysUnchanged) {
    auto data = random_bytes(3 * kCluster, 12);
    EXPECT_EQ(write(2 * kCluster, data), 0);
    EXPECT_EQ(read(2 * kCluster, data.size()), data);
    // A read spanning base, overlay, base.
    auto expected = base(kCluster, 5 * kCluster);
    std::copy(data.begin(), data.end(), expected.begin() + kCluster);
    EXPECT_EQ(read(kCluster, 5 * kCluster), expected);
    EXPECT_EQ(read_file(path_), base_);
    EXPECT_GE(disk_->allocated_bytes(), 3 * kCluster);
}

TEST_F(OverlayDiskTest, PartialClusterWritesKeepTheRestOfTheCluster) {
    auto data = random_bytes(1024, 13);
    EXPECT_EQ(write(10 * kCluster + 1536, data), 0);  // inside one cluster
    auto expected = base(10 * kCluster, kCluster);
    std::copy(data.begin(), data.end(), expected.begin() + 1536);
    EXPECT_EQ(read(10 * kCluster, kCluster), expected);

    // A write straddling two clusters, partial at both ends.
    auto more = random_bytes(kCluster, 14);
    EXPECT_EQ(write(20 * kCluster + 2048, more), 0);
    auto expected2 = base(20 * kCluster, 2 * kCluster);
    std::copy(more.begin(), more.end(), expected2.begin() + 2048);
    EXPECT_EQ(read(20 * kCluster, 2 * kCluster), expected2);

    // A second partial write to a cluster already in the overlay.
    auto again = random_bytes(512, 15);
    EXPECT_EQ(write(10 * kCluster, again), 0);
    std::copy(again.begin(), again.end(), expected.begin());
    EXPECT_EQ(read(10 * kCluster, kCluster), expected);
}

TEST_F(OverlayDiskTest, ConcurrentPartialWritesToOneClusterBothSurvive) {
    // Twice: once on a base cluster, once on a discarded (zero) one.
    for (const std::uint64_t c : {30ull, 31ull}) {
        if (c == 31) {
            EXPECT_EQ(
                await(ring_, [&](auto done) { disk_->discard(c * kCluster, kCluster, done); }), 0);
        }
        auto lo = random_bytes(2048, 16 + c);
        auto hi = random_bytes(1024, 17 + c);
        const iovec a{lo.data(), lo.size()};
        const iovec b{hi.data(), hi.size()};
        int completed = 0;
        disk_->write(c * kCluster, std::span(&a, 1), [&](int r) {
            EXPECT_EQ(r, 0);
            ++completed;
        });
        disk_->write(c * kCluster + 3072, std::span(&b, 1), [&](int r) {
            EXPECT_EQ(r, 0);
            ++completed;
        });
        drain(ring_);
        EXPECT_EQ(completed, 2);
        auto expected =
            c == 31 ? std::vector<std::uint8_t>(kCluster, 0) : base(c * kCluster, kCluster);
        std::copy(lo.begin(), lo.end(), expected.begin());
        std::copy(hi.begin(), hi.end(), expected.begin() + 3072);
        EXPECT_EQ(read(c * kCluster, kCluster), expected) << "cluster " << c;
    }
}

TEST_F(OverlayDiskTest, ManyQueuedWritesToOneClusterAllSurvive) {
    // Eight 512-byte writes, all to one cluster, all in flight at once.
    std::vector<std::vector<std::uint8_t>> parts;
    for (int i = 0; i < 8; ++i) {
        parts.push_back(random_bytes(512, 40 + i));
    }
    int completed = 0;
    for (int i = 7; i >= 0; --i) {
        const iovec iov{parts[i].data(), 512};
        disk_->write(40 * kCluster + i * 512, std::span(&iov, 1), [&](int r) {
            EXPECT_EQ(r, 0);
            ++completed;
        });
    }
    drain(ring_);
    EXPECT_EQ(completed, 8);
    auto back = read(40 * kCluster, kCluster);
    for (int i = 0; i < 8; ++i) {
        EXPECT_TRUE(std::equal(parts[i].begin(), parts[i].end(), back.begin() + i * 512)) << i;
    }
}

TEST_F(OverlayDiskTest, DiscardAndWriteZeroesReadBackZeros) {
    auto data = random_bytes(8 * kCluster, 18);
    EXPECT_EQ(write(50 * kCluster, data), 0);
    const std::uint64_t before = disk_->allocated_bytes();
    // Whole clusters of the overlay, and a partial range over the base.
    EXPECT_EQ(await(ring_, [&](auto done) { disk_->discard(50 * kCluster, 4 * kCluster, done); }),
              0);
    EXPECT_LT(disk_->allocated_bytes(), before);
    EXPECT_EQ(
        await(ring_,
              [&](auto done) { disk_->write_zeroes(70 * kCluster + 512, 5000, false, done); }),
        0);
    EXPECT_EQ(read(50 * kCluster, 4 * kCluster), std::vector<std::uint8_t>(4 * kCluster, 0));
    auto rest = read(54 * kCluster, 4 * kCluster);
    EXPECT_TRUE(std::equal(rest.begin(), rest.end(), data.begin() + 4 * kCluster));
    auto around = read(70 * kCluster, 2 * kCluster);
    auto expected = base(70 * kCluster, 2 * kCluster);
    std::fill(expected.begin() + 512, expected.begin() + 512 + 5000, 0);
    EXPECT_EQ(around, expected);
    // Writing into a discarded cluster reads zeros around the new bytes.
    auto small = random_bytes(512, 19);
    EXPECT_EQ(write(51 * kCluster + 1024, small), 0);
    std::vector<std::uint8_t> zeros_and_small(kCluster, 0);
    std::copy(small.begin(), small.end(), zeros_and_small.begin() + 1024);
    EXPECT_EQ(read(51 * kCluster, kCluster), zeros_and_small);
}

TEST_F(OverlayDiskTest, TheShortLastCluster) {
    const std::uint64_t last = kSize / kCluster * kCluster;  // 1536 bytes long
    auto data = random_bytes(512, 20);
    EXPECT_EQ(write(kSize - 512, data), 0);
    auto expected = base(last, kSize - last);
    std::copy(data.begin(), data.end(), expected.end() - 512);
    EXPECT_EQ(read(last, kSize - last), expected);
    auto whole = random_bytes(kSize - last, 21);
    EXPECT_EQ(write(last, whole), 0);
    EXPECT_EQ(read(last, kSize - last), whole);
    EXPECT_EQ(await(ring_, [&](auto done) { disk_->discard(last, kSize - last, done); }), 0);
    EXPECT_EQ(read(last, kSize - last), std::vector<std::uint8_t>(kSize - last, 0));
}

TEST_F(OverlayDiskTest, OutOfRangeIsInvalid) {
    std::vector<std::uint8_t> data(1024, 1);
    EXPECT_EQ(write(kSize - 512, data), -EINVAL);
    read(kSize - 512, 1024, -EINVAL);
    EXPECT_EQ(await(ring_, [&](auto done) { disk_->discard(kSize, 512, done); }), -EINVAL);
    EXPECT_EQ(await(ring_, [&](auto done) { disk_->write_zeroes(0, kSize + 512, true, done); }),
              -EINVAL);
    EXPECT_EQ(read(kSize - 512, 512), base(kSize - 512, 512));
}

TEST_F(OverlayDiskTest, FlushCompletesAtOnce) {
    auto data = random_bytes(kCluster, 22);
    EXPECT_EQ(write(0, data), 0);
    EXPECT_EQ(await(ring_, [&](auto done) { disk_->flush(done); }), 0);
}

// Our open descriptors whose file lies in `dir`.
int fds_in(const std::string& dir) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
        std::error_code ec;
        const auto target = std::filesystem::read_symlink(e.path(), ec);
        n += !ec && target.string().rfind(dir + "/", 0) == 0;
    }
    return n;
}

TEST_F(OverlayDiskTest, TheOverlayHasNoNameAndDiesWithTheDisk) {
    auto data = random_bytes(16 * kCluster, 23);
    EXPECT_EQ(write(0, data), 0);
    EXPECT_EQ(overlay_dir_.entries(), 0u);  // never had a name
    EXPECT_EQ(fds_in(overlay_dir_.path()), 1);
    disk_.reset();
    EXPECT_EQ(fds_in(overlay_dir_.path()), 0);
    // A new ephemeral disk on the same base sees the base, not the old writes.
    DiskOptions o;
    o.path = path_;
    o.ephemeral = true;
    o.overlay_dir = overlay_dir_.path();
    disk_ = open_disk(ring_, o);
    auto& other = disk_;
    std::vector<std::uint8_t> buf(16 * kCluster);
    const iovec iov{buf.data(), buf.size()};
    EXPECT_EQ(await(ring_, [&](auto done) { other->read(0, std::span(&iov, 1), done); }), 0);
    EXPECT_EQ(buf, base(0, buf.size()));
}

TEST_F(OverlayDiskTest, CancelEndsWritesWaitingForAClusterWithoutStartingThem) {
    // The second write to a cluster waits for the first (not in the ring
    // yet: nothing runs before ring_.run()); a device reset cancels them.
    const auto first = random_bytes(kCluster, 20), second = random_bytes(kCluster, 21);
    const iovec a{const_cast<std::uint8_t*>(first.data()), first.size()};
    const iovec b{const_cast<std::uint8_t*>(second.data()), second.size()};
    std::optional<int> first_result, second_result;
    disk_->write(4 * kCluster, std::span(&a, 1), [&](int r) { first_result = r; });
    disk_->write(4 * kCluster, std::span(&b, 1), [&](int r) { second_result = r; });
    disk_->cancel();
    drain(ring_);
    ASSERT_TRUE(first_result && second_result);
    EXPECT_EQ(second_result, -ECANCELED) << "the waiting write never started";
    // The first was in the ring: cancelled before it ran, or it ran.
    EXPECT_TRUE(*first_result == 0 || *first_result == -ECANCELED) << *first_result;
    EXPECT_EQ(read(4 * kCluster, kCluster),
              *first_result == 0 ? first : base(4 * kCluster, kCluster))
        << "the cancelled write left no trace";
    // Requests made afterwards are served as usual.
    EXPECT_EQ(write(4 * kCluster, second), 0);
    EXPECT_EQ(read(4 * kCluster, kCluster), second);
}

TEST_F(OverlayDiskTest, DestroyedWithRequestsInFlight) {
    auto data = random_bytes(kCluster * 4, 24);
    int completed = 0;
    for (int i = 0; i < 4; ++i) {
        const iovec iov{data.data() + i * kCluster, 1000};  // partial: needs a fill
        disk_->write(static_cast<std::uint64_t>(i) * kCluster + 512, std::span(&iov, 1),
                     [&](int r) {
                         EXPECT_EQ(r, 0);
                         ++completed;
                     });
    }
    disk_.reset();
    drain(ring_);
    EXPECT_EQ(completed, 4);
}

TEST(OverlayDiskMemory, AScatteredFewWritesOnAHugeDiskCostLittle) {
    TempDir dir;
    const std::string path = dir.file("big.img");
    write_file(path, {});
    constexpr std::uint64_t kBig = 64ull << 30;  // sparse: costs no space
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(kBig)), 0);
    base::IoRing ring;
    DiskOptions o;
    o.path = path;
    o.ephemeral = true;
    o.overlay_dir = dir.path();
    auto owned = open_disk(ring, o);
    auto* disk = dynamic_cast<OverlayDisk*>(owned.get());
    ASSERT_NE(disk, nullptr);
    EXPECT_LT(disk->map_bytes(), 64u << 10);
    // The guest's mkfs discards everything, then writes here and there.
    EXPECT_EQ(await(ring, [&](auto done) { disk->discard(0, kBig, done); }), 0);
    std::vector<std::uint8_t> block(kCluster, 0x42);
    const iovec iov{block.data(), block.size()};
    for (int i = 0; i < 200; ++i) {
        disk->write(static_cast<std::uint64_t>(i) * (kBig / 200) / kCluster * kCluster,
                    std::span(&iov, 1), [](int r) { EXPECT_EQ(r, 0); });
    }
    drain(ring);
    EXPECT_LE(disk->map_bytes(), 2u << 20);
    std::vector<std::uint8_t> back(kCluster);
    const iovec biov{back.data(), back.size()};
    EXPECT_EQ(await(ring,
                    [&](auto done) {
                        disk->read(kBig / 200 / kCluster * kCluster, std::span(&biov, 1), done);
                    }),
              0);
    EXPECT_EQ(back, block);
}

}  // namespace
}  // namespace storage
