#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/error.h"
#include "devices/acpi_pm.h"
#include "devices/bus.h"
#include "tests/unit/recording_irq.h"
#include "x86/layout.h"

namespace devices {
namespace {

using devices::testing::RecordingIrq;

// Accessed through a port bus at its real addresses, as the VMM wires it.
class DevicesAcpiPm : public ::testing::Test {
  protected:
    DevicesAcpiPm()
        : irq(std::make_shared<RecordingIrq>()),
          pm(std::make_shared<AcpiPm>(
              irq, [this] { ++poweroffs; }, [this] { ++resets; })) {
        bus.add(layout::kAcpiSleepControl, AcpiPm::kRangeLength, pm);
    }

    void outb(std::uint16_t port, std::uint8_t value) { bus.write(port, {&value, 1}); }
    std::uint8_t inb(std::uint16_t port) {
        std::uint8_t b = 0;
        bus.read(port, {&b, 1});
        return b;
    }
    std::uint32_t inl(std::uint16_t port) {
        std::array<std::uint8_t, 4> b{};
        bus.read(port, b);
        return b[0] | b[1] << 8 | b[2] << 16 | static_cast<std::uint32_t>(b[3]) << 24;
    }
    static std::uint8_t sleep(unsigned type) {
        return static_cast<std::uint8_t>(AcpiPm::kSleepEnable | type << AcpiPm::kSleepTypeShift);
    }

    Bus bus{"pio"};
    std::shared_ptr<RecordingIrq> irq;
    int poweroffs = 0;
    int resets = 0;
    std::shared_ptr<AcpiPm> pm;
};

TEST_F(DevicesAcpiPm, NullIrqIsASetupError) {
    EXPECT_THROW(AcpiPm(nullptr, {}, {}), base::InvalidInput);
}

TEST_F(DevicesAcpiPm, S5PowersOff) {
    outb(layout::kAcpiSleepControl, sleep(layout::kSleepTypeS5));
    EXPECT_EQ(poweroffs, 1);
    EXPECT_EQ(resets, 0);
    EXPECT_EQ(pm->counters().poweroffs, 1u);
}

TEST_F(DevicesAcpiPm, OtherSleepTypesDoNotPowerOff) {
    for (unsigned type = 0; type < 8; ++type) {
        if (type != layout::kSleepTypeS5) {
            outb(layout::kAcpiSleepControl, sleep(type));
        }
    }
    // S5's type without SLP_EN does nothing either.
    outb(layout::kAcpiSleepControl, layout::kSleepTypeS5 << AcpiPm::kSleepTypeShift);
    EXPECT_EQ(poweroffs, 0);
    EXPECT_EQ(pm->counters().unsupported_sleeps, 7u);
    // The guest that asked to sleep sees itself woken at once.
    EXPECT_EQ(inb(layout::kAcpiSleepStatus), AcpiPm::kWakeStatus);
    outb(layout::kAcpiSleepStatus, AcpiPm::kWakeStatus);
    EXPECT_EQ(inb(layout::kAcpiSleepStatus), 0);
}

TEST_F(DevicesAcpiPm, ResetValueResets) {
    outb(layout::kAcpiReset, 0x02);
    EXPECT_EQ(resets, 0);
    outb(layout::kAcpiReset, layout::kAcpiResetValue);
    EXPECT_EQ(resets, 1);
    EXPECT_EQ(poweroffs, 0);
}

TEST_F(DevicesAcpiPm, PowerButtonRaisesGedUntilRead) {
    EXPECT_EQ(inl(layout::kGedEvent), 0u);
    pm->press_power_button();
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(inl(layout::kGedEvent), layout::kGedPowerButton);
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(inl(layout::kGedEvent), 0u);  // the read cleared it
    EXPECT_EQ(irq->levels, (std::vector<bool>{true, false}));
}

TEST_F(DevicesAcpiPm, GedByteReadClearsOnlyItsByte) {
    pm->press_power_button();
    EXPECT_EQ(inb(layout::kGedEvent + 1), 0);
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(inb(layout::kGedEvent), layout::kGedPowerButton);
    EXPECT_FALSE(irq->high());
}

TEST_F(DevicesAcpiPm, OddAccessesAreIgnored) {
    std::array<std::uint8_t, 2> word{0x34, 0x00};
    EXPECT_TRUE(bus.write(layout::kAcpiSleepControl, word));
    EXPECT_EQ(poweroffs, 0);
    EXPECT_EQ(inb(layout::kAcpiSleepControl + 3), 0xFF);
    std::array<std::uint8_t, 4> dword{};
    EXPECT_TRUE(bus.read(layout::kGedEvent - 1, dword));  // straddles into the GED
    EXPECT_EQ(dword[0], 0xFF);
    EXPECT_EQ(pm->counters().bad_accesses, 3u);
}

TEST_F(DevicesAcpiPm, ResetClearsPendingEvents) {
    pm->press_power_button();
    pm->reset();
    EXPECT_EQ(inl(layout::kGedEvent), 0u);
}

}  // namespace
}  // namespace devices
