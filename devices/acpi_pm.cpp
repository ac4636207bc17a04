#include "devices/acpi_pm.h"

#include <algorithm>
#include <utility>

#include "base/error.h"
#include "x86/layout.h"

namespace devices {

static_assert(layout::kAcpiSleepStatus == layout::kAcpiSleepControl + AcpiPm::kSleepStatusOffset);
static_assert(layout::kAcpiReset == layout::kAcpiSleepControl + AcpiPm::kResetOffset);
static_assert(layout::kGedEvent == layout::kAcpiSleepControl + AcpiPm::kGedOffset);
static_assert(layout::kSleepTypeS5 <= AcpiPm::kSleepTypeMask >> AcpiPm::kSleepTypeShift);

AcpiPm::AcpiPm(std::shared_ptr<IrqLine> ged_irq, std::function<void()> on_poweroff,
               std::function<void()> on_reset)
    : irq_(std::move(ged_irq)),
      on_poweroff_(std::move(on_poweroff)),
      on_reset_(std::move(on_reset)) {
    if (irq_ == nullptr) {
        throw base::InvalidInput("acpi-pm: no GED interrupt line");
    }
}

void AcpiPm::reset() {
    std::lock_guard lock(mutex_);
    ged_pending_ = 0;
    wake_status_ = false;
    irq_level_ = false;  // a new VM starts with the line low
}

AcpiPm::Counters AcpiPm::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

void AcpiPm::update_irq() {
    const bool level = ged_pending_ != 0;
    if (level != irq_level_) {
        irq_level_ = level;
        irq_->set_level(level);
    }
}

void AcpiPm::press_power_button() {
    std::lock_guard lock(mutex_);
    ++counters_.power_button_presses;
    ged_pending_ |= layout::kGedPowerButton;
    update_irq();
}

void AcpiPm::read(std::uint64_t offset, std::span<std::uint8_t> data) {
    std::lock_guard lock(mutex_);
    const std::size_t n = data.size();
    if (offset >= kGedOffset && n >= 1 && n <= kGedSize && offset - kGedOffset + n <= kGedSize) {
        const std::uint64_t first = offset - kGedOffset;
        for (std::size_t i = 0; i < n; ++i) {
            const unsigned shift = static_cast<unsigned>((first + i) * 8);
            data[i] = static_cast<std::uint8_t>(ged_pending_ >> shift);
            ged_pending_ &= ~(std::uint32_t{0xFF} << shift);
        }
        update_irq();
        return;
    }
    if (n != 1 || offset > kResetOffset) {
        std::fill(data.begin(), data.end(), std::uint8_t{0xFF});
        ++counters_.bad_accesses;
        return;
    }
    data[0] = offset == kSleepStatusOffset && wake_status_ ? kWakeStatus : 0;
}

void AcpiPm::write(std::uint64_t offset, std::span<const std::uint8_t> data) {
    bool poweroff = false;
    bool reset_requested = false;
    {
        std::lock_guard lock(mutex_);
        const std::size_t n = data.size();
        if (offset >= kGedOffset && n >= 1 && n <= kGedSize &&
            offset - kGedOffset + n <= kGedSize) {
            ++counters_.ignored_writes;
            return;
        }
        if (n != 1 || offset > kResetOffset) {
            ++counters_.bad_accesses;
            return;
        }
        const std::uint8_t value = data[0];
        switch (offset) {
            case kSleepControlOffset: {
                if ((value & kSleepEnable) == 0) {
                    break;
                }
                const unsigned type = (value & kSleepTypeMask) >> kSleepTypeShift;
                if (type == layout::kSleepTypeS5) {
                    poweroff = true;
                    ++counters_.poweroffs;
                } else {
                    wake_status_ = true;  // "woke up" at once
                    ++counters_.unsupported_sleeps;
                }
                break;
            }
            case kSleepStatusOffset:
                if ((value & kWakeStatus) != 0) {
                    wake_status_ = false;
                }
                break;
            default:
                if (value == layout::kAcpiResetValue) {
                    reset_requested = true;
                    ++counters_.resets;
                } else {
                    ++counters_.ignored_writes;
                }
                break;
        }
    }
    if (poweroff && on_poweroff_) {
        on_poweroff_();
    }
    if (reset_requested && on_reset_) {
        on_reset_();
    }
}

}  // namespace devices
