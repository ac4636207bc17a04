#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "base/error.h"
#include "storage/raw_disk.h"
#include "storage_test_files.h"

namespace storage {
namespace {

using test_files::await;
using test_files::random_bytes;
using test_files::read_file;
using test_files::TempDir;
using test_files::write_file;

constexpr std::size_t kSize = 1 << 20;

class RawDiskTest : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = dir_.file("disk.img");
        original_ = random_bytes(kSize, 1);
        write_file(path_, original_);
    }

    std::unique_ptr<Disk> open(bool read_only = false) {
        DiskOptions o;
        o.path = path_;
        o.read_only = read_only;
        return open_disk(ring_, o);
    }

    int read(Disk& d, std::uint64_t offset, std::vector<std::uint8_t>& buf) {
        const iovec iov{buf.data(), buf.size()};
        return await(ring_, [&](auto done) { d.read(offset, std::span(&iov, 1), done); });
    }
    int write(Disk& d, std::uint64_t offset, std::vector<std::uint8_t>& buf) {
        const iovec iov{buf.data(), buf.size()};
        return await(ring_, [&](auto done) { d.write(offset, std::span(&iov, 1), done); });
    }
    std::uint64_t blocks() {
        struct stat st {};
        ::stat(path_.c_str(), &st);
        return static_cast<std::uint64_t>(st.st_blocks) * 512;
    }

    TempDir dir_;
    std::string path_;
    std::vector<std::uint8_t> original_;
    base::IoRing ring_;
};

TEST_F(RawDiskTest, SizeAndFlags) {
    auto d = open();
    EXPECT_EQ(d->size(), kSize);
    EXPECT_FALSE(d->read_only());
    EXPECT_GE(d->allocated_bytes(), kSize);
}

TEST_F(RawDiskTest, ReadsTheFileAcrossSeveralIovecs) {
    auto d = open();
    std::vector<std::uint8_t> a(1000), b(24), c(3072);
    const std::array<iovec, 3> iov{
        {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}}};
    EXPECT_EQ(await(ring_, [&](auto done) { d->read(8192, iov, done); }), 0);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), original_.begin() + 8192));
    EXPECT_TRUE(std::equal(b.begin(), b.end(), original_.begin() + 9192));
    EXPECT_TRUE(std::equal(c.begin(), c.end(), original_.begin() + 9216));
}

TEST_F(RawDiskTest, WritesLandInTheFile) {
    auto d = open();
    auto data = random_bytes(64 << 10, 2);
    EXPECT_EQ(write(*d, 512 * 3, data), 0);
    EXPECT_EQ(await(ring_, [&](auto done) { d->flush(done); }), 0);
    d.reset();
    auto expected = original_;
    std::copy(data.begin(), data.end(), expected.begin() + 512 * 3);
    EXPECT_EQ(read_file(path_), expected);
}

TEST_F(RawDiskTest, DiscardPunchesAHoleAndFreesSpace) {
    auto d = open();
    ASSERT_EQ(::truncate(path_.c_str(), 0), 0);  // start sparse, then fill 512 KiB
    ASSERT_EQ(::truncate(path_.c_str(), kSize), 0);
    auto data = random_bytes(512 << 10, 3);
    EXPECT_EQ(write(*d, 0, data), 0);
    EXPECT_EQ(await(ring_, [&](auto done) { d->flush(done); }), 0);
    const std::uint64_t before = blocks();
    EXPECT_GE(before, 512u << 10);
    EXPECT_EQ(await(ring_, [&](auto done) { d->discard(0, 512 << 10, done); }), 0);
    EXPECT_LT(blocks(), before);
    EXPECT_LT(d->allocated_bytes(), before);
    std::vector<std::uint8_t> back(512 << 10, 0xee);
    EXPECT_EQ(read(*d, 0, back), 0);
    EXPECT_EQ(back, std::vector<std::uint8_t>(512 << 10, 0));
}

TEST_F(RawDiskTest, WriteZeroesReadsBackZeros) {
    auto d = open();
    for (bool unmap : {false, true}) {
        const std::uint64_t offset = unmap ? 65536 : 4096;
        EXPECT_EQ(
            await(ring_, [&](auto done) { d->write_zeroes(offset, 8192 + 512, unmap, done); }), 0);
        std::vector<std::uint8_t> back(8192 + 1024, 0xee);
        EXPECT_EQ(read(*d, offset, back), 0);
        EXPECT_EQ(std::vector<std::uint8_t>(back.begin(), back.begin() + 8192 + 512),
                  std::vector<std::uint8_t>(8192 + 512, 0));
        // The sector after the range is untouched.
        EXPECT_TRUE(std::equal(back.begin() + 8192 + 512, back.end(),
                               original_.begin() + offset + 8192 + 512));
    }
}

// tmpfs has no FALLOC_FL_ZERO_RANGE: write_zeroes must fall back to writing zeros.
TEST(RawDiskFallback, WriteZeroesWithoutZeroRange) {
    struct statfs fs {};
    if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC) {
        GTEST_SKIP() << "no tmpfs at /dev/shm";
    }
    const std::string path = "/dev/shm/storage-test-" + std::to_string(::getpid()) + ".img";
    auto data = random_bytes(3 << 20, 5);
    write_file(path, data);
    {
        base::IoRing ring;
        DiskOptions o;
        o.path = path;
        auto d = open_disk(ring, o);
        // Twice: the second time the disk knows ZERO_RANGE is missing.
        for (std::uint64_t offset : {512ull, 1536ull << 10}) {
            const std::uint64_t len = (1 << 20) + 4096 + 512;  // more than one chunk of zeros
            EXPECT_EQ(await(ring, [&](auto done) { d->write_zeroes(offset, len, false, done); }),
                      0);
            std::fill_n(data.begin() + static_cast<std::ptrdiff_t>(offset), len, 0);
        }
    }
    EXPECT_EQ(read_file(path), data);
    ::unlink(path.c_str());
}

TEST_F(RawDiskTest, ReadOnlyDiskRefusesChanges) {
    auto d = open(true);
    EXPECT_TRUE(d->read_only());
    std::vector<std::uint8_t> buf(4096, 1);
    EXPECT_EQ(write(*d, 0, buf), -EROFS);
    EXPECT_EQ(await(ring_, [&](auto done) { d->discard(0, 4096, done); }), -EROFS);
    EXPECT_EQ(await(ring_, [&](auto done) { d->write_zeroes(0, 4096, true, done); }), -EROFS);
    EXPECT_EQ(await(ring_, [&](auto done) { d->flush(done); }), 0);
    EXPECT_EQ(read(*d, 0, buf), 0);
    EXPECT_TRUE(std::equal(buf.begin(), buf.end(), original_.begin()));
    d.reset();
    EXPECT_EQ(read_file(path_), original_);
}

TEST_F(RawDiskTest, RequestsPastTheEndAreInvalidAndTouchNothing) {
    auto d = open();
    std::vector<std::uint8_t> buf(1024, 7);
    EXPECT_EQ(read(*d, kSize - 512, buf), -EINVAL);
    EXPECT_EQ(write(*d, kSize - 512, buf), -EINVAL);
    EXPECT_EQ(write(*d, ~std::uint64_t{0} - 100, buf), -EINVAL);  // offset + len overflows
    EXPECT_EQ(await(ring_, [&](auto done) { d->discard(kSize, 512, done); }), -EINVAL);
    EXPECT_EQ(await(ring_, [&](auto done) { d->write_zeroes(kSize - 512, 1024, false, done); }),
              -EINVAL);
    EXPECT_EQ(await(ring_, [&](auto done) { d->discard(512, ~std::uint64_t{0}, done); }), -EINVAL);
    // The very last sector is fine.
    std::vector<std::uint8_t> last(512);
    EXPECT_EQ(read(*d, kSize - 512, last), 0);
    d.reset();
    EXPECT_EQ(read_file(path_), original_);
}

TEST_F(RawDiskTest, ReadOfAFileTruncatedBehindOurBackIsAnErrorNotAHang) {
    auto d = open();
    ASSERT_EQ(::truncate(path_.c_str(), kSize / 2), 0);
    std::vector<std::uint8_t> buf(8192);
    EXPECT_EQ(read(*d, kSize / 2 - 4096, buf), -EIO);  // half there, then end of file
}

TEST_F(RawDiskTest, ManyRequestsInFlight) {
    auto d = open();
    std::vector<std::vector<std::uint8_t>> bufs;
    for (int i = 0; i < 256; ++i) {
        bufs.push_back(random_bytes(4096, 100 + i));
    }
    int completed = 0;
    for (int i = 0; i < 256; ++i) {
        const iovec iov{bufs[i].data(), 4096};
        d->write(static_cast<std::uint64_t>(i) * 4096, std::span(&iov, 1), [&](int r) {
            EXPECT_EQ(r, 0);
            ++completed;
        });
    }
    test_files::drain(ring_);
    EXPECT_EQ(completed, 256);
    auto contents = read_file(path_);
    for (int i = 0; i < 256; ++i) {
        EXPECT_TRUE(std::equal(bufs[i].begin(), bufs[i].end(), contents.begin() + i * 4096)) << i;
    }
}

TEST_F(RawDiskTest, DirectIoRejectsUnalignedBuffers) {
    DiskOptions o;
    o.path = path_;
    o.direct = true;
    std::unique_ptr<Disk> d;
    try {
        d = open_disk(ring_, o);
    } catch (const base::InvalidInput& e) {
        GTEST_SKIP() << "no O_DIRECT on /tmp here: " << e.what();
    }
    void* raw = std::aligned_alloc(4096, 8192);
    std::unique_ptr<std::uint8_t, decltype(&std::free)> buf(static_cast<std::uint8_t*>(raw),
                                                            &std::free);
    const iovec aligned{buf.get(), 4096};
    EXPECT_EQ(await(ring_, [&](auto done) { d->read(4096, std::span(&aligned, 1), done); }), 0);
    EXPECT_TRUE(std::equal(buf.get(), buf.get() + 4096, original_.begin() + 4096));
    const iovec odd_address{buf.get() + 8, 512};
    EXPECT_EQ(await(ring_, [&](auto done) { d->read(0, std::span(&odd_address, 1), done); }),
              -EINVAL);
    const iovec odd_length{buf.get(), 100};
    EXPECT_EQ(await(ring_, [&](auto done) { d->write(0, std::span(&odd_length, 1), done); }),
              -EINVAL);
    EXPECT_EQ(await(ring_, [&](auto done) { d->read(100, std::span(&aligned, 1), done); }),
              -EINVAL);
}

TEST_F(RawDiskTest, SecondReadWriteOpenIsRefusedAsInUse) {
    auto first = open();
    try {
        open();
        FAIL() << "opened twice";
    } catch (const base::InvalidInput& e) {
        EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("in use by another VM"), std::string::npos);
    }
    EXPECT_THROW(open(true), base::InvalidInput);  // a writer excludes readers too
    first.reset();
    EXPECT_NO_THROW(open());  // the lock went with the file
}

TEST_F(RawDiskTest, ReadOnlyOpensShareTheImage) {
    auto a = open(true);
    auto b = open(true);
    EXPECT_THROW(open(false), base::InvalidInput);
}

TEST_F(RawDiskTest, DestroyedWithRequestsInFlight) {
    auto d = open();
    std::vector<std::uint8_t> buf(65536);
    int completed = 0;
    for (int i = 0; i < 8; ++i) {
        const iovec iov{buf.data() + i * 8192, 8192};
        d->read(static_cast<std::uint64_t>(i) * 8192, std::span(&iov, 1), [&](int r) {
            EXPECT_EQ(r, 0);
            ++completed;
        });
    }
    d.reset();  // the file stays open until the requests are done
    test_files::drain(ring_);
    EXPECT_EQ(completed, 8);
    EXPECT_TRUE(std::equal(buf.begin(), buf.end(), original_.begin()));
}

}  // namespace
}  // namespace storage
