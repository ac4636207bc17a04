#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>

#include "devices/rtc.h"

namespace devices {
namespace {

using namespace std::chrono;
using namespace std::chrono_literals;

class DevicesRtc : public ::testing::Test {
  protected:
    // Thursday 2024-02-29 13:45:07 UTC.
    DevicesRtc()
        : host(std::make_shared<system_clock::time_point>(sys_days{2024y / February / 29} + 13h +
                                                          45min + 7s)),
          rtc([h = host] { return *h; }) {}

    std::uint8_t get(std::uint8_t index) {
        std::uint8_t b = index;
        rtc.write(Rtc::kIndexOffset, {&b, 1});
        rtc.read(Rtc::kDataOffset, {&b, 1});
        return b;
    }
    void set(std::uint8_t index, std::uint8_t value) {
        rtc.write(Rtc::kIndexOffset, {&index, 1});
        rtc.write(Rtc::kDataOffset, {&value, 1});
    }

    std::shared_ptr<system_clock::time_point> host;
    Rtc rtc;
};

TEST_F(DevicesRtc, BcdTwentyFourHour) {
    EXPECT_EQ(get(Rtc::kStatusB), 0x02);
    EXPECT_EQ(get(Rtc::kSeconds), 0x07);
    EXPECT_EQ(get(Rtc::kMinutes), 0x45);
    EXPECT_EQ(get(Rtc::kHours), 0x13);
    EXPECT_EQ(get(Rtc::kDayOfWeek), 0x05);  // Thursday, Sunday = 1
    EXPECT_EQ(get(Rtc::kDayOfMonth), 0x29);
    EXPECT_EQ(get(Rtc::kMonth), 0x02);
    EXPECT_EQ(get(Rtc::kYear), 0x24);
    EXPECT_EQ(get(Rtc::kCentury), 0x20);
}

TEST_F(DevicesRtc, BinaryTwentyFourHour) {
    set(Rtc::kStatusB, Rtc::kStatusBBinary | Rtc::kStatusB24Hour);
    EXPECT_EQ(get(Rtc::kSeconds), 7);
    EXPECT_EQ(get(Rtc::kMinutes), 45);
    EXPECT_EQ(get(Rtc::kHours), 13);
    EXPECT_EQ(get(Rtc::kDayOfMonth), 29);
    EXPECT_EQ(get(Rtc::kMonth), 2);
    EXPECT_EQ(get(Rtc::kYear), 24);
    EXPECT_EQ(get(Rtc::kCentury), 20);
}

TEST_F(DevicesRtc, TwelveHourMode) {
    set(Rtc::kStatusB, 0x00);
    EXPECT_EQ(get(Rtc::kHours), 0x81);  // 1 PM, BCD
    set(Rtc::kStatusB, Rtc::kStatusBBinary);
    EXPECT_EQ(get(Rtc::kHours), 0x81);  // 1 PM, binary
    *host = sys_days{2024y / March / 1} + 0h + 30min;
    EXPECT_EQ(get(Rtc::kHours), 12);  // 12 AM
    *host = sys_days{2024y / March / 1} + 12h;
    EXPECT_EQ(get(Rtc::kHours), 0x8C);  // 12 PM
}

TEST_F(DevicesRtc, FollowsTheHostClock) {
    *host += 60s;
    EXPECT_EQ(get(Rtc::kMinutes), 0x46);
    EXPECT_EQ(get(Rtc::kSeconds), 0x07);
    *host = sys_days{2099y / December / 31} + 23h + 59min + 59s + 1s;
    EXPECT_EQ(get(Rtc::kCentury), 0x21);
    EXPECT_EQ(get(Rtc::kYear), 0x00);
    EXPECT_EQ(get(Rtc::kMonth), 0x01);
}

TEST_F(DevicesRtc, StatusRegisters) {
    EXPECT_EQ(get(Rtc::kStatusA) & Rtc::kStatusAUpdateInProgress, 0);
    EXPECT_EQ(get(Rtc::kStatusA), Rtc::kDefaultStatusA);
    set(Rtc::kStatusA, 0xA6);
    EXPECT_EQ(get(Rtc::kStatusA), 0x26);  // UIP never sticks
    EXPECT_EQ(get(Rtc::kStatusC), 0x00);
    EXPECT_EQ(get(Rtc::kStatusD), 0x80);
    set(Rtc::kStatusD, 0x00);
    EXPECT_EQ(get(Rtc::kStatusD), 0x80);
}

TEST_F(DevicesRtc, GuestSetsItsClockWithSet) {
    const auto before = *host;
    set(Rtc::kStatusB, Rtc::kStatusBSet | Rtc::kStatusB24Hour);
    set(Rtc::kSeconds, 0x00);
    set(Rtc::kMinutes, 0x00);
    set(Rtc::kHours, 0x00);
    set(Rtc::kDayOfMonth, 0x01);
    set(Rtc::kMonth, 0x01);
    set(Rtc::kYear, 0x25);
    *host += 5s;  // frozen while SET is on
    EXPECT_EQ(get(Rtc::kYear), 0x25);
    EXPECT_EQ(get(Rtc::kSeconds), 0x00);
    set(Rtc::kStatusB, Rtc::kStatusB24Hour);
    EXPECT_EQ(*host, before + 5s);  // the host clock is untouched
    EXPECT_EQ(rtc.guest_offset(), duration_cast<seconds>(sys_days{2025y / January / 1} - *host));
    *host += 10s;
    EXPECT_EQ(get(Rtc::kSeconds), 0x10);
    EXPECT_EQ(get(Rtc::kDayOfMonth), 0x01);
    EXPECT_EQ(get(Rtc::kYear), 0x25);
    EXPECT_EQ(get(Rtc::kDayOfWeek), 0x04);  // Wednesday
    EXPECT_EQ(rtc.counters().time_writes, 6u);
}

TEST_F(DevicesRtc, SingleFieldWriteMovesTheOffset) {
    set(Rtc::kMinutes, 0x50);
    EXPECT_EQ(get(Rtc::kMinutes), 0x50);
    EXPECT_EQ(rtc.guest_offset(), 5min);
    set(Rtc::kCentury, 0x19);
    EXPECT_EQ(get(Rtc::kCentury), 0x19);
    EXPECT_EQ(get(Rtc::kYear), 0x24);
}

TEST_F(DevicesRtc, BinaryWrites) {
    set(Rtc::kStatusB, Rtc::kStatusBBinary | Rtc::kStatusB24Hour);
    set(Rtc::kHours, 22);
    EXPECT_EQ(get(Rtc::kHours), 22);
    EXPECT_EQ(rtc.guest_offset(), 9h);
}

TEST_F(DevicesRtc, TwelveHourWrite) {
    set(Rtc::kStatusB, 0x00);
    set(Rtc::kHours, 0x82);  // 2 PM
    EXPECT_EQ(rtc.guest_offset(), 1h);
    set(Rtc::kStatusB, Rtc::kStatusB24Hour);
    EXPECT_EQ(get(Rtc::kHours), 0x14);
}

TEST_F(DevicesRtc, InvalidTimeWritesAreIgnored) {
    set(Rtc::kMonth, 0x13);
    set(Rtc::kSeconds, 0x5A);  // not BCD
    set(Rtc::kHours, 0x24);
    EXPECT_EQ(rtc.guest_offset(), 0s);
    EXPECT_EQ(rtc.counters().invalid_writes, 3u);
    EXPECT_EQ(get(Rtc::kMonth), 0x02);
}

TEST_F(DevicesRtc, CmosRamAndNmiBit) {
    set(0x40, 0xAB);
    EXPECT_EQ(get(0x40), 0xAB);
    EXPECT_EQ(get(0xC0), 0xAB);  // bit 7 of the index is the NMI mask
    set(0x7F, 0x11);
    EXPECT_EQ(get(0x7F), 0x11);
    set(0x01, 0x30);  // alarm seconds: plain storage
    EXPECT_EQ(get(0x01), 0x30);
}

TEST_F(DevicesRtc, IndexPortReadsFFAndBadAccessesAreCounted) {
    std::uint8_t b = 0;
    rtc.read(Rtc::kIndexOffset, {&b, 1});
    EXPECT_EQ(b, 0xFF);
    std::uint8_t word[2] = {0, 0};
    rtc.read(Rtc::kDataOffset, word);
    EXPECT_EQ(word[0], 0xFF);
    rtc.write(2, {&b, 1});
    EXPECT_EQ(rtc.counters().bad_accesses, 2u);
}

TEST_F(DevicesRtc, ResetKeepsTimeAndRamButEndsSet) {
    set(0x40, 0x5A);
    set(Rtc::kMinutes, 0x50);
    set(Rtc::kStatusB, Rtc::kStatusBSet | Rtc::kStatusB24Hour);
    rtc.reset();
    EXPECT_EQ(get(0x40), 0x5A);
    EXPECT_EQ(get(Rtc::kStatusB) & Rtc::kStatusBSet, 0);
    *host += 1s;
    EXPECT_EQ(get(Rtc::kSeconds), 0x08);
    EXPECT_EQ(get(Rtc::kMinutes), 0x50);
}

TEST_F(DevicesRtc, DefaultClockIsTheHostClock) {
    Rtc real;
    std::uint8_t b = Rtc::kStatusD;
    real.write(Rtc::kIndexOffset, {&b, 1});
    real.read(Rtc::kDataOffset, {&b, 1});
    EXPECT_EQ(b, 0x80);
    b = Rtc::kCentury;
    real.write(Rtc::kIndexOffset, {&b, 1});
    real.read(Rtc::kDataOffset, {&b, 1});
    EXPECT_EQ(b, 0x20);
}

}  // namespace
}  // namespace devices
