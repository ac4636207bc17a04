#pragma once
// An MC146818 CMOS RTC at layout::kRtcIndex (0x70 index, 0x71 data): one
// range of kRangeLength ports.
//
// Index port: bits 0-6 pick one of 128 CMOS bytes; bit 7 (NMI mask) is
// ignored. Reading it gives 0xFF.
// Time registers (0x00 seconds, 0x02 minutes, 0x04 hours, 0x06 day of week
// (1 = Sunday), 0x07 day, 0x08 month, 0x09 year, 0x32 century) come from
// the clock (system_clock, UTC) at read time plus the guest's offset,
// encoded as status B asks: BCD or binary (bit 2), 24-hour or 12-hour with
// bit 7 = PM (bit 1). Writes set the guest's offset from the host clock,
// never the host clock: with status B's SET bit (7) on, the time is frozen
// and written field by field, and turning SET off starts it from what was
// written; with SET off, a write changes its one field at once. Written
// values that are not valid (bad BCD digits, month 13, hour 25) are ignored
// and counted; day of week is derived from the date and writes to it are
// ignored.
// Status A: UIP (bit 7) always reads 0, the other bits are kept. Status C
// reads 0. Status D reads 0x80 (valid RAM and time).
// No interrupts: periodic, alarm and update-ended interrupts are not
// implemented (status B's PIE/AIE/UIE are stored, nothing happens). The
// alarm registers (0x01, 0x03, 0x05) and the rest of the 128 bytes are
// plain RAM.
// reset() keeps the RAM and the offset (battery-backed) and ends a SET left on.

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include "devices/bus.h"

namespace devices {

class Rtc final : public BusDevice {
  public:
    using Clock = std::function<std::chrono::system_clock::time_point()>;

    static constexpr std::uint64_t kRangeLength = 2;
    static constexpr std::uint64_t kIndexOffset = 0;
    static constexpr std::uint64_t kDataOffset = 1;

    static constexpr std::uint8_t kSeconds = 0x00;
    static constexpr std::uint8_t kMinutes = 0x02;
    static constexpr std::uint8_t kHours = 0x04;
    static constexpr std::uint8_t kDayOfWeek = 0x06;
    static constexpr std::uint8_t kDayOfMonth = 0x07;
    static constexpr std::uint8_t kMonth = 0x08;
    static constexpr std::uint8_t kYear = 0x09;
    static constexpr std::uint8_t kStatusA = 0x0A;
    static constexpr std::uint8_t kStatusB = 0x0B;
    static constexpr std::uint8_t kStatusC = 0x0C;
    static constexpr std::uint8_t kStatusD = 0x0D;
    static constexpr std::uint8_t kCentury = 0x32;

    static constexpr std::uint8_t kStatusAUpdateInProgress = 0x80;
    static constexpr std::uint8_t kStatusBSet = 0x80;
    static constexpr std::uint8_t kStatusBBinary = 0x04;
    static constexpr std::uint8_t kStatusB24Hour = 0x02;
    static constexpr std::uint8_t kStatusDValid = 0x80;
    static constexpr std::uint8_t kHourPm = 0x80;
    // Power-on values: 32.768 kHz time base, 1024 Hz rate; BCD, 24-hour.
    static constexpr std::uint8_t kDefaultStatusA = 0x26;
    static constexpr std::uint8_t kDefaultStatusB = kStatusB24Hour;

    struct Counters {
        std::uint64_t time_writes = 0;     // time fields the guest set
        std::uint64_t invalid_writes = 0;  // time fields refused
        std::uint64_t bad_accesses = 0;    // wrong size or offset
    };

    // `clock` gives the host time (tests pass a fixed one).
    explicit Rtc(Clock clock = std::chrono::system_clock::now);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    void reset() override;

    // Guest time minus host time, as set by the guest's writes.
    std::chrono::seconds guest_offset() const;
    Counters counters() const;

  private:
    // A broken-down time in binary (hour 0-23, month 1-12, year 0-99).
    struct Fields {
        int second = 0;
        int minute = 0;
        int hour = 0;
        int day = 1;
        int month = 1;
        int year = 0;
        int century = 20;
        int weekday = 1;  // 1 = Sunday
    };

    std::chrono::sys_seconds now() const;
    Fields current() const;
    void apply(const Fields& f);
    std::uint8_t encode(int value) const;
    // -1 when `raw` is not a valid encoding of a value in [lo, hi].
    int decode(std::uint8_t raw, int lo, int hi) const;
    std::uint8_t read_data();
    void write_data(std::uint8_t value);
    bool write_time_field(std::uint8_t index, std::uint8_t value, Fields& f);

    const Clock clock_;

    mutable std::mutex mutex_;
    std::array<std::uint8_t, 128> ram_{};
    std::uint8_t index_ = 0;
    std::chrono::seconds offset_{0};
    bool frozen_ = false;  // status B SET: time stopped at frozen_fields_
    Fields frozen_fields_;
    Counters counters_;
};

}  // namespace devices
