// The virtio-mmio transport and the virtio-rng device, driven through the
// registers and rings the way the guest's driver drives them.

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/rng.h"
#include "tests/unit/virtio_test_driver.h"

namespace {

using devices::virtio::MmioTransport;
using devices::virtio::RngDevice;
using testing_support::VirtioTestDriver;

bool signalled(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) {
        return false;
    }
    std::uint64_t n;
    return read(fd, &n, sizeof n) == sizeof n;
}

class VirtioMmio : public ::testing::Test {
  protected:
    base::GuestMemory mem_{16 << 20};
    std::shared_ptr<RngDevice> rng_ = std::make_shared<RngDevice>("virtio-rng", mem_);
    MmioTransport transport_{rng_};
    VirtioTestDriver driver_{transport_, mem_};
};

TEST_F(VirtioMmio, IdentifiesItselfAsAVersion2Device) {
    EXPECT_EQ(driver_.reg(0x000), 0x74726976u);
    EXPECT_EQ(driver_.reg(0x004), 2u);
    EXPECT_EQ(driver_.reg(0x008), 4u);  // entropy
    EXPECT_NE(driver_.reg(0x00C), 0u);
    driver_.set_reg(0x30, 0);
    EXPECT_EQ(driver_.reg(0x034), devices::virtio::Queue::kMaxSize);
    driver_.set_reg(0x30, 1);
    EXPECT_EQ(driver_.reg(0x034), 0u) << "queue 1 does not exist";
    EXPECT_EQ(driver_.reg(0x0B0), 0xFFFFFFFFu) << "no shared memory regions";
}

TEST_F(VirtioMmio, RegisterAccessesThatAreNot32BitAlignedAreIgnored) {
    std::uint8_t two[2] = {0xAA, 0xAA};
    transport_.read(0x000, two);
    EXPECT_EQ(two[0], 0);
    EXPECT_EQ(two[1], 0);
    std::uint8_t four[4] = {};
    transport_.read(0x002, four);
    EXPECT_EQ(four[0], 0);
    const std::uint8_t one = 1;
    transport_.write(0x070, {&one, 1});
    EXPECT_EQ(driver_.reg(0x070), 0u);
}

TEST_F(VirtioMmio, OffersVersion1EventIdxAndIndirect) {
    const std::uint64_t f = driver_.device_features();
    EXPECT_TRUE(f & (1ull << 32));
    EXPECT_TRUE(f & (1ull << 29));
    EXPECT_TRUE(f & (1ull << 28));
}

TEST_F(VirtioMmio, RefusesALegacyDriver) {
    const std::uint32_t status = driver_.initialise(~(1ull << 32));
    EXPECT_FALSE(status & 8) << "FEATURES_OK must not stick without VERSION_1";
}

TEST_F(VirtioMmio, NegotiatesAndStarts) {
    EXPECT_EQ(driver_.initialise(), 1u | 2 | 4 | 8);
    EXPECT_TRUE(rng_->active());
    EXPECT_TRUE(rng_->negotiated(32));
    // DRIVER_OK kicks every queue once so the I/O thread looks at it.
    EXPECT_TRUE(signalled(transport_.kick_fds()[0].get()));
}

TEST_F(VirtioMmio, FillsEntropyBuffersAndInterrupts) {
    ASSERT_EQ(driver_.initialise(1ull << 32), 1u | 2 | 4 | 8);
    const std::uint64_t buf = VirtioTestDriver::kDataBase;
    const std::uint16_t head = driver_.add_chain(0, {{buf, 64, true}});
    {
        std::lock_guard lock(rng_->lock());
        rng_->notify(0);
    }
    const auto used = driver_.take_used(0);
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].first, head);
    EXPECT_EQ(used[0].second, 64u);
    std::uint8_t bytes[64];
    ASSERT_TRUE(mem_.read(buf, bytes));
    int nonzero = 0;
    for (std::uint8_t b : bytes) {
        nonzero += b != 0;
    }
    EXPECT_GT(nonzero, 32);
    EXPECT_TRUE(signalled(transport_.irq_fd()));
    EXPECT_EQ(driver_.reg(0x060) & 1, 1u);
    driver_.set_reg(0x064, 1);
    EXPECT_EQ(driver_.reg(0x060), 0u);
}

TEST_F(VirtioMmio, OnADeferringThreadUsedBuffersInterruptOnceAtTheFlush) {
    ASSERT_EQ(driver_.initialise(1ull << 32), 1u | 2 | 4 | 8);
    ASSERT_TRUE(signalled(transport_.kick_fds()[0].get()));
    // The I/O thread's rule, on a thread of its own so this one stays as it was.
    std::thread io([&] {
        RngDevice::defer_interrupts_on_this_thread();
        for (int i = 0; i < 2; ++i) {
            driver_.add_chain(0, {{VirtioTestDriver::kDataBase + 64u * i, 64, true}});
            std::lock_guard lock(rng_->lock());
            rng_->notify(0);
        }
        EXPECT_FALSE(signalled(transport_.irq_fd())) << "nothing before the round ends";
        rng_->flush_interrupts();
    });
    io.join();
    EXPECT_EQ(driver_.take_used(0).size(), 2u);
    EXPECT_TRUE(signalled(transport_.irq_fd()));
    EXPECT_EQ(rng_->metrics()["interrupts"], 1) << "one interrupt for both buffers";
    rng_->flush_interrupts();
    EXPECT_FALSE(signalled(transport_.irq_fd())) << "a flush with nothing deferred is silent";
}

TEST_F(VirtioMmio, AReadableBufferIsABadRequestNotACrash) {
    ASSERT_EQ(driver_.initialise(1ull << 32), 1u | 2 | 4 | 8);
    driver_.add_chain(0, {{VirtioTestDriver::kDataBase, 64, false}});
    {
        std::lock_guard lock(rng_->lock());
        rng_->notify(0);
    }
    const auto used = driver_.take_used(0);
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].second, 0u);
    EXPECT_EQ(rng_->metrics()["bad_requests"], 1);
}

TEST_F(VirtioMmio, AQueueOutsideGuestMemorySetsNeedsReset) {
    driver_.set_reg(0x70, 1 | 2);
    driver_.set_driver_features(1ull << 32);
    driver_.set_reg(0x70, 1 | 2 | 8);
    driver_.set_reg(0x30, 0);
    driver_.set_reg(0x38, 16);
    driver_.set_reg(0x80, 0);
    driver_.set_reg(0x84, 0x100);  // 1 TiB: no RAM there
    driver_.set_reg(0x44, 1);
    EXPECT_EQ(driver_.reg(0x44), 0u);
    EXPECT_TRUE(driver_.reg(0x70) & 64) << "DEVICE_NEEDS_RESET";
    EXPECT_TRUE(driver_.reg(0x060) & 2) << "configuration change interrupt";
    driver_.set_reg(0x70, 0);
    EXPECT_EQ(driver_.reg(0x70), 0u) << "a reset clears it";
}

TEST_F(VirtioMmio, ANonPowerOfTwoQueueSizeIsRefused) {
    driver_.set_reg(0x70, 1 | 2);
    driver_.set_driver_features(1ull << 32);
    driver_.set_reg(0x70, 1 | 2 | 8);
    driver_.setup_queue(0, 12);
    EXPECT_EQ(driver_.reg(0x44), 0u);
    EXPECT_TRUE(driver_.reg(0x70) & 64);
}

TEST_F(VirtioMmio, ResetReturnsToPowerOnState) {
    ASSERT_EQ(driver_.initialise(), 1u | 2 | 4 | 8);
    driver_.set_reg(0x70, 0);
    EXPECT_EQ(driver_.reg(0x70), 0u);
    EXPECT_FALSE(rng_->active());
    driver_.set_reg(0x30, 0);
    EXPECT_EQ(driver_.reg(0x44), 0u);
    EXPECT_EQ(driver_.initialise(), 1u | 2 | 4 | 8) << "and it starts again";
}

TEST_F(VirtioMmio, QueueNotifyWithoutIoeventfdSignalsTheKick) {
    ASSERT_EQ(driver_.initialise(), 1u | 2 | 4 | 8);
    signalled(transport_.kick_fds()[0].get());
    driver_.set_reg(0x50, 0);
    EXPECT_TRUE(signalled(transport_.kick_fds()[0].get()));
}

TEST_F(VirtioMmio, QueueNotifyForAQueueThatDoesNotExistIsIgnored) {
    ASSERT_EQ(driver_.initialise(), 1u | 2 | 4 | 8);
    signalled(transport_.kick_fds()[0].get());
    for (std::uint32_t q : {1u, 7u, 0xFFFFu, 0xFFFFFFFFu}) {
        driver_.set_reg(0x50, q);
        EXPECT_FALSE(signalled(transport_.kick_fds()[0].get())) << "queue " << q;
    }
    EXPECT_FALSE(signalled(transport_.irq_fd()));
    EXPECT_EQ(driver_.reg(0x70), 1u | 2 | 4 | 8) << "the device goes on as it was";
    EXPECT_TRUE(rng_->active());
}

TEST_F(VirtioMmio, StatusBitsCannotBeTakenBackWithoutReset) {
    ASSERT_EQ(driver_.initialise(), 1u | 2 | 4 | 8);
    driver_.set_reg(0x70, 1 | 2);
    EXPECT_EQ(driver_.reg(0x70), 1u | 2 | 4 | 8);
}

TEST_F(VirtioMmio, QueueRegistersAreFrozenWhileTheDeviceRuns) {
    ASSERT_EQ(driver_.initialise(), 1u | 2 | 4 | 8);
    driver_.set_reg(0x30, 0);
    driver_.set_reg(0x80, 0x5000);
    EXPECT_EQ(rng_->queues()[0].desc_addr(), driver_.desc_addr(0));
}

TEST_F(VirtioMmio, OneNotificationFillsAtMostItsByteBudget) {
    ASSERT_EQ(driver_.initialise(), 1u | 2 | 4 | 8);
    const std::uint32_t big = RngDevice::kMaxBytesPerRequest;
    for (std::uint64_t i = 0; i < VirtioTestDriver::kQueueSize; ++i) {
        driver_.add_chain(0, {{VirtioTestDriver::kDataBase + i * big, big, true}});
    }
    while (signalled(transport_.kick_fds()[0].get())) {
    }
    {
        std::lock_guard lock(rng_->lock());
        rng_->notify(0);
    }
    const std::size_t per_round = RngDevice::kMaxBytesPerNotification / big;
    EXPECT_EQ(driver_.take_used(0).size(), per_round);
    EXPECT_TRUE(signalled(transport_.kick_fds()[0].get())) << "the rest after the others";
    {
        std::lock_guard lock(rng_->lock());
        rng_->notify(0);
    }
    EXPECT_EQ(driver_.take_used(0).size(), per_round);
}

}  // namespace
