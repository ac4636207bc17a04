// virtio-net on a real tap, driven through its transport: frames the guest
// sends reach the host's side of the interface, frames the host sends are
// spread over the guest's receive buffers, and broken chains cost only
// themselves. Needs /dev/net/tun and CAP_NET_ADMIN (skipped otherwise).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "devices/virtio/mmio_transport.h"
#include "devices/virtio/net.h"
#include "tests/unit/virtio_fakes.h"
#include "tests/unit/virtio_test_driver.h"

namespace {

using devices::virtio::MmioTransport;
using devices::virtio::NetDevice;
using testing_support::FakeNetBackend;
using testing_support::VirtioTestDriver;

constexpr std::uint64_t kTxFrame = 0x200000;
constexpr std::uint64_t kRxBuffers = 0x300000;
constexpr std::size_t kHeader = 12;
constexpr std::uint16_t kTestEtherType = 0x88B5;  // IEEE local experimental

// A test frame: broadcast destination, a local source, the experimental
// EtherType and `payload` bytes counting up from `seed`.
std::vector<std::uint8_t> frame(std::size_t payload, std::uint8_t seed) {
    std::vector<std::uint8_t> f(14 + payload);
    std::memset(f.data(), 0xFF, 6);
    const std::uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x42};
    std::memcpy(f.data() + 6, src, 6);
    f[12] = kTestEtherType >> 8;
    f[13] = kTestEtherType & 0xFF;
    for (std::size_t i = 0; i < payload; ++i) {
        f[14 + i] = static_cast<std::uint8_t>(seed + i);
    }
    return f;
}

class VirtioNet : public ::testing::Test {
  protected:
    void SetUp() override {
        name_ = "vmmut" + std::to_string(getpid() % 100000);
        try {
            tap_ = std::make_unique<net::Tap>(name_);
        } catch (const base::InvalidInput& e) {
            GTEST_SKIP() << "no tap here: " << e.what();
        }
        // Bring the interface up, quiet (no IPv6 autoconfiguration, no ARP:
        // only the test's frames may cross it), and watch it from the host.
        if (FILE* f =
                std::fopen(("/proc/sys/net/ipv6/conf/" + name_ + "/disable_ipv6").c_str(), "w")) {
            std::fputs("1", f);
            std::fclose(f);
        }
        const int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ifreq req{};
        std::strncpy(req.ifr_name, name_.c_str(), IFNAMSIZ - 1);
        ASSERT_EQ(ioctl(ctl, SIOCGIFFLAGS, &req), 0);
        req.ifr_flags |= IFF_UP | IFF_NOARP;
        ASSERT_EQ(ioctl(ctl, SIOCSIFFLAGS, &req), 0);
        close(ctl);
        host_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(kTestEtherType));
        ASSERT_GE(host_, 0);
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_protocol = htons(kTestEtherType);
        addr.sll_ifindex = static_cast<int>(if_nametoindex(name_.c_str()));
        ASSERT_EQ(bind(host_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        ifindex_ = addr.sll_ifindex;

        net_ = std::make_shared<NetDevice>(
            "virtio-net test",
            std::make_unique<devices::virtio::TapBackend>(std::move(tap_), ring_),
            std::array<std::uint8_t, 6>{2, 0, 0, 0, 0, 1}, mem_);
        transport_ = std::make_unique<MmioTransport>(net_);
        driver_ = std::make_unique<VirtioTestDriver>(*transport_, mem_);
        ASSERT_EQ(driver_->initialise(), 1u | 2 | 4 | 8);
        notify(NetDevice::kRxQueue);  // what DRIVER_OK's kick makes the I/O thread do
    }
    void TearDown() override {
        if (host_ >= 0) {
            close(host_);
        }
    }
    void notify(unsigned q) {
        std::lock_guard lock(net_->lock());
        net_->notify(q);
    }
    void run_ring(int rounds = 20) {
        for (int i = 0; i < rounds; ++i) {
            ring_.run(std::chrono::milliseconds(50));
        }
    }
    void host_send(const std::vector<std::uint8_t>& f) {
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_ifindex = ifindex_;
        to.sll_halen = 6;
        std::memset(to.sll_addr, 0xFF, 6);
        ASSERT_EQ(sendto(host_, f.data(), f.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to),
                  static_cast<ssize_t>(f.size()));
    }
    std::vector<std::uint8_t> host_receive() {
        pollfd p{host_, POLLIN, 0};
        std::vector<std::uint8_t> buf(65536);
        if (poll(&p, 1, 2000) != 1) {
            return {};
        }
        const ssize_t n = recv(host_, buf.data(), buf.size(), 0);
        buf.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
        return buf;
    }

    std::string name_;
    std::unique_ptr<net::Tap> tap_;
    int host_ = -1;
    int ifindex_ = 0;
    base::GuestMemory mem_{16 << 20};
    base::IoRing ring_{64};
    std::shared_ptr<NetDevice> net_;
    std::unique_ptr<MmioTransport> transport_;
    std::unique_ptr<VirtioTestDriver> driver_;
};

TEST_F(VirtioNet, AnnouncesItsMacAndLinkUp) {
    std::uint8_t config[8];
    transport_->read(MmioTransport::kConfigOffset, config);
    EXPECT_EQ(config[0], 2);
    EXPECT_EQ(config[5], 1);
    EXPECT_EQ(config[6] & 1, 1) << "VIRTIO_NET_S_LINK_UP";
}

TEST_F(VirtioNet, TransmittedFramesReachTheHostSide) {
    const auto f = frame(100, 7);
    std::vector<std::uint8_t> with_header(kHeader, 0);
    with_header.insert(with_header.end(), f.begin(), f.end());
    ASSERT_TRUE(mem_.write(kTxFrame, with_header));
    // Header and frame in separate descriptors, as Linux sends them.
    driver_->add_chain(NetDevice::kTxQueue,
                       {{kTxFrame, kHeader, false},
                        {kTxFrame + kHeader, static_cast<std::uint32_t>(f.size()), false}});
    notify(NetDevice::kTxQueue);
    run_ring(4);
    EXPECT_EQ(host_receive(), f);
    const auto used = driver_->take_used(NetDevice::kTxQueue);
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(net_->metrics()["tx_packets"], 1);
    EXPECT_EQ(net_->metrics()["tx_bytes"], f.size());
}

TEST_F(VirtioNet, ReceivedFramesSpreadOverMergeableBuffers) {
    // Three 512-byte buffers for a 1200-byte frame.
    for (int i = 0; i < 3; ++i) {
        driver_->add_chain(NetDevice::kRxQueue, {{kRxBuffers + 0x1000u * i, 512, true}});
    }
    notify(NetDevice::kRxQueue);
    const auto f = frame(1186, 3);
    host_send(f);
    run_ring();
    const auto used = driver_->take_used(NetDevice::kRxQueue);
    ASSERT_EQ(used.size(), 3u);
    EXPECT_EQ(used[0].second + used[1].second + used[2].second, kHeader + f.size());
    std::uint16_t num_buffers = 0;
    ASSERT_TRUE(mem_.read(kRxBuffers + 10, {reinterpret_cast<std::uint8_t*>(&num_buffers), 2}));
    EXPECT_EQ(num_buffers, 3);
    std::vector<std::uint8_t> got;
    for (int i = 0; i < 3; ++i) {
        std::vector<std::uint8_t> part(used[i].second);
        ASSERT_TRUE(mem_.read(kRxBuffers + 0x1000u * i, part));
        got.insert(got.end(), part.begin(), part.end());
    }
    EXPECT_EQ(std::vector<std::uint8_t>(got.begin() + kHeader, got.end()), f);
    EXPECT_EQ(net_->metrics()["rx_packets"], 1);
}

TEST_F(VirtioNet, AFrameWaitsForBuffersInsteadOfBeingLost) {
    const auto f = frame(1000, 9);
    host_send(f);
    run_ring(4);
    EXPECT_TRUE(driver_->take_used(NetDevice::kRxQueue).empty()) << "no buffers yet";
    driver_->add_chain(NetDevice::kRxQueue, {{kRxBuffers, 600, true}});
    notify(NetDevice::kRxQueue);
    EXPECT_TRUE(driver_->take_used(NetDevice::kRxQueue).empty()) << "not enough room yet";
    driver_->add_chain(NetDevice::kRxQueue, {{kRxBuffers + 0x1000, 600, true}});
    notify(NetDevice::kRxQueue);
    run_ring(2);
    const auto used = driver_->take_used(NetDevice::kRxQueue);
    ASSERT_EQ(used.size(), 2u);
    EXPECT_EQ(used[0].second + used[1].second, kHeader + f.size());
}

TEST_F(VirtioNet, BrokenChainsCostOnlyThemselves) {
    // A transmit chain with a device-writable buffer and one too short for
    // the header: both returned unused; a good one after them still goes.
    driver_->add_chain(NetDevice::kTxQueue, {{kTxFrame, 64, true}});
    driver_->add_chain(NetDevice::kTxQueue, {{kTxFrame, 4, false}});
    const auto f = frame(60, 1);
    std::vector<std::uint8_t> with_header(kHeader, 0);
    with_header.insert(with_header.end(), f.begin(), f.end());
    ASSERT_TRUE(mem_.write(kTxFrame + 0x1000, with_header));
    driver_->add_chain(
        NetDevice::kTxQueue,
        {{kTxFrame + 0x1000, static_cast<std::uint32_t>(with_header.size()), false}});
    notify(NetDevice::kTxQueue);
    run_ring(4);
    EXPECT_EQ(host_receive(), f);
    EXPECT_EQ(driver_->take_used(NetDevice::kTxQueue).size(), 3u);
    EXPECT_EQ(net_->metrics()["bad_requests"], 2);
    EXPECT_EQ(net_->metrics()["tx_dropped"], 2);
}

TEST_F(VirtioNet, ResetDropsTheWaitingFrameAndStartsAgain) {
    host_send(frame(200, 5));
    run_ring(4);
    driver_->set_reg(0x70, 0);
    ASSERT_EQ(driver_->initialise(), 1u | 2 | 4 | 8);
    notify(NetDevice::kRxQueue);
    VirtioTestDriver fresh(*transport_, mem_);  // indices start over after the reset
    fresh.add_chain(NetDevice::kRxQueue, {{kRxBuffers, 2048, true}});
    notify(NetDevice::kRxQueue);
    const auto f = frame(300, 6);
    host_send(f);
    run_ring();
    const auto used = fresh.take_used(NetDevice::kRxQueue);
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].second, kHeader + f.size()) << "the new frame, not the one from before";
}

// The same device on a fake backend the test drives (no tap needed): what
// the tap does, and when, is the test's choice.
class VirtioNetFake : public ::testing::Test {
  protected:
    void SetUp() override {
        auto backend = std::make_unique<FakeNetBackend>();
        backend_ = backend.get();
        net_ = std::make_shared<NetDevice>("virtio-net fake", std::move(backend),
                                           std::array<std::uint8_t, 6>{2, 0, 0, 0, 0, 2}, mem_);
        transport_ = std::make_unique<MmioTransport>(net_);
        driver_ = std::make_unique<VirtioTestDriver>(*transport_, mem_);
        ASSERT_EQ(driver_->initialise(), 1u | 2 | 4 | 8);
    }
    void notify(unsigned q) {
        std::lock_guard lock(net_->lock());
        net_->notify(q);
    }
    std::vector<std::uint8_t> with_header(const std::vector<std::uint8_t>& f) {
        std::vector<std::uint8_t> out(kHeader, 0);
        out.insert(out.end(), f.begin(), f.end());
        return out;
    }

    base::GuestMemory mem_{16 << 20};
    FakeNetBackend* backend_ = nullptr;
    std::shared_ptr<NetDevice> net_;
    std::unique_ptr<MmioTransport> transport_;
    std::unique_ptr<VirtioTestDriver> driver_;
};

TEST_F(VirtioNetFake, AfterAReadErrorReceiveTriesAgainOnItsOwnWithoutSpinning) {
    // The guest posts a buffer and kicks once, then never again (it waits
    // for a packet). The tap fails for a while.
    backend_->read_errors = {EIO};
    backend_->keep_failing = true;
    driver_->add_chain(NetDevice::kRxQueue, {{kRxBuffers, 2048, true}});
    notify(NetDevice::kRxQueue);
    EXPECT_EQ(backend_->reads, 1);
    EXPECT_EQ(net_->metrics()["rx_errors"], 1);
    // A failing tap stays readable: polling it again at once would spin.
    EXPECT_TRUE(backend_->readable_waiters.empty()) << "no immediate retry";
    ASSERT_EQ(backend_->timers.size(), 1u) << "a retry later, not never";
    EXPECT_EQ(backend_->timers[0].first, NetDevice::kRxRetryFirst);

    backend_->fire_timers();  // still failing: the delay doubles
    EXPECT_EQ(backend_->reads, 2);
    ASSERT_EQ(backend_->timers.size(), 1u);
    EXPECT_EQ(backend_->timers[0].first, 2 * NetDevice::kRxRetryFirst);

    // The tap recovers and a frame arrives; nobody kicks.
    backend_->read_errors.clear();
    const auto f = frame(100, 4);
    backend_->rx.push_back(with_header(f));
    backend_->fire_timers();
    const auto used = driver_->take_used(NetDevice::kRxQueue);
    ASSERT_EQ(used.size(), 1u);
    EXPECT_EQ(used[0].second, kHeader + f.size());
    EXPECT_EQ(net_->metrics()["notifications"], 1) << "delivered without a second kick";
    EXPECT_EQ(backend_->readable_waiters.size(), 1u) << "and it listens to the tap again";
    EXPECT_TRUE(backend_->timers.empty());
}

TEST_F(VirtioNetFake, ARetryDelayNeverGrowsPastItsCeiling) {
    backend_->read_errors = {EIO};
    backend_->keep_failing = true;
    notify(NetDevice::kRxQueue);
    for (int i = 0; i < 20; ++i) {
        ASSERT_EQ(backend_->timers.size(), 1u);
        EXPECT_LE(backend_->timers[0].first, NetDevice::kRxRetryMax);
        backend_->fire_timers();
    }
    EXPECT_EQ(backend_->timers[0].first, NetDevice::kRxRetryMax);
}

TEST_F(VirtioNetFake, ATxChainOfMoreThan256BuffersIsDroppedAsBadAndCounted) {
    // 1 direct + 256 indirect buffers of 16 bytes: one more than a frame may span.
    std::vector<VirtioTestDriver::Seg> parts;
    for (std::uint32_t i = 0; i < 256; ++i) {
        parts.push_back({kTxFrame + 16 * (i + 1), 16, false});
    }
    driver_->add_indirect_chain(NetDevice::kTxQueue, {{kTxFrame, 16, false}}, kRxBuffers, parts);
    notify(NetDevice::kTxQueue);
    EXPECT_TRUE(backend_->tx.empty()) << "no frame cut to 256 buffers goes out";
    EXPECT_EQ(net_->metrics()["tx_packets"], 0);
    EXPECT_EQ(net_->metrics()["tx_dropped"], 1);
    EXPECT_EQ(net_->metrics()["bad_requests"], 1);
    const auto used = driver_->take_used(NetDevice::kTxQueue);
    ASSERT_EQ(used.size(), 1u) << "the chain goes back to the driver";
    EXPECT_EQ(used[0].second, 0u);
}

TEST_F(VirtioNetFake, ATxChainOfExactly256BuffersGoesOutWhole) {
    std::vector<VirtioTestDriver::Seg> parts;
    for (std::uint32_t i = 0; i < 256; ++i) {
        parts.push_back({kTxFrame + 16 * i, 16, false});
    }
    ASSERT_TRUE(mem_.write_obj<std::uint8_t>(kTxFrame + 16 * 256 - 1, 0x77));
    driver_->add_indirect_chain(NetDevice::kTxQueue, {}, kRxBuffers, parts);
    notify(NetDevice::kTxQueue);
    ASSERT_EQ(backend_->tx.size(), 1u);
    EXPECT_EQ(backend_->tx[0].size(), 256u * 16);
    EXPECT_EQ(backend_->tx[0].back(), 0x77);
    EXPECT_EQ(net_->metrics()["tx_packets"], 1);
    EXPECT_EQ(net_->metrics()["tx_bytes"], 256 * 16 - kHeader);
}

TEST_F(VirtioNetFake, AFullTapKeepsTheFrameUntilItIsWritable) {
    ASSERT_TRUE(mem_.write(kTxFrame, with_header(frame(50, 1))));
    driver_->add_chain(NetDevice::kTxQueue, {{kTxFrame, kHeader + 64, false}});
    backend_->tx_full = true;
    notify(NetDevice::kTxQueue);
    EXPECT_TRUE(driver_->take_used(NetDevice::kTxQueue).empty());
    ASSERT_EQ(backend_->writable_waiters.size(), 1u);
    backend_->tx_full = false;
    backend_->fire_writable();
    EXPECT_EQ(backend_->tx.size(), 1u);
    EXPECT_EQ(driver_->take_used(NetDevice::kTxQueue).size(), 1u);
}

}  // namespace
