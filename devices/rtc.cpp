#include "devices/rtc.h"

#include <algorithm>
#include <utility>

namespace devices {

namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

}  // namespace

Rtc::Rtc(Clock clock) : clock_(std::move(clock)) {
    ram_[kStatusA] = kDefaultStatusA;
    ram_[kStatusB] = kDefaultStatusB;
}

void Rtc::reset() {
    std::lock_guard lock(mutex_);
    index_ = 0;
    if (frozen_) {
        apply(frozen_fields_);
        frozen_ = false;
    }
    ram_[kStatusB] &= static_cast<std::uint8_t>(~kStatusBSet);
}

std::chrono::seconds Rtc::guest_offset() const {
    std::lock_guard lock(mutex_);
    return offset_;
}

Rtc::Counters Rtc::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

sys_seconds Rtc::now() const {
    const auto host = clock_ ? clock_() : std::chrono::system_clock::now();
    return floor<std::chrono::seconds>(host);
}

Rtc::Fields Rtc::current() const {
    const sys_seconds t = now() + offset_;
    const sys_days date = floor<days>(t);
    const std::chrono::year_month_day ymd{date};
    const long long secs = (t - date).count();
    // The registers hold years 0000-9999; apply() never sets more.
    const int full_year = ((static_cast<int>(ymd.year()) % 10000) + 10000) % 10000;
    Fields f;
    f.second = static_cast<int>(secs % 60);
    f.minute = static_cast<int>(secs / 60 % 60);
    f.hour = static_cast<int>(secs / 3600);
    f.day = static_cast<int>(static_cast<unsigned>(ymd.day()));
    f.month = static_cast<int>(static_cast<unsigned>(ymd.month()));
    f.year = full_year % 100;
    f.century = full_year / 100;
    f.weekday = static_cast<int>(std::chrono::weekday{date}.c_encoding()) + 1;
    return f;
}

void Rtc::apply(const Fields& f) {
    // Month 1-12 and day 1-31 are checked on the way in; a day past the
    // month's end (Feb 31) rolls over into the next month.
    const std::chrono::year_month_day ymd{std::chrono::year{f.century * 100 + f.year},
                                          std::chrono::month{static_cast<unsigned>(f.month)},
                                          std::chrono::day{static_cast<unsigned>(f.day)}};
    const sys_seconds guest = sys_days{ymd} + std::chrono::hours{f.hour} +
                              std::chrono::minutes{f.minute} + std::chrono::seconds{f.second};
    offset_ = guest - now();
}

std::uint8_t Rtc::encode(int value) const {
    if ((ram_[kStatusB] & kStatusBBinary) != 0) {
        return static_cast<std::uint8_t>(value);
    }
    return static_cast<std::uint8_t>((value / 10) << 4 | (value % 10));
}

int Rtc::decode(std::uint8_t raw, int lo, int hi) const {
    int value = raw;
    if ((ram_[kStatusB] & kStatusBBinary) == 0) {
        if ((raw & 0x0F) > 9 || (raw >> 4) > 9) {
            return -1;
        }
        value = (raw >> 4) * 10 + (raw & 0x0F);
    }
    return value >= lo && value <= hi ? value : -1;
}

bool Rtc::write_time_field(std::uint8_t index, std::uint8_t value, Fields& f) {
    int v = -1;
    switch (index) {
        case kSeconds:
            v = f.second = decode(value, 0, 59);
            break;
        case kMinutes:
            v = f.minute = decode(value, 0, 59);
            break;
        case kHours:
            if ((ram_[kStatusB] & kStatusB24Hour) != 0) {
                v = f.hour = decode(value, 0, 23);
            } else {
                v = decode(value & static_cast<std::uint8_t>(~kHourPm), 1, 12);
                f.hour = v % 12 + ((value & kHourPm) != 0 ? 12 : 0);
            }
            break;
        case kDayOfMonth:
            v = f.day = decode(value, 1, 31);
            break;
        case kMonth:
            v = f.month = decode(value, 1, 12);
            break;
        case kYear:
            v = f.year = decode(value, 0, 99);
            break;
        case kCentury:
            v = f.century = decode(value, 0, 99);
            break;
        default:
            break;
    }
    return v >= 0;
}

std::uint8_t Rtc::read_data() {
    switch (index_) {
        case kSeconds:
        case kMinutes:
        case kHours:
        case kDayOfWeek:
        case kDayOfMonth:
        case kMonth:
        case kYear:
        case kCentury: {
            const Fields f = frozen_ ? frozen_fields_ : current();
            switch (index_) {
                case kSeconds:
                    return encode(f.second);
                case kMinutes:
                    return encode(f.minute);
                case kHours:
                    if ((ram_[kStatusB] & kStatusB24Hour) != 0) {
                        return encode(f.hour);
                    }
                    return static_cast<std::uint8_t>(encode(f.hour % 12 == 0 ? 12 : f.hour % 12) |
                                                     (f.hour >= 12 ? kHourPm : 0));
                case kDayOfWeek:
                    return encode(f.weekday);
                case kDayOfMonth:
                    return encode(f.day);
                case kMonth:
                    return encode(f.month);
                case kYear:
                    return encode(f.year);
                default:
                    return encode(f.century);
            }
        }
        case kStatusA:
            return ram_[kStatusA] & static_cast<std::uint8_t>(~kStatusAUpdateInProgress);
        case kStatusC:
            return 0;
        case kStatusD:
            return kStatusDValid;
        default:
            return ram_[index_];
    }
}

void Rtc::write_data(std::uint8_t value) {
    switch (index_) {
        case kSeconds:
        case kMinutes:
        case kHours:
        case kDayOfMonth:
        case kMonth:
        case kYear:
        case kCentury: {
            Fields f = frozen_ ? frozen_fields_ : current();
            if (!write_time_field(index_, value, f)) {
                ++counters_.invalid_writes;
                return;
            }
            ++counters_.time_writes;
            if (frozen_) {
                frozen_fields_ = f;
            } else {
                apply(f);
            }
            return;
        }
        case kDayOfWeek:  // derived from the date
        case kStatusC:    // read-only
        case kStatusD:
            return;
        case kStatusA:
            ram_[kStatusA] = value & static_cast<std::uint8_t>(~kStatusAUpdateInProgress);
            return;
        case kStatusB: {
            const bool set = (value & kStatusBSet) != 0;
            if (set && !frozen_) {
                frozen_fields_ = current();
                frozen_ = true;
            }
            // Mode bits change how the frozen fields are encoded, not their values.
            ram_[kStatusB] = value;
            if (!set && frozen_) {
                apply(frozen_fields_);
                frozen_ = false;
            }
            return;
        }
        default:
            ram_[index_] = value;
            return;
    }
}

void Rtc::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    if (data.size() != 1 || offset >= kRangeLength) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
        ++counters_.bad_accesses;
        return;
    }
    data[0] = offset == kIndexOffset ? 0xFF : read_data();
}

void Rtc::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    if (data.size() != 1 || offset >= kRangeLength) {
        ++counters_.bad_accesses;
        return;
    }
    if (offset == kIndexOffset) {
        index_ = data[0] & 0x7F;  // bit 7 masks NMIs: ignored
    } else {
        write_data(data[0]);
    }
}

}  // namespace devices
