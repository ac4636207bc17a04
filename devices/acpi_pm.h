#pragma once
// The ACPI hardware-reduced registers the FADT points at, and the Generic
// Event Device's event register: ONE device covering the kRangeLength ports
// from layout::kAcpiSleepControl (0x600..0x607), by offset:
//
//   0  sleep control (layout::kAcpiSleepControl), byte: a write with SLP_EN
//      (bit 5) and SLP_TYP (bits 2-4) == layout::kSleepTypeS5 powers off.
//      Other sleep types are not supported: the write sets WAK_STS at once,
//      so a guest waiting to wake up goes on. Reads 0.
//   1  sleep status (layout::kAcpiSleepStatus), byte: WAK_STS (bit 7),
//      cleared by writing 1 to it.
//   2  reset register (layout::kAcpiReset), byte: writing
//      layout::kAcpiResetValue resets the machine. Reads 0.
//   3  unused.
//   4  GED event register (layout::kGedEvent), 4 bytes, little-endian:
//      reading returns the pending event bits and clears the bits it
//      returned (a narrower read returns and clears only its bytes).
//      Writes are ignored (the DSDT's field is WriteAsZeros).
//
// press_power_button() sets layout::kGedPowerButton and raises the GED's
// level-triggered line (layout::kIrqGed): the guest's _EVT reads the
// register, which lowers the line once no event is pending, and Notify()s
// the power button.
//
// Threading: one mutex for the GED state; the poweroff and reset callbacks
// run on the vCPU thread without it.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "devices/bus.h"
#include "devices/irq.h"

namespace devices {

class AcpiPm final : public BusDevice {
  public:
    static constexpr std::uint64_t kRangeLength = 8;
    static constexpr std::uint64_t kSleepControlOffset = 0;
    static constexpr std::uint64_t kSleepStatusOffset = 1;
    static constexpr std::uint64_t kResetOffset = 2;
    static constexpr std::uint64_t kGedOffset = 4;
    static constexpr std::uint64_t kGedSize = 4;

    static constexpr std::uint8_t kSleepEnable = 0x20;  // SLP_EN
    static constexpr unsigned kSleepTypeShift = 2;      // SLP_TYP, 3 bits
    static constexpr std::uint8_t kSleepTypeMask = 0x1C;
    static constexpr std::uint8_t kWakeStatus = 0x80;  // WAK_STS

    struct Counters {
        std::uint64_t poweroffs = 0;
        std::uint64_t resets = 0;
        std::uint64_t unsupported_sleeps = 0;  // SLP_EN with a type other than S5
        std::uint64_t ignored_writes = 0;      // reset register without the reset value, ...
        std::uint64_t power_button_presses = 0;
        std::uint64_t bad_accesses = 0;  // wrong size or offset
    };

    // Throws base::InvalidInput when `ged_irq` is null.
    AcpiPm(std::shared_ptr<IrqLine> ged_irq, std::function<void()> on_poweroff,
           std::function<void()> on_reset);

    void read(std::uint64_t offset, std::span<std::uint8_t> data) override;
    void write(std::uint64_t offset, std::span<const std::uint8_t> data) override;
    void reset() override;

    // From the VMM (API thread): an ACPI power button press.
    void press_power_button();

    Counters counters() const;

  private:
    void update_irq();

    const std::shared_ptr<IrqLine> irq_;
    const std::function<void()> on_poweroff_;
    const std::function<void()> on_reset_;

    mutable std::mutex mutex_;
    std::uint32_t ged_pending_ = 0;
    bool wake_status_ = false;
    bool irq_level_ = false;
    Counters counters_;
};

}  // namespace devices
