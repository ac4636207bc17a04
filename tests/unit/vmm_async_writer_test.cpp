// AsyncWriter: output that never makes its producer wait for the reader.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "tests/unit/stalled_reader.h"
#include "vmm/async_writer.h"

namespace vmm {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

base::Fd open_for_writing(const std::string& path) {
    return base::Fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
}

TEST(VmmAsyncWriter, WritesEverythingInOrder) {
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    base::Fd reader(p[0]);
    std::string expected;
    {
        AsyncWriter writer(base::Fd(p[1]), 1 << 20, "test-writer", 1s);
        for (int i = 0; i < 1000; ++i) {
            const std::string line = "line " + std::to_string(i) + "\n";
            ASSERT_TRUE(writer.push(line));
            expected += line;
        }
        EXPECT_TRUE(writer.flush(5s));
        EXPECT_EQ(writer.counters().written_bytes, expected.size());
        EXPECT_EQ(writer.counters().dropped_bytes, 0u);
    }
    std::string got(expected.size() + 1, '\0');
    std::size_t n = 0;
    ssize_t r;
    while ((r = read(reader.get(), got.data() + n, got.size() - n)) > 0) {
        n += static_cast<std::size_t>(r);
    }
    got.resize(n);
    EXPECT_EQ(got, expected);
}

// The reader stops: pushes go on at memory speed, the excess is dropped
// and counted, and the writer's end does not wait for the reader.
TEST(VmmAsyncWriter, AStoppedReaderNeverHoldsUpAPusherOrTheEnd) {
    testing::StalledReader reader;
    ASSERT_TRUE(reader.ok());
    // More than the pipe's 64 KiB: some of it can never be written.
    auto writer = std::make_unique<AsyncWriter>(open_for_writing(reader.path()), 256 * 1024,
                                                "test-writer", 200ms);
    const std::string block(4096, 'x');
    const auto start = Clock::now();
    for (int i = 0; i < 2000; ++i) {  // 8 MiB
        writer->push(block);
    }
    EXPECT_LT(Clock::now() - start, 2s) << "a push waited for the reader";
    const auto c = writer->counters();
    EXPECT_GT(c.dropped_bytes, 7u << 20);
    EXPECT_GT(c.dropped_writes, 1000u);
    EXPECT_FALSE(writer->flush(50ms));
    const auto end = Clock::now();
    writer.reset();
    EXPECT_LT(Clock::now() - end, 200ms + 1500ms) << "the end waited for the reader";
}

// A queue held up by a stopped reader keeps room for what matters: pushes
// with a lower limit are refused first.
TEST(VmmAsyncWriter, ALowerLimitIsRefusedFirst) {
    testing::StalledReader reader;
    ASSERT_TRUE(reader.ok());
    AsyncWriter writer(open_for_writing(reader.path()), 256 * 1024, "test-writer", 100ms);
    // 100 KiB can never be written whole (the pipe holds 64 KiB), so the
    // queue holds 100 KiB from here on, whatever the thread is doing.
    ASSERT_TRUE(writer.push(std::string(100 * 1024, 'a')));
    EXPECT_FALSE(writer.push("guest line\n", 64 * 1024));
    EXPECT_TRUE(writer.push("lifecycle line\n", 256 * 1024));
    EXPECT_EQ(writer.counters().dropped_writes, 1u);
}

TEST(VmmAsyncWriter, AFullDiskCostsOutputNotThePusher) {
    AsyncWriter writer(open_for_writing("/dev/full"), 4096, "test-writer", 100ms);
    EXPECT_TRUE(writer.push("one\n"));
    writer.flush(2s);
    EXPECT_TRUE(writer.push("two\n"));
    writer.flush(2s);
    const auto c = writer.counters();
    EXPECT_EQ(c.write_errors, 2u);
    EXPECT_EQ(c.dropped_bytes, 8u);
    EXPECT_EQ(c.written_bytes, 0u);
}

}  // namespace
}  // namespace vmm
