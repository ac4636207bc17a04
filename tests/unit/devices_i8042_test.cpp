#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "base/error.h"
#include "devices/i8042.h"
#include "tests/unit/recording_irq.h"

namespace devices {
namespace {

using devices::testing::RecordingIrq;

class DevicesI8042 : public ::testing::Test {
  protected:
    DevicesI8042() : irq(std::make_shared<RecordingIrq>()), kbc(irq, [this] { ++resets; }) {}

    std::uint8_t status() { return in(I8042::kCommandOffset); }
    std::uint8_t data() { return in(I8042::kDataOffset); }
    std::uint8_t in(std::uint64_t offset) {
        std::uint8_t b = 0;
        kbc.read(offset, {&b, 1});
        return b;
    }
    void command(std::uint8_t value) { kbc.write(I8042::kCommandOffset, {&value, 1}); }
    void send(std::uint8_t value) { kbc.write(I8042::kDataOffset, {&value, 1}); }
    // Everything in the output buffer, read the way a driver does.
    std::vector<std::uint8_t> drain() {
        std::vector<std::uint8_t> bytes;
        while ((status() & I8042::kStatusOutputFull) != 0) {
            bytes.push_back(data());
        }
        return bytes;
    }

    std::shared_ptr<RecordingIrq> irq;
    int resets = 0;
    I8042 kbc;
};

using Bytes = std::vector<std::uint8_t>;

TEST_F(DevicesI8042, NullIrqIsASetupError) {
    EXPECT_THROW(I8042(nullptr, {}), base::InvalidInput);
}

TEST_F(DevicesI8042, PowerOnStatusAndCommandByte) {
    EXPECT_EQ(status() & I8042::kStatusOutputFull, 0);
    EXPECT_NE(status() & I8042::kStatusSystemFlag, 0);
    command(0x20);
    EXPECT_NE(status() & I8042::kStatusCommand, 0);
    EXPECT_EQ(drain(), Bytes{I8042::kDefaultCommandByte});
}

TEST_F(DevicesI8042, SelfTestAndInterfaceTest) {
    command(0xAA);
    EXPECT_EQ(drain(), Bytes{0x55});
    command(0xAB);
    EXPECT_EQ(drain(), Bytes{0x00});
}

TEST_F(DevicesI8042, WriteCommandByte) {
    command(0x60);
    send(0x47);
    EXPECT_EQ(status() & I8042::kStatusCommand, 0);
    command(0x20);
    EXPECT_EQ(drain(), Bytes{0x47});
    command(0xAD);
    command(0x20);
    EXPECT_EQ(drain(), Bytes{0x57});
    command(0xAE);
    command(0x20);
    EXPECT_EQ(drain(), Bytes{0x47});
}

TEST_F(DevicesI8042, ResetPulseCallsBack) {
    command(0xFE);
    EXPECT_EQ(resets, 1);
    command(0xFF);  // pulses nothing
    EXPECT_EQ(resets, 1);
    command(0xF0);  // bit 0 clear: reset line among others
    EXPECT_EQ(resets, 2);
    command(0xD1);
    send(0x02);  // output port with the reset line low
    EXPECT_EQ(resets, 3);
    command(0xD1);
    send(0x03);
    EXPECT_EQ(resets, 3);
    EXPECT_EQ(kbc.counters().resets, 3u);
}

TEST_F(DevicesI8042, ReadOutputPort) {
    command(0xD0);
    EXPECT_EQ(drain().at(0) & 0x03, 0x03);
}

TEST_F(DevicesI8042, KeyboardResetAcksThenPasses) {
    send(0xFF);
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xAA}));
}

TEST_F(DevicesI8042, KeyboardProbeSequence) {
    // What atkbd sends: disable, identify, set LEDs, scancode set, enable.
    send(0xF5);
    EXPECT_EQ(drain(), Bytes{0xFA});
    send(0xF2);
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xAB, 0x41}));  // translated ID
    send(0xED);
    send(0x00);
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xFA}));
    send(0xF0);
    send(0x02);
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xFA}));
    send(0xF0);
    send(0x00);
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xFA, 0x41}));  // set 2, translated
    send(0xF3);
    send(0x00);
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xFA}));
    send(0xF4);
    EXPECT_EQ(drain(), Bytes{0xFA});
    send(0xEE);
    EXPECT_EQ(drain(), Bytes{0xEE});
    send(0x42);  // not a command
    EXPECT_EQ(drain(), Bytes{0xFE});
}

TEST_F(DevicesI8042, UntranslatedIdentify) {
    command(0x60);
    send(0x01);
    send(0xF2);
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xAB, 0x83}));
}

TEST_F(DevicesI8042, IrqOneEdgePerByte) {
    send(0xFF);  // two bytes queued, keyboard interrupt on by default
    EXPECT_TRUE(irq->high());
    data();
    EXPECT_TRUE(irq->high());
    data();
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(irq->rising_edges(), 2);
}

TEST_F(DevicesI8042, NoIrqWhenKeyboardInterruptDisabled) {
    command(0x60);
    send(0x44);
    send(0xFF);
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(drain(), (Bytes{0xFA, 0xAA}));
}

TEST_F(DevicesI8042, CtrlAltDelTranslatedIsSet1) {
    ASSERT_TRUE(kbc.inject_ctrl_alt_del());
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(drain(), (Bytes{0x1D, 0x38, 0xE0, 0x53, 0xE0, 0xD3, 0xB8, 0x9D}));
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(irq->rising_edges(), 8);
}

TEST_F(DevicesI8042, CtrlAltDelUntranslatedIsSet2) {
    command(0x60);
    send(I8042::kCtrKeyboardInterrupt | I8042::kCtrSystemFlag);
    ASSERT_TRUE(kbc.inject_ctrl_alt_del());
    EXPECT_EQ(drain(), (Bytes{0x14, 0x11, 0xE0, 0x71, 0xE0, 0xF0, 0x71, 0xF0, 0x11, 0xF0, 0x14}));
}

TEST_F(DevicesI8042, CtrlAltDelRefusedWhileKeyboardDisabled) {
    send(0xF5);
    drain();
    EXPECT_FALSE(kbc.inject_ctrl_alt_del());
    send(0xF4);
    drain();
    command(0xAD);
    EXPECT_FALSE(kbc.inject_ctrl_alt_del());
    command(0xAE);
    EXPECT_TRUE(kbc.inject_ctrl_alt_del());
    EXPECT_EQ(kbc.counters().keys_refused, 2u);
}

TEST_F(DevicesI8042, OutputQueueIsBounded) {
    EXPECT_TRUE(kbc.inject_ctrl_alt_del());
    EXPECT_TRUE(kbc.inject_ctrl_alt_del());   // 16 bytes: full
    EXPECT_FALSE(kbc.inject_ctrl_alt_del());  // no room for a whole sequence
    for (int i = 0; i < 20; ++i) {
        send(0xEE);
    }
    EXPECT_EQ(drain().size(), I8042::kOutputQueueSize);
    EXPECT_GT(kbc.counters().bytes_dropped, 0u);
}

TEST_F(DevicesI8042, WriteKeyboardOutputBuffer) {
    command(0xD2);
    send(0x9C);
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(drain(), Bytes{0x9C});
}

TEST_F(DevicesI8042, BadAccessesAreIgnored) {
    EXPECT_EQ(in(1), 0xFF);
    std::uint8_t word[2] = {0xFE, 0xFE};
    kbc.write(I8042::kCommandOffset, word);
    EXPECT_EQ(resets, 0);
    EXPECT_EQ(kbc.counters().bad_accesses, 2u);
}

TEST_F(DevicesI8042, ResetClearsQueueAndCommandByte) {
    command(0x60);
    send(0x00);
    send(0xFF);
    kbc.reset();
    EXPECT_EQ(status() & I8042::kStatusOutputFull, 0);
    command(0x20);
    EXPECT_EQ(drain(), Bytes{I8042::kDefaultCommandByte});
}

}  // namespace
}  // namespace devices
