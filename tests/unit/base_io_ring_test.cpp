#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "base/fd.h"
#include "base/io_ring.h"
#include "storage_test_files.h"

namespace storage {
namespace {

using test_files::await;
using test_files::drain;
using test_files::TempDir;

class IoRingTest : public ::testing::Test {
  protected:
    void SetUp() override {
        file_.reset(::open(dir_.file("data").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
        ASSERT_TRUE(file_.valid());
        ASSERT_EQ(::ftruncate(file_.get(), 1 << 20), 0);
    }

    TempDir dir_;
    base::Fd file_;
};

TEST_F(IoRingTest, WriteThenReadvBack) {
    base::IoRing ring;
    const char text[] = "hello, io_uring";
    const auto bytes = std::as_bytes(std::span(text));
    std::span<const std::uint8_t> data(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                       bytes.size());
    EXPECT_EQ(await(ring, [&](auto done) { ring.write(file_.get(), data, 4096, done); }),
              static_cast<int>(sizeof text));

    char a[6] = {}, b[sizeof text - 6] = {};
    const std::array<iovec, 2> iov{{{a, sizeof a}, {b, sizeof b}}};
    EXPECT_EQ(await(ring, [&](auto done) { ring.readv(file_.get(), iov, 4096, done); }),
              static_cast<int>(sizeof text));
    EXPECT_EQ(std::memcmp(a, "hello,", 6), 0);
    EXPECT_STREQ(b, " io_uring");
    EXPECT_EQ(ring.in_flight(), 0u);
}

TEST_F(IoRingTest, WritevAndReadIntoSpan) {
    base::IoRing ring;
    char x[3] = {'a', 'b', 'c'}, y[2] = {'d', 'e'};
    const std::array<iovec, 2> iov{{{x, 3}, {y, 2}}};
    EXPECT_EQ(await(ring, [&](auto done) { ring.writev(file_.get(), iov, 10, done); }), 5);
    std::vector<std::uint8_t> back(5);
    EXPECT_EQ(await(ring, [&](auto done) { ring.read(file_.get(), back, 10, done); }), 5);
    EXPECT_EQ(std::string(back.begin(), back.end()), "abcde");
}

TEST_F(IoRingTest, IovecArrayIsCopiedAtSubmission) {
    base::IoRing ring;
    std::vector<std::uint8_t> data(512, 0x5a);
    auto iov = std::make_unique<std::vector<iovec>>(1, iovec{data.data(), data.size()});
    std::optional<int> result;
    ring.writev(file_.get(), *iov, 0, [&](int r) { result = r; });
    (*iov)[0] = iovec{nullptr, 12345};  // the ring must not look at this again
    iov.reset();
    test_files::run_until(ring, result);
    EXPECT_EQ(result, 512);
    std::uint8_t b = 0;
    ASSERT_EQ(::pread(file_.get(), &b, 1, 511), 1);
    EXPECT_EQ(b, 0x5a);
}

TEST_F(IoRingTest, FsyncAndFdatasyncSucceed) {
    base::IoRing ring;
    EXPECT_EQ(await(ring, [&](auto done) { ring.fsync(file_.get(), false, done); }), 0);
    EXPECT_EQ(await(ring, [&](auto done) { ring.fsync(file_.get(), true, done); }), 0);
}

TEST_F(IoRingTest, FallocatePunchesAHole) {
    base::IoRing ring;
    std::vector<std::uint8_t> data(256 << 10, 0xff);
    ASSERT_EQ(::pwrite(file_.get(), data.data(), data.size(), 0),
              static_cast<ssize_t>(data.size()));
    ASSERT_EQ(::fsync(file_.get()), 0);
    EXPECT_EQ(await(ring,
                    [&](auto done) {
                        ring.fallocate(file_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                                       data.size(), done);
                    }),
              0);
    std::uint8_t b = 1;
    ASSERT_EQ(::pread(file_.get(), &b, 1, 1000), 1);
    EXPECT_EQ(b, 0);
}

TEST_F(IoRingTest, ErrorsComeBackAsNegativeErrno) {
    base::IoRing ring;
    std::vector<std::uint8_t> buf(16);
    EXPECT_EQ(await(ring, [&](auto done) { ring.read(12345, buf, 0, done); }), -EBADF);
}

TEST_F(IoRingTest, PollOnEventfdCompletesWhenSignalled) {
    base::IoRing ring;
    base::Fd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    ASSERT_TRUE(efd.valid());
    std::optional<int> result;
    ring.poll(efd.get(), POLLIN, [&](int r) { result = r; });
    EXPECT_EQ(ring.run(std::chrono::milliseconds(0)), 0);
    EXPECT_EQ(ring.run(std::chrono::milliseconds(20)), 0);  // times out
    EXPECT_FALSE(result);
    EXPECT_EQ(ring.in_flight(), 1u);

    const std::uint64_t one = 1;
    ASSERT_EQ(::write(efd.get(), &one, sizeof one), 8);
    test_files::run_until(ring, result);
    ASSERT_TRUE(result);
    EXPECT_TRUE(*result & POLLIN);

    // A stream read (no offset) of the counter.
    std::array<std::uint8_t, 8> counter{};
    EXPECT_EQ(
        await(ring,
              [&](auto done) { ring.read(efd.get(), counter, base::IoRing::kStreamOffset, done); }),
        8);
    std::uint64_t value = 0;
    std::memcpy(&value, counter.data(), 8);
    EXPECT_EQ(value, 1u);
}

TEST_F(IoRingTest, RunWithNothingInFlightReturnsAtOnce) {
    base::IoRing ring;
    EXPECT_EQ(ring.run(std::nullopt), 0);
    EXPECT_EQ(ring.run(std::chrono::milliseconds(0)), 0);
}

TEST_F(IoRingTest, NopCompletesOnTheNextRunNotBefore) {
    base::IoRing ring;
    bool called = false;
    ring.nop([&](int r) {
        EXPECT_EQ(r, 0);
        called = true;
    });
    EXPECT_FALSE(called);
    EXPECT_EQ(ring.run(std::nullopt), 1);
    EXPECT_TRUE(called);
}

TEST_F(IoRingTest, ManyMoreOperationsThanEntries) {
    base::IoRing ring(8);
    constexpr int kOps = 2000;
    std::vector<std::uint32_t> values(kOps);
    int completed = 0;
    for (int i = 0; i < kOps; ++i) {
        values[i] = 0xabc00000u + static_cast<std::uint32_t>(i);
        std::span<const std::uint8_t> bytes(reinterpret_cast<const std::uint8_t*>(&values[i]), 4);
        ring.write(file_.get(), bytes, static_cast<std::uint64_t>(i) * 4, [&, i](int r) {
            EXPECT_EQ(r, 4) << i;
            ++completed;
        });
    }
    EXPECT_EQ(ring.in_flight(), static_cast<std::size_t>(kOps));
    drain(ring);
    EXPECT_EQ(completed, kOps);
    std::vector<std::uint32_t> back(kOps);
    ASSERT_EQ(::pread(file_.get(), back.data(), kOps * 4, 0), kOps * 4);
    EXPECT_EQ(back, values);
}

TEST_F(IoRingTest, ManyPollsInFlightAtOnce) {
    base::IoRing ring(4);
    std::vector<base::Fd> fds;
    int fired = 0;
    for (int i = 0; i < 64; ++i) {
        fds.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        ring.poll(fds.back().get(), POLLIN, [&](int r) {
            EXPECT_TRUE(r & POLLIN);
            ++fired;
        });
    }
    ring.run(std::chrono::milliseconds(0));
    EXPECT_EQ(fired, 0);
    const std::uint64_t one = 1;
    for (auto& fd : fds) {
        ASSERT_EQ(::write(fd.get(), &one, 8), 8);
    }
    drain(ring);
    EXPECT_EQ(fired, 64);
}

TEST_F(IoRingTest, CallbacksMaySubmitMoreOperations) {
    base::IoRing ring(4);
    int chain = 0;
    std::function<void(int)> next = [&](int r) {
        EXPECT_EQ(r, 0);
        if (++chain < 100) {
            ring.fsync(file_.get(), true, next);
        }
    };
    ring.nop(next);
    // Fan-out: each of 10 callbacks starts 10 more operations.
    int leaves = 0;
    for (int i = 0; i < 10; ++i) {
        ring.nop([&](int) {
            for (int j = 0; j < 10; ++j) {
                ring.nop([&](int) { ++leaves; });
            }
        });
    }
    drain(ring);
    EXPECT_EQ(chain, 100);
    EXPECT_EQ(leaves, 100);
}

TEST_F(IoRingTest, DestructorWaitsForOperationsInFlight) {
    base::Fd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    ASSERT_TRUE(efd.valid());
    auto buffers = std::make_shared<std::vector<std::uint8_t>>(64 << 10);
    int called = 0;
    const auto start = std::chrono::steady_clock::now();
    {
        base::IoRing ring(8);
        // Polls that would never complete on their own: the destructor cancels them.
        for (int i = 0; i < 20; ++i) {
            ring.poll(efd.get(), POLLIN, [&](int) { ++called; });
        }
        for (int i = 0; i < 40; ++i) {
            std::span<std::uint8_t> part(buffers->data() + i * 1024, 1024);
            ring.read(file_.get(), part, static_cast<std::uint64_t>(i) * 1024,
                      [&called, buffers](int) { ++called; });
        }
        ring.run(std::chrono::milliseconds(0));
        EXPECT_GT(ring.in_flight(), 0u);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    // Completions still pending were dropped, not called; their captures freed.
    EXPECT_LE(called, 40);
    EXPECT_EQ(buffers.use_count(), 1);
}

// A pipe nobody writes: a read of it waits in the kernel until cancelled.
struct Pipe {
    Pipe() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
        read_end.reset(fds[0]);
        write_end.reset(fds[1]);
    }
    int unread() const {
        int n = -1;
        EXPECT_EQ(::ioctl(read_end.get(), FIONREAD, &n), 0);
        return n;
    }
    base::Fd read_end, write_end;
};

TEST_F(IoRingTest, CancelFdEndsAReadWaitingInTheKernel) {
    base::IoRing ring;
    Pipe pipe;
    std::vector<std::uint8_t> buf(16, 0xAA);
    std::optional<int> result;
    ring.read(pipe.read_end.get(), buf, base::IoRing::kStreamOffset, [&](int r) { result = r; });
    ring.run(std::chrono::milliseconds(20));
    ASSERT_FALSE(result) << "an empty pipe: the read waits";

    ring.cancel_fd(pipe.read_end.get());
    test_files::run_until(ring, result);
    EXPECT_EQ(result, -ECANCELED);
    EXPECT_EQ(ring.in_flight(), 0u);
    // What arrives afterwards stays in the pipe: the buffer is the caller's again.
    ASSERT_EQ(::write(pipe.write_end.get(), "0123456789abcdef", 16), 16);
    ring.run(std::chrono::milliseconds(20));
    EXPECT_EQ(pipe.unread(), 16);
    EXPECT_EQ(buf, std::vector<std::uint8_t>(16, 0xAA));
}

TEST_F(IoRingTest, CancelFdCatchesOperationsNotSubmittedYet) {
    base::IoRing ring;
    Pipe pipe;
    std::vector<std::uint8_t> buf(16);
    std::optional<int> result;
    ring.read(pipe.read_end.get(), buf, base::IoRing::kStreamOffset, [&](int r) { result = r; });
    ring.cancel_fd(pipe.read_end.get());  // before any run(): still in the submission queue
    EXPECT_FALSE(result) << "completions run from run(), never inside the call";
    test_files::run_until(ring, result);
    EXPECT_EQ(result, -ECANCELED);
}

TEST_F(IoRingTest, CancelFdLeavesOtherDescriptorsAlone) {
    base::IoRing ring;
    Pipe a, b;
    std::vector<std::uint8_t> buf_a(4), buf_b(4);
    std::optional<int> result_a, result_b;
    ring.read(a.read_end.get(), buf_a, base::IoRing::kStreamOffset, [&](int r) { result_a = r; });
    ring.read(b.read_end.get(), buf_b, base::IoRing::kStreamOffset, [&](int r) { result_b = r; });
    ring.run(std::chrono::milliseconds(0));
    ring.cancel_fd(a.read_end.get());
    test_files::run_until(ring, result_a);
    EXPECT_EQ(result_a, -ECANCELED);
    EXPECT_FALSE(result_b);
    ASSERT_EQ(::write(b.write_end.get(), "wxyz", 4), 4);
    test_files::run_until(ring, result_b);
    EXPECT_EQ(result_b, 4);
    EXPECT_EQ(std::string(buf_b.begin(), buf_b.end()), "wxyz");
}

TEST_F(IoRingTest, CancelFdLetsAFinishedOperationKeepItsResult) {
    base::IoRing ring;
    std::vector<std::uint8_t> buf(4096);
    std::optional<int> result;
    ring.read(file_.get(), buf, 0, [&](int r) { result = r; });
    ring.run(std::chrono::milliseconds(0));
    ring.cancel_fd(file_.get());
    test_files::run_until(ring, result);
    // Either the cancel caught it or it had run: never both, never neither.
    EXPECT_TRUE(*result == 4096 || *result == -ECANCELED) << *result;
    EXPECT_EQ(ring.in_flight(), 0u);
}

TEST_F(IoRingTest, TimeoutCompletesWithZeroOnceItsTimeHasPassed) {
    base::IoRing ring;
    std::optional<int> result;
    const auto start = std::chrono::steady_clock::now();
    ring.timeout(std::chrono::milliseconds(30), [&](int r) { result = r; });
    ring.run(std::chrono::milliseconds(0));
    EXPECT_FALSE(result);
    test_files::run_until(ring, result);
    EXPECT_EQ(result, 0);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(30));
}

TEST(IoRing, FdIsTheRingsDescriptor) {
    base::IoRing ring;
    EXPECT_GE(ring.fd(), 0);
    struct stat st {};
    EXPECT_EQ(::fstat(ring.fd(), &st), 0);
}

}  // namespace
}  // namespace storage
