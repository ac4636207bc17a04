#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "devices/boot_progress_port.h"
#include "guest/boot_progress.h"
#include "x86/layout.h"

namespace devices {
namespace {

using Clock = std::chrono::steady_clock;

static_assert(boot_progress::kPort == layout::kBootProgress);

TEST(DevicesBootProgress, ReportsEachCodeWithItsTime) {
    std::vector<std::uint8_t> codes;
    std::vector<Clock::time_point> times;
    BootProgressPort port([&](std::uint8_t code, Clock::time_point when) {
        codes.push_back(code);
        times.push_back(when);
    });
    const auto before = Clock::now();
    for (std::uint8_t code :
         {boot_progress::kInitStarted, boot_progress::kFilesystemsMounted, boot_progress::kReady}) {
        port.write(0, {&code, 1});
    }
    const auto after = Clock::now();
    EXPECT_EQ(codes, (std::vector<std::uint8_t>{0x01, 0x02, 0x10}));
    ASSERT_EQ(times.size(), 3u);
    EXPECT_LE(before, times.front());
    EXPECT_LE(times.front(), times.back());
    EXPECT_LE(times.back(), after);
    EXPECT_EQ(port.counters().codes, 3u);
}

TEST(DevicesBootProgress, UnknownCodesAreReportedToo) {
    std::vector<std::uint8_t> codes;
    BootProgressPort port([&](std::uint8_t code, Clock::time_point) { codes.push_back(code); });
    std::uint8_t code = 0x77;
    port.write(0, {&code, 1});
    EXPECT_EQ(codes, std::vector<std::uint8_t>{0x77});
}

TEST(DevicesBootProgress, WideWritesAreIgnoredAndReadsGiveE9) {
    std::vector<std::uint8_t> codes;
    BootProgressPort port([&](std::uint8_t code, Clock::time_point) { codes.push_back(code); });
    std::uint8_t word[2] = {0x10, 0x00};
    port.write(0, word);
    EXPECT_TRUE(codes.empty());
    std::uint8_t b = 0;
    port.read(0, {&b, 1});
    EXPECT_EQ(b, BootProgressPort::kReadBack);
    EXPECT_EQ(port.counters().bad_accesses, 1u);
}

}  // namespace
}  // namespace devices
