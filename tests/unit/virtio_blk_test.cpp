// virtio-blk through its transport, on a real file via io_uring: what the
// guest's driver sees for reads, writes, flushes, discards, errors and resets.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/mmio_transport.h"
#include "storage/disk.h"
#include "tests/unit/virtio_fakes.h"
#include "tests/unit/virtio_test_driver.h"
#include "vmm/io_thread.h"
#include "vmm/virtio_devices.h"

namespace {

using devices::virtio::BlockDevice;
using devices::virtio::MmioTransport;
using testing_support::FakeDisk;
using testing_support::VirtioTestDriver;

constexpr std::uint64_t kHeader = 0x200000;
constexpr std::uint64_t kData = 0x300000;
constexpr std::uint64_t kStatus = 0x400000;

class VirtioBlk : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/virtio-blk-test-XXXXXX";
        const int fd = mkstemp(tmpl);
        ASSERT_GE(fd, 0);
        path_ = tmpl;
        ASSERT_EQ(ftruncate(fd, 1 << 20), 0);
        close(fd);
    }
    void TearDown() override { unlink(path_.c_str()); }

    void start(bool read_only = false) {
        storage::DiskOptions options;
        options.path = path_;
        options.read_only = read_only;
        blk_ = std::make_shared<BlockDevice>(
            "virtio-blk test", "serial-42", storage::open_disk(ring_, options), mem_,
            [this](const std::string& op, int error) { errors_.emplace_back(op, error); });
        transport_ = std::make_unique<MmioTransport>(blk_);
        driver_ = std::make_unique<VirtioTestDriver>(*transport_, mem_);
        ASSERT_EQ(driver_->initialise(), 1u | 2 | 4 | 8);
    }
    // Posts one request and runs the device and the ring until it is used.
    // Returns the status byte, or -1 when the request never came back.
    int request(std::uint32_t type, std::uint64_t sector, std::vector<VirtioTestDriver::Seg> data) {
        std::uint8_t header[16] = {};
        std::memcpy(header, &type, 4);
        std::memcpy(header + 8, &sector, 8);
        EXPECT_TRUE(mem_.write(kHeader, header));
        EXPECT_TRUE(mem_.write_obj<std::uint8_t>(kStatus, 0xEE));
        std::vector<VirtioTestDriver::Seg> segs{{kHeader, 16, false}};
        segs.insert(segs.end(), data.begin(), data.end());
        segs.push_back({kStatus, 1, true});
        driver_->add_chain(0, segs);
        {
            std::lock_guard lock(blk_->lock());
            blk_->notify(0);
        }
        for (int i = 0; i < 100; ++i) {
            const auto used = driver_->take_used(0);
            if (!used.empty()) {
                last_used_len_ = used.back().second;
                return *mem_.read_obj<std::uint8_t>(kStatus);
            }
            ring_.run(std::chrono::milliseconds(100));
        }
        return -1;
    }
    std::string file_bytes(std::size_t offset, std::size_t n) {
        std::ifstream in(path_, std::ios::binary);
        in.seekg(static_cast<long>(offset));
        std::string s(n, '\0');
        in.read(s.data(), static_cast<long>(n));
        return s;
    }

    std::string path_;
    base::GuestMemory mem_{16 << 20};
    base::IoRing ring_{64};
    std::shared_ptr<BlockDevice> blk_;
    std::unique_ptr<MmioTransport> transport_;
    std::unique_ptr<VirtioTestDriver> driver_;
    std::vector<std::pair<std::string, int>> errors_;
    std::uint32_t last_used_len_ = 0;
};

TEST_F(VirtioBlk, AnnouncesCapacityInSectors) {
    start();
    std::uint8_t cap[8];
    transport_->read(MmioTransport::kConfigOffset, cap);
    std::uint64_t sectors;
    std::memcpy(&sectors, cap, 8);
    EXPECT_EQ(sectors, (1u << 20) / 512);
}

TEST_F(VirtioBlk, AnnouncesTheDiscardAndWriteZeroesLimitsItEnforces) {
    start();
    auto config_u32 = [&](std::uint64_t offset) {
        std::uint8_t b[4];
        transport_->read(MmioTransport::kConfigOffset + offset, b);
        std::uint32_t v;
        std::memcpy(&v, b, 4);
        return v;
    };
    namespace blk = devices::virtio::blk;
    EXPECT_EQ(config_u32(36), blk::kMaxRangeSectors) << "max_discard_sectors";
    EXPECT_EQ(config_u32(40), blk::kMaxRangeSegments) << "max_discard_seg";
    EXPECT_EQ(config_u32(44), blk::kDiscardAlignmentSectors) << "discard_sector_alignment";
    EXPECT_EQ(config_u32(48), blk::kMaxRangeSectors) << "max_write_zeroes_sectors";
    EXPECT_EQ(config_u32(52), blk::kMaxRangeSegments) << "max_write_zeroes_seg";
}

TEST_F(VirtioBlk, WritesReachTheFileAndReadsComeBack) {
    start();
    std::vector<std::uint8_t> pattern(4096);
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        pattern[i] = static_cast<std::uint8_t>(i * 7 + 1);
    }
    ASSERT_TRUE(mem_.write(kData, pattern));
    EXPECT_EQ(request(1, 16, {{kData, 4096, false}}), 0);
    EXPECT_EQ(last_used_len_, 1u);
    EXPECT_EQ(file_bytes(16 * 512, 4096), std::string(pattern.begin(), pattern.end()));

    ASSERT_TRUE(mem_.zero(kData, 4096));
    EXPECT_EQ(request(0, 16, {{kData, 1024, true}, {kData + 1024, 3072, true}}), 0);
    EXPECT_EQ(last_used_len_, 4097u) << "data plus the status byte";
    std::vector<std::uint8_t> back(4096);
    ASSERT_TRUE(mem_.read(kData, back));
    EXPECT_EQ(back, pattern);
    EXPECT_EQ(request(4, 0, {}), 0) << "flush";
    EXPECT_EQ(blk_->metrics()["write_bytes"], 4096);
    EXPECT_EQ(blk_->metrics()["read_bytes"], 4096);
}

TEST_F(VirtioBlk, GetIdAnswersTheSerial) {
    start();
    EXPECT_EQ(request(8, 0, {{kData, 20, true}}), 0);
    char id[21] = {};
    ASSERT_TRUE(mem_.read(kData, {reinterpret_cast<std::uint8_t*>(id), 20}));
    EXPECT_STREQ(id, "serial-42");
}

TEST_F(VirtioBlk, ReadOnlyDiskAnswersWritesWithAnError) {
    start(/*read_only=*/true);
    EXPECT_TRUE(driver_->device_features() & (1u << 5)) << "VIRTIO_BLK_F_RO";
    EXPECT_EQ(request(1, 0, {{kData, 512, false}}), 1);
}

TEST_F(VirtioBlk, RequestsPastTheEndAndUnknownTypesFailCleanly) {
    start();
    EXPECT_EQ(request(0, (1 << 20) / 512, {{kData, 512, true}}), 1);
    EXPECT_EQ(request(77, 0, {}), 2);
    EXPECT_EQ(blk_->metrics()["bad_requests"], 2);
}

TEST_F(VirtioBlk, DiscardPunchesAHole) {
    {
        std::ofstream out(path_, std::ios::binary | std::ios::in);
        std::string ones(1 << 20, '\x5a');
        out.write(ones.data(), static_cast<long>(ones.size()));
    }
    start();
    std::uint8_t seg[16] = {};
    const std::uint64_t sector = 0;
    const std::uint32_t count = (1 << 20) / 512;
    std::memcpy(seg, &sector, 8);
    std::memcpy(seg + 8, &count, 4);
    ASSERT_TRUE(mem_.write(kData, seg));
    struct stat before {};
    ASSERT_EQ(stat(path_.c_str(), &before), 0);
    EXPECT_EQ(request(11, 0, {{kData, 16, false}}), 0);
    struct stat after {};
    ASSERT_EQ(stat(path_.c_str(), &after), 0);
    EXPECT_LT(after.st_blocks, before.st_blocks);
    EXPECT_EQ(file_bytes(0, 16), std::string(16, '\0'));
}

TEST_F(VirtioBlk, ABackendFailureIsAnIoErrorCountedAndReported) {
    start();
    ASSERT_EQ(truncate(path_.c_str(), 0), 0);  // the file shrinks under the guest
    EXPECT_EQ(request(0, 100, {{kData, 4096, true}}), 1);
    EXPECT_EQ(blk_->metrics()["errors"], 1);
    ASSERT_EQ(errors_.size(), 1u);
    EXPECT_EQ(errors_[0].first, "read");
    ASSERT_EQ(truncate(path_.c_str(), 1 << 20), 0);
    EXPECT_EQ(request(0, 100, {{kData, 4096, true}}), 0) << "and the device goes on";
}

// A disk whose reads come from a pipe through the real io_uring: a read
// stays in the kernel until the test writes into the pipe or it is
// cancelled, so "a read in flight at the reset" is certain, not a race.
class PipeDisk final : public storage::Disk {
  public:
    PipeDisk(base::IoRing& ring, int fd) : ring_(ring), fd_(fd) {}
    std::uint64_t size() const override { return 1 << 20; }
    bool read_only() const override { return true; }
    void read(std::uint64_t, std::span<const iovec> iov, storage::Completion done) override {
        ring_.readv(fd_, iov, base::IoRing::kStreamOffset, std::move(done));
    }
    void write(std::uint64_t, std::span<const iovec>, storage::Completion done) override {
        ring_.nop([done = std::move(done)](int) { done(-EROFS); });
    }
    void flush(storage::Completion done) override { write(0, {}, std::move(done)); }
    void discard(std::uint64_t, std::uint64_t, storage::Completion done) override {
        write(0, {}, std::move(done));
    }
    void write_zeroes(std::uint64_t, std::uint64_t, bool, storage::Completion done) override {
        write(0, {}, std::move(done));
    }
    void cancel() override { ring_.cancel_fd(fd_); }

  private:
    base::IoRing& ring_;
    int fd_;
};

TEST(VirtioBlkReset, CompletionsAfterAResetAreDroppedAndItsReadNeverLands) {
    base::GuestMemory mem(16 << 20);
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    base::Fd pipe_read(fds[0]), pipe_write(fds[1]);
    auto io = std::make_unique<vmm::IoThread>(16);
    auto blk = std::make_shared<BlockDevice>(
        "virtio-blk pipe", "pipe", std::make_unique<PipeDisk>(io->ring(), pipe_read.get()), mem,
        nullptr);
    auto transport = std::make_shared<MmioTransport>(blk);
    vmm::serve_on_io_thread(*io, transport);
    VirtioTestDriver driver(*transport, mem);
    ASSERT_EQ(driver.initialise(), 1u | 2 | 4 | 8);
    io->start();  // the I/O thread takes DRIVER_OK's kick from here on

    // The guest's buffer and the disk's data differ, so stale data would show.
    const std::vector<std::uint8_t> mine(4096, 0xAA), stale(4096, 0x5A);
    ASSERT_TRUE(mem.write(kData, mine));
    std::uint8_t header[16] = {};  // read sector 0
    ASSERT_TRUE(mem.write(kHeader, header));
    ASSERT_TRUE(mem.write_obj<std::uint8_t>(kStatus, 0xEE));
    driver.add_chain(0, {{kHeader, 16, false}, {kData, 4096, true}, {kStatus, 1, true}});
    driver.set_reg(0x50, 0);  // QueueNotify
    for (int i = 0; i < 500 && blk->requests_in_flight() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(blk->requests_in_flight(), 1u) << "the read waits in io_uring for the pipe";

    driver.set_reg(0x70, 0);  // the driver resets the device
    EXPECT_EQ(blk->requests_in_flight(), 0u) << "the reset returned with the read in flight";
    EXPECT_EQ(driver.reg(0x70), 0u) << "the reset is done";

    // The data the read waited for arrives now: it must go nowhere.
    ASSERT_EQ(write(pipe_write.get(), stale.data(), stale.size()), 4096);
    for (int i = 0; i < 50 && blk->requests_in_flight() > 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    io->stop();
    std::vector<std::uint8_t> now(4096);
    ASSERT_TRUE(mem.read(kData, now));
    EXPECT_EQ(now, mine) << "the guest's buffer changed after the reset returned";
    EXPECT_EQ(*mem.read_obj<std::uint8_t>(kStatus), 0xEE) << "no status byte after the reset";
    EXPECT_EQ(*mem.read_obj<std::uint16_t>(driver.used_addr(0) + 2), 0) << "no used entry";
    EXPECT_EQ(blk->metrics()["errors"], 0) << "a cancelled request is no disk error";
}

// The same with a disk the test completes by hand: the reset is seen to
// wait for the request, and to return only once it has ended.
class VirtioBlkFake : public ::testing::Test {
  protected:
    void SetUp() override {
        auto disk = std::make_unique<FakeDisk>(1 << 20);
        disk_ = disk.get();
        blk_ = std::make_shared<BlockDevice>("virtio-blk fake", "fake", std::move(disk), mem_,
                                             nullptr);
        transport_ = std::make_unique<MmioTransport>(blk_);
        transport_->set_reset_wait(std::chrono::minutes(1));  // never reached here
        driver_ = std::make_unique<VirtioTestDriver>(*transport_, mem_);
        ASSERT_EQ(driver_->initialise(), 1u | 2 | 4 | 8);
    }
    void post_read(std::uint64_t sector) {
        std::uint8_t header[16] = {};
        std::memcpy(header + 8, &sector, 8);
        ASSERT_TRUE(mem_.write(kHeader, header));
        ASSERT_TRUE(mem_.write_obj<std::uint8_t>(kStatus, 0xEE));
        driver_->add_chain(0, {{kHeader, 16, false}, {kData, 4096, true}, {kStatus, 1, true}});
        std::lock_guard lock(blk_->lock());
        blk_->notify(0);
    }
    // What the I/O thread does when cancel_fd() is signalled; false when it
    // is not within 10 s.
    bool serve_cancel() {
        pollfd p{transport_->cancel_fd(), POLLIN, 0};
        if (poll(&p, 1, 10000) != 1) {
            return false;
        }
        std::uint64_t n;
        EXPECT_EQ(read(transport_->cancel_fd(), &n, sizeof n), 8);
        std::lock_guard lock(blk_->lock());
        blk_->cancel_requests();
        return true;
    }

    base::GuestMemory mem_{16 << 20};
    FakeDisk* disk_ = nullptr;
    std::shared_ptr<BlockDevice> blk_;
    std::unique_ptr<MmioTransport> transport_;
    std::unique_ptr<VirtioTestDriver> driver_;
};

TEST_F(VirtioBlkFake, ADriversResetReturnsOnlyOnceNoRequestCanTouchGuestMemory) {
    disk_->fill = 0x5A;
    const std::vector<std::uint8_t> mine(4096, 0xAA);
    ASSERT_TRUE(mem_.write(kData, mine));
    post_read(0);
    ASSERT_EQ(disk_->pending.size(), 1u);

    std::atomic<bool> returned{false};
    std::thread vcpu([&] {
        driver_->set_reg(0x70, 0);
        returned = true;
    });
    // The I/O thread's part: asked to cancel, the disk cannot (the read is
    // running in the kernel), so the request ends when it ends.
    const bool asked = serve_cancel();
    EXPECT_TRUE(asked) << "the reset did not ask the I/O thread to cancel";
    EXPECT_EQ(disk_->cancels, asked ? 1 : 0);
    EXPECT_FALSE(returned) << "the reset returned while the read could still land";
    EXPECT_EQ(driver_->reg(0x70), 64u) << "a reset not done yet reads as non-zero";
    {
        std::lock_guard lock(blk_->lock());
        disk_->complete(0);  // the read lands now, then completes
    }
    vcpu.join();
    EXPECT_EQ(driver_->reg(0x70), 0u);
    EXPECT_EQ(*mem_.read_obj<std::uint8_t>(kStatus), 0xEE) << "no status byte after the reset";
    EXPECT_TRUE(driver_->take_used(0).empty()) << "no used entry after the reset";
    EXPECT_EQ(blk_->requests_in_flight(), 0u);
    // The guest owns its buffer again and nothing writes it any more.
    ASSERT_TRUE(mem_.write(kData, mine));
    EXPECT_TRUE(disk_->pending.empty());
}

TEST_F(VirtioBlkFake, AResetTheHostCannotEndStaysPendingUntilTheRequestEnds) {
    transport_->set_reset_wait(std::chrono::milliseconds(20));
    post_read(0);
    driver_->set_reg(0x70, 0);  // returns after 20 ms: the read is still out
    EXPECT_EQ(blk_->requests_in_flight(), 1u);
    EXPECT_TRUE(blk_->reset_pending());
    EXPECT_EQ(driver_->reg(0x70), 64u) << "DEVICE_NEEDS_RESET, not 0: the reset is not done";
    // A driver that goes on regardless changes nothing.
    EXPECT_NE(driver_->initialise(), 1u | 2 | 4 | 8);
    EXPECT_FALSE(blk_->active());
    driver_->set_reg(0x30, 0);
    EXPECT_EQ(driver_->reg(0x44), 0u) << "no queue comes alive";

    {
        std::lock_guard lock(blk_->lock());
        disk_->complete(0, -EIO);
    }
    EXPECT_FALSE(blk_->reset_pending()) << "the last request's end finishes the reset";
    EXPECT_EQ(driver_->reg(0x70), 0u);
    EXPECT_EQ(*mem_.read_obj<std::uint8_t>(kStatus), 0xEE);
    EXPECT_EQ(*mem_.read_obj<std::uint16_t>(driver_->used_addr(0) + 2), 0);

    driver_ = std::make_unique<VirtioTestDriver>(*transport_, mem_);  // rings start over
    ASSERT_EQ(driver_->initialise(), 1u | 2 | 4 | 8) << "and the device starts again";
    post_read(0);
    {
        std::lock_guard lock(blk_->lock());
        disk_->complete(0);
    }
    EXPECT_EQ(driver_->take_used(0).size(), 1u);
    EXPECT_EQ(*mem_.read_obj<std::uint8_t>(kStatus), 0);
}

TEST_F(VirtioBlkFake, ThePowerOnResetNeverWaitsItsCallerWaitsForQuiet) {
    post_read(0);
    transport_->reset();  // the reboot's: returns at once
    EXPECT_TRUE(blk_->reset_pending());
    EXPECT_FALSE(blk_->quiet());
    EXPECT_FALSE(
        blk_->wait_quiet(std::chrono::steady_clock::now() + std::chrono::milliseconds(10)));
    std::thread io([&] {
        std::lock_guard lock(blk_->lock());
        disk_->complete(0);
    });
    EXPECT_TRUE(blk_->wait_quiet(std::chrono::steady_clock::now() + std::chrono::seconds(10)));
    io.join();
    EXPECT_EQ(*mem_.read_obj<std::uint8_t>(kStatus), 0xEE);
}

TEST_F(VirtioBlkFake, OneNotificationServesAtMostOneRingsWorth) {
    // A driver that posts a new request for every one completed (as vCPUs
    // would, concurrently): GET_ID completes at once, so without a budget one
    // kick would keep the I/O thread here for good.
    driver_ = std::make_unique<VirtioTestDriver>(*transport_, mem_);
    ASSERT_EQ(driver_->initialise(~(1ull << 29)), 1u | 2 | 4 | 8);  // no EVENT_IDX
    std::uint8_t header[16] = {8};                                  // VIRTIO_BLK_T_GET_ID
    ASSERT_TRUE(mem_.write(kHeader, header));
    int posted = 0;
    auto post = [&] {
        driver_->add_chain(0, {{kHeader, 16, false}, {kData, 20, true}, {kStatus, 1, true}});
        ++posted;
    };
    blk_->set_interrupt_sink([&] {
        if (posted < 1000) {
            post();
        }
    });
    post();
    pollfd kick{transport_->kick_fds()[0].get(), POLLIN, 0};
    while (poll(&kick, 1, 0) == 1) {  // DRIVER_OK's kick
        std::uint64_t n;
        ASSERT_EQ(read(kick.fd, &n, sizeof n), 8);
    }
    {
        std::lock_guard lock(blk_->lock());
        blk_->notify(0);
    }
    EXPECT_EQ(driver_->take_used(0).size(), VirtioTestDriver::kQueueSize);
    EXPECT_EQ(poll(&kick, 1, 0), 1) << "it asked to be served again after the others";
    {
        std::lock_guard lock(blk_->lock());
        blk_->notify(0);  // what the I/O thread does on that kick
    }
    EXPECT_EQ(driver_->take_used(0).size(), VirtioTestDriver::kQueueSize);
    EXPECT_EQ(blk_->metrics()["notifications"], 1) << "its own kick is not the driver's";
}

TEST_F(VirtioBlk, ABusyQueueIsServedAtTheRoundsEndWithoutKicksAndListensAgainWhenIdle) {
    start();
    // The driver's side of EVENT_IDX: it kicks only when its avail idx
    // passes avail_event, which the device leaves behind while it is quiet.
    const std::uint64_t avail_event = driver_->used_addr(0) + 4 + 8 * VirtioTestDriver::kQueueSize;
    auto post_read = [&](std::uint64_t n) {
        std::uint8_t header[16] = {};  // type 0 (read), sector n
        std::memcpy(header + 8, &n, 8);
        EXPECT_TRUE(mem_.write(kHeader + 16 * n, header));
        driver_->add_chain(0, {{kHeader + 16 * n, 16, false},
                               {kData + 4096 * n, 4096, true},
                               {kStatus + n, 1, true}});
    };
    auto end_round = [&] {
        ring_.run(std::chrono::milliseconds(0));
        blk_->flush_interrupts();
    };

    post_read(0);
    {
        std::lock_guard lock(blk_->lock());
        blk_->notify(0);
    }
    ASSERT_EQ(blk_->requests_in_flight(), 1u);
    EXPECT_EQ(*mem_.read_obj<std::uint16_t>(avail_event), 0)
        << "a read in flight: no notification asked for the next request";

    post_read(1);  // not kicked, as a driver would not
    std::size_t used = 0;
    for (int i = 0; i < 100 && used < 2; ++i) {
        ring_.run(std::chrono::milliseconds(50));
        blk_->flush_interrupts();
        used += driver_->take_used(0).size();
    }
    EXPECT_EQ(used, 2u) << "the second request was found at the end of a round";
    EXPECT_EQ(blk_->metrics()["notifications"], 1) << "one kick for two requests";
    end_round();
    EXPECT_EQ(blk_->requests_in_flight(), 0u);
    EXPECT_EQ(*mem_.read_obj<std::uint16_t>(avail_event), 2)
        << "idle again: the next request is to be kicked";
}

TEST_F(VirtioBlk, AFlushInFlightKeepsNotificationsOn) {
    start();
    const std::uint64_t avail_event = driver_->used_addr(0) + 4 + 8 * VirtioTestDriver::kQueueSize;
    std::uint8_t header[16] = {};
    header[0] = 4;  // VIRTIO_BLK_T_FLUSH
    ASSERT_TRUE(mem_.write(kHeader, header));
    driver_->add_chain(0, {{kHeader, 16, false}, {kStatus, 1, true}});
    {
        std::lock_guard lock(blk_->lock());
        blk_->notify(0);
    }
    // Completions run from the ring's run(), never inside the submitting call.
    ASSERT_EQ(blk_->requests_in_flight(), 1u);
    EXPECT_EQ(*mem_.read_obj<std::uint16_t>(avail_event), 1)
        << "a request behind a flush must not wait for it: kick as usual";
    for (int i = 0; i < 100 && blk_->requests_in_flight() > 0; ++i) {
        ring_.run(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(driver_->take_used(0).size(), 1u);
}

}  // namespace
