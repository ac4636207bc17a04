#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "base/error.h"
#include "devices/bus.h"

namespace devices {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Records every access; reads return the low byte of the offset.
class RecordingDevice : public BusDevice {
  public:
    void read(std::uint64_t offset, std::span<std::uint8_t> data) override {
        reads.push_back(offset);
        for (auto& b : data) {
            b = static_cast<std::uint8_t>(offset);
        }
    }
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override {
        writes.push_back(offset);
        last_size = data.size();
    }
    void reset() override { ++resets; }

    std::vector<std::uint64_t> reads;
    std::vector<std::uint64_t> writes;
    std::size_t last_size = 0;
    int resets = 0;
};

TEST(DevicesBus, RejectsZeroLengthOverflowAndNull) {
    Bus bus("test");
    auto dev = std::make_shared<RecordingDevice>();
    EXPECT_THROW(bus.add(0x10, 0, dev), base::InvalidInput);
    EXPECT_THROW(bus.add(kMax, 2, dev), base::InvalidInput);
    EXPECT_THROW(bus.add(2, kMax, dev), base::InvalidInput);
    EXPECT_THROW(bus.add(0x10, 1, nullptr), base::InvalidInput);
    // Ending exactly at 2^64 is fine.
    EXPECT_NO_THROW(bus.add(kMax - 0xF, 0x10, dev));
    EXPECT_NO_THROW(bus.add(0, 1, dev));
    EXPECT_EQ(bus.ranges(), 2u);
}

TEST(DevicesBus, RejectsOverlaps) {
    Bus bus("test");
    auto dev = std::make_shared<RecordingDevice>();
    bus.add(0x100, 0x10, dev);  // [0x100, 0x110)
    EXPECT_THROW(bus.add(0x100, 0x10, dev), base::InvalidInput);
    EXPECT_THROW(bus.add(0x10F, 1, dev), base::InvalidInput);
    EXPECT_THROW(bus.add(0xF0, 0x11, dev), base::InvalidInput);
    EXPECT_THROW(bus.add(0x0, 0x1000, dev), base::InvalidInput);
    EXPECT_THROW(bus.add(0x104, 2, dev), base::InvalidInput);
    // Touching ranges on either side are fine.
    EXPECT_NO_THROW(bus.add(0xF0, 0x10, dev));
    EXPECT_NO_THROW(bus.add(0x110, 0x10, dev));
    EXPECT_EQ(bus.ranges(), 3u);
}

TEST(DevicesBus, LooksUpAtRangeEdgesWithOffsets) {
    Bus bus("test");
    auto a = std::make_shared<RecordingDevice>();
    auto b = std::make_shared<RecordingDevice>();
    bus.add(0x3F8, 8, a);
    bus.add(0x400, 4, b);
    std::array<std::uint8_t, 1> byte{};

    EXPECT_TRUE(bus.read(0x3F8, byte));
    EXPECT_TRUE(bus.read(0x3FF, byte));
    EXPECT_EQ(byte[0], 7);
    EXPECT_TRUE(bus.read(0x400, byte));
    EXPECT_TRUE(bus.write(0x403, byte));
    EXPECT_FALSE(bus.read(0x3F7, byte));
    EXPECT_FALSE(bus.read(0x404, byte));
    EXPECT_EQ(a->reads, (std::vector<std::uint64_t>{0, 7}));
    EXPECT_EQ(b->reads, (std::vector<std::uint64_t>{0}));
    EXPECT_EQ(b->writes, (std::vector<std::uint64_t>{3}));
}

TEST(DevicesBus, RefusesAccessesStraddlingARangeEnd) {
    Bus bus("test");
    auto a = std::make_shared<RecordingDevice>();
    auto b = std::make_shared<RecordingDevice>();
    bus.add(0x1000, 4, a);
    bus.add(0x1004, 4, b);
    std::array<std::uint8_t, 4> word{};
    EXPECT_TRUE(bus.read(0x1000, word));
    EXPECT_FALSE(bus.read(0x1002, word));  // two bytes in a, two in b
    EXPECT_EQ(word, (std::array<std::uint8_t, 4>{0xFF, 0xFF, 0xFF, 0xFF}));
    EXPECT_FALSE(bus.write(0x1006, word));
    EXPECT_EQ(a->reads.size(), 1u);
    EXPECT_TRUE(b->writes.empty());
    EXPECT_EQ(bus.unmapped_accesses(), 2u);
}

TEST(DevicesBus, AccessWrappingTheAddressSpaceIsRefused) {
    Bus bus("test");
    auto a = std::make_shared<RecordingDevice>();
    bus.add(kMax - 3, 4, a);
    std::array<std::uint8_t, 4> word{};
    EXPECT_TRUE(bus.read(kMax - 3, word));
    EXPECT_FALSE(bus.read(kMax - 1, word));
    EXPECT_FALSE(bus.read(kMax, std::span<std::uint8_t>()));
}

TEST(DevicesBus, UnmappedReadsGiveFFAndAreCounted) {
    Bus bus("test");
    std::array<std::uint8_t, 2> data{0x12, 0x34};
    EXPECT_FALSE(bus.read(0x80, data));
    EXPECT_EQ(data, (std::array<std::uint8_t, 2>{0xFF, 0xFF}));
    EXPECT_FALSE(bus.write(0x80, data));
    EXPECT_EQ(bus.unmapped_accesses(), 2u);
    // Many more: all counted, only a few logged.
    for (int i = 0; i < 100; ++i) {
        bus.read(0x81, data);
    }
    EXPECT_EQ(bus.unmapped_accesses(), 102u);
}

TEST(DevicesBus, ResetAllResetsEachDeviceOnce) {
    Bus bus("test");
    auto a = std::make_shared<RecordingDevice>();
    auto b = std::make_shared<RecordingDevice>();
    bus.add(0x60, 1, a);
    bus.add(0x64, 1, a);
    bus.add(0x70, 2, b);
    bus.reset_all();
    EXPECT_EQ(a->resets, 1);
    EXPECT_EQ(b->resets, 1);
}

TEST(DevicesBus, ConcurrentUnmappedAccessesAreAllCounted) {
    Bus bus("test");
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&bus] {
            std::array<std::uint8_t, 1> byte{};
            for (int i = 0; i < 1000; ++i) {
                bus.read(0x10, byte);
            }
        });
    }
    threads.clear();
    EXPECT_EQ(bus.unmapped_accesses(), 4000u);
}

}  // namespace
}  // namespace devices
