#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "devices/serial.h"
#include "tests/unit/recording_irq.h"

namespace devices {
namespace {

using devices::testing::RecordingIrq;

class DevicesSerial : public ::testing::Test {
  protected:
    DevicesSerial()
        : irq(std::make_shared<RecordingIrq>()),
          uart(irq, [this](std::span<const std::uint8_t> bytes) {
              out.append(bytes.begin(), bytes.end());
          }) {}

    std::uint8_t in(std::uint64_t reg) {
        std::uint8_t b = 0;
        uart.read(reg, {&b, 1});
        return b;
    }
    void outb(std::uint64_t reg, std::uint8_t value) { uart.write(reg, {&value, 1}); }
    std::size_t feed(const std::string& s) {
        return uart.enqueue_input({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()});
    }

    std::shared_ptr<RecordingIrq> irq;
    std::string out;
    Serial uart;
};

TEST_F(DevicesSerial, NullIrqIsASetupError) {
    EXPECT_THROW(Serial(nullptr, {}), base::InvalidInput);
}

TEST_F(DevicesSerial, PowerOnRegisters) {
    EXPECT_EQ(in(Serial::kIir), 0x01);  // no interrupt, FIFOs off
    EXPECT_EQ(in(Serial::kLsr), 0x60);  // THRE | TEMT
    EXPECT_EQ(in(Serial::kMsr), 0xB0);  // DCD | DSR | CTS
    EXPECT_EQ(in(Serial::kIer), 0x00);
    EXPECT_TRUE(irq->levels.empty());
}

TEST_F(DevicesSerial, WritesGoOutAndLsrStaysEmpty) {
    outb(Serial::kData, 'h');
    outb(Serial::kData, 'i');
    EXPECT_EQ(out, "hi");
    EXPECT_EQ(in(Serial::kLsr)&0x60, 0x60);
    EXPECT_EQ(uart.counters().bytes_out, 2u);
    EXPECT_TRUE(irq->levels.empty());  // no interrupt without IER
}

TEST_F(DevicesSerial, ThreInterruptOnEnableClearedByIirRead) {
    outb(Serial::kIer, Serial::kIerThre);
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(in(Serial::kIir), 0x02);
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(in(Serial::kIir), 0x01);
    // Each write makes THR empty again: THRE pending, line up.
    outb(Serial::kData, 'x');
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(in(Serial::kIir), 0x02);
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(irq->levels, (std::vector<bool>{true, false, true, false}));
}

TEST_F(DevicesSerial, ThreReassertedWhenEtbeiSetAgain) {
    // Linux's THRE test: enable, read IIR, disable, enable: THRE must be back.
    outb(Serial::kIer, Serial::kIerThre);
    EXPECT_EQ(in(Serial::kIir), 0x02);
    outb(Serial::kIer, 0);
    outb(Serial::kIer, Serial::kIerThre);
    EXPECT_EQ(in(Serial::kIir), 0x02);
}

TEST_F(DevicesSerial, ClearingEtbeiWithdrawsThre) {
    outb(Serial::kIer, Serial::kIerThre);
    outb(Serial::kIer, 0);  // masked: no longer pending
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(in(Serial::kIir), 0x01);
}

TEST_F(DevicesSerial, ReceiveInterruptAndDataOrder) {
    outb(Serial::kIer, Serial::kIerRda);
    EXPECT_EQ(feed("abc"), 3u);
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(in(Serial::kIir), 0x04);
    EXPECT_EQ(in(Serial::kLsr)&0x01, 0x01);
    EXPECT_EQ(in(Serial::kData), 'a');
    EXPECT_EQ(in(Serial::kData), 'b');
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(in(Serial::kData), 'c');
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(in(Serial::kLsr)&0x01, 0x00);
    EXPECT_EQ(in(Serial::kIir), 0x01);
    EXPECT_EQ(uart.counters().bytes_in, 3u);
}

TEST_F(DevicesSerial, RdaOutranksThre) {
    outb(Serial::kIer, Serial::kIerRda | Serial::kIerThre);
    feed("z");
    EXPECT_EQ(in(Serial::kIir), 0x04);
    EXPECT_EQ(in(Serial::kData), 'z');
    EXPECT_EQ(in(Serial::kIir), 0x02);
    EXPECT_EQ(in(Serial::kIir), 0x01);
}

TEST_F(DevicesSerial, FifoIsBounded) {
    const std::string big(Serial::kRxFifoSize + 10, 'q');
    EXPECT_EQ(feed(big), Serial::kRxFifoSize);
    EXPECT_EQ(feed("more"), 0u);
    EXPECT_EQ(uart.counters().input_refused, 14u);
    in(Serial::kData);
    EXPECT_EQ(feed("more"), 1u);
    for (std::size_t i = 0; i < Serial::kRxFifoSize; ++i) {
        in(Serial::kData);
    }
    EXPECT_EQ(in(Serial::kLsr)&0x01, 0x00);
}

TEST_F(DevicesSerial, FifoBitsInIirAndFcrClear) {
    outb(Serial::kIir, Serial::kFcrEnable);
    EXPECT_EQ(in(Serial::kIir), 0xC1);
    feed("abc");
    outb(Serial::kIir, Serial::kFcrEnable | Serial::kFcrClearRx);
    EXPECT_EQ(in(Serial::kLsr)&0x01, 0x00);
    outb(Serial::kIir, 0);
    EXPECT_EQ(in(Serial::kIir), 0x01);
}

TEST_F(DevicesSerial, DivisorLatchBehindDlab) {
    outb(Serial::kIer, 0x05);
    outb(Serial::kLcr, 0x83);   // DLAB, 8N1
    outb(Serial::kData, 0x01);  // divisor 1: 115200 baud
    outb(Serial::kIer, 0x00);
    EXPECT_EQ(in(Serial::kData), 0x01);
    EXPECT_EQ(in(Serial::kIer), 0x00);
    EXPECT_EQ(out, "");  // the divisor write is no output
    outb(Serial::kLcr, 0x03);
    EXPECT_EQ(in(Serial::kLcr), 0x03);
    EXPECT_EQ(in(Serial::kIer), 0x05);
    outb(Serial::kLcr, 0x83);
    EXPECT_EQ(in(Serial::kData), 0x01);
    EXPECT_EQ(in(Serial::kIer), 0x00);
}

TEST_F(DevicesSerial, IerKeepsOnlyItsFourBits) {
    outb(Serial::kIer, 0xFF);
    EXPECT_EQ(in(Serial::kIer), 0x0F);
}

TEST_F(DevicesSerial, ScratchRegister) {
    outb(Serial::kScr, 0x5A);
    EXPECT_EQ(in(Serial::kScr), 0x5A);
}

TEST_F(DevicesSerial, LoopbackMirrorsModemLinesAndEchoes) {
    outb(Serial::kMcr, Serial::kMcrLoop | Serial::kMcrRts | Serial::kMcrOut2);
    EXPECT_EQ(in(Serial::kMsr)&0xF0, 0x90);  // what Linux's probe expects
    outb(Serial::kData, 'L');
    EXPECT_EQ(out, "");
    EXPECT_EQ(in(Serial::kData), 'L');
    EXPECT_EQ(feed("x"), 0u);  // host input is disconnected
    // Overrun: fill the FIFO from the transmitter, then one more.
    for (std::size_t i = 0; i <= Serial::kRxFifoSize; ++i) {
        outb(Serial::kData, 'o');
    }
    EXPECT_EQ(uart.counters().overruns, 1u);
    outb(Serial::kIer, Serial::kIerRls);
    EXPECT_EQ(in(Serial::kIir), 0x06);
    EXPECT_EQ(in(Serial::kLsr)&0x03, 0x03);
    EXPECT_EQ(in(Serial::kLsr)&0x02, 0x00);  // cleared by the read
    outb(Serial::kMcr, 0);
    EXPECT_EQ(in(Serial::kMsr)&0xF0, 0xB0);
}

TEST_F(DevicesSerial, ModemStatusInterrupt) {
    outb(Serial::kIer, Serial::kIerMsr);
    outb(Serial::kMcr, Serial::kMcrLoop);  // lines drop: deltas
    EXPECT_TRUE(irq->high());
    EXPECT_EQ(in(Serial::kIir), 0x00);
    EXPECT_NE(in(Serial::kMsr)&0x0F, 0);
    EXPECT_FALSE(irq->high());
    EXPECT_EQ(in(Serial::kIir), 0x01);
}

TEST_F(DevicesSerial, WideOrOutOfRangeAccessesAreIgnored) {
    std::uint8_t word[2] = {0x41, 0x42};
    uart.write(Serial::kData, word);
    uart.read(Serial::kData, word);
    EXPECT_EQ(word[0], 0xFF);
    outb(8, 0x41);
    EXPECT_EQ(out, "");
    EXPECT_EQ(uart.counters().bad_accesses, 3u);
}

TEST_F(DevicesSerial, ResetRestoresPowerOnState) {
    outb(Serial::kIer, 0x0F);
    outb(Serial::kLcr, 0x03);
    feed("abc");
    uart.reset();
    EXPECT_EQ(in(Serial::kIer), 0x00);
    EXPECT_EQ(in(Serial::kLcr), 0x00);
    EXPECT_EQ(in(Serial::kLsr), 0x60);
}

TEST_F(DevicesSerial, ConcurrentInputAndRegisterAccess) {
    outb(Serial::kIer, Serial::kIerRda);
    std::size_t received = 0;
    std::jthread producer([this] {
        std::size_t sent = 0;
        while (sent < 2000) {
            sent += feed("x");
        }
    });
    while (received < 2000) {
        if ((in(Serial::kLsr)&0x01) != 0) {
            EXPECT_EQ(in(Serial::kData), 'x');
            ++received;
        }
    }
    producer.join();
    EXPECT_EQ(uart.counters().bytes_in, 2000u);
}

}  // namespace
}  // namespace devices
