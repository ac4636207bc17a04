#include <gtest/gtest.h>

#include <cstdint>

#include "devices/pvpanic.h"

namespace devices {
namespace {

class DevicesPvPanic : public ::testing::Test {
  protected:
    DevicesPvPanic() : dev([this] { ++panics; }, [this] { ++crash_loaded; }) {}
    void outb(std::uint8_t value) { dev.write(0, {&value, 1}); }

    int panics = 0;
    int crash_loaded = 0;
    PvPanic dev;
};

TEST_F(DevicesPvPanic, ReadReturnsSupportedEvents) {
    std::uint8_t b = 0;
    dev.read(0, {&b, 1});
    EXPECT_EQ(b, 0x03);
}

TEST_F(DevicesPvPanic, PanickedBitCallsPanic) {
    outb(PvPanic::kPanicked);
    EXPECT_EQ(panics, 1);
    EXPECT_EQ(crash_loaded, 0);
    EXPECT_EQ(dev.counters().panics, 1u);
}

TEST_F(DevicesPvPanic, CrashLoadedBitCallsCrashLoaded) {
    outb(PvPanic::kCrashLoaded);
    EXPECT_EQ(panics, 0);
    EXPECT_EQ(crash_loaded, 1);
}

TEST_F(DevicesPvPanic, OtherBitsAndBadAccessesDoNothing) {
    outb(0x04);
    outb(0x00);
    std::uint8_t word[2] = {1, 1};
    dev.write(0, word);
    dev.read(1, {word, 1});
    EXPECT_EQ(word[0], 0xFF);
    EXPECT_EQ(panics, 0);
    EXPECT_EQ(crash_loaded, 0);
    EXPECT_EQ(dev.counters().bad_accesses, 2u);
}

TEST(DevicesPvPanicEmpty, WorksWithoutCallbacks) {
    PvPanic dev({}, {});
    std::uint8_t b = 0x03;
    dev.write(0, {&b, 1});
    EXPECT_EQ(dev.counters().panics, 1u);
    EXPECT_EQ(dev.counters().crash_loaded, 1u);
}

}  // namespace
}  // namespace devices
