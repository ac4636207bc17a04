// virtio-blk through its transport, on a real file via io_uring: what the
// guest's driver sees for reads, writes, flushes, discards, errors and resets.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "devices/virtio/blk.h"
#include "devices/virtio/mmio_transport.h"
#include "storage/disk.h"
#include "tests/unit/virtio_test_driver.h"

namespace {

using devices::virtio::BlockDevice;
using devices::virtio::MmioTransport;
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

TEST_F(VirtioBlk, CompletionsAfterAResetAreDropped) {
    start();
    std::uint8_t header[16] = {};
    ASSERT_TRUE(mem_.write(kHeader, header));
    driver_->add_chain(0, {{kHeader, 16, false}, {kData, 4096, true}, {kStatus, 1, true}});
    {
        std::lock_guard lock(blk_->lock());
        blk_->notify(0);
    }
    EXPECT_EQ(blk_->requests_in_flight(), 1u);
    driver_->set_reg(0x70, 0);  // reset while the read is in flight
    while (ring_.in_flight() > 0) {
        ring_.run(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(blk_->requests_in_flight(), 0u);
    EXPECT_TRUE(driver_->take_used(0).empty()) << "nothing lands in the reset queue";
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
    if (blk_->requests_in_flight() == 1) {
        EXPECT_EQ(*mem_.read_obj<std::uint16_t>(avail_event), 1)
            << "a request behind a flush must not wait for it: kick as usual";
    }
    for (int i = 0; i < 100 && blk_->requests_in_flight() > 0; ++i) {
        ring_.run(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(driver_->take_used(0).size(), 1u);
}

}  // namespace
