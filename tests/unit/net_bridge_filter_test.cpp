// The bridge filter: its nft text (pure), and what it does to real frames in
// a fresh network namespace (netns.h): taps on a bridge, opened the way the
// vmm opens them, carry hand-made frames written by the test as the guests
// would send them.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "net/bridge.h"
#include "net/bridge_filter.h"
#include "net/persistent_tap.h"
#include "net/tap.h"
#include "netns.h"

namespace net {
namespace {

Ipv4Address ip(const char* text) {
    return *Ipv4Address::parse(text);
}

FilterConfig config() {
    return {"vmm_platform", "vmt", Ipv4Cidr::parse("198.18.0.0/24"), ip("198.18.0.1")};
}

PortFilter port(const char* tap, uid_t owner, const char* address) {
    return {tap, owner, instance_mac(tap), ip(address)};
}

TEST(BridgeFilterText, OnePortsRulesNameItsMacAddressAndOwner) {
    const PortFilter a{"vmt1", 1000, *parse_mac("02:00:00:00:00:0a"), ip("198.18.0.2")};
    EXPECT_EQ(add_port_commands(config(), a),
              "add set bridge vmm_platform owner_1000 { type ifname; }\n"
              "add element bridge vmm_platform owner_1000 { \"vmt1\" }\n"
              "add chain bridge vmm_platform from_vmt1\n"
              "flush chain bridge vmm_platform from_vmt1\n"
              "add rule bridge vmm_platform from_vmt1 ether saddr != 02:00:00:00:00:0a drop\n"
              "add rule bridge vmm_platform from_vmt1 ether type != { ip, arp } drop\n"
              "add rule bridge vmm_platform from_vmt1 ether type ip ip saddr != 198.18.0.2 drop\n"
              "add rule bridge vmm_platform from_vmt1 ether type arp arp saddr ether != "
              "02:00:00:00:00:0a drop\n"
              "add rule bridge vmm_platform from_vmt1 ether type arp arp saddr ip != { "
              "198.18.0.2, 0.0.0.0 } drop\n"
              "add chain bridge vmm_platform to_vmt1\n"
              "flush chain bridge vmm_platform to_vmt1\n"
              "add rule bridge vmm_platform to_vmt1 iifname != @owner_1000 drop\n"
              "add element bridge vmm_platform from_port { \"vmt1\" : goto from_vmt1 }\n"
              "add element bridge vmm_platform to_port { \"vmt1\" : goto to_vmt1 }\n");
}

TEST(BridgeFilterText, TheTableReplacesItselfAndDropsTapsWithoutRules) {
    const std::string text = table_commands(config(), {port("vmt1", 1000, "198.18.0.2")});
    // One batch that first deletes whatever table was there: atomic replacement.
    EXPECT_EQ(text.rfind("add table bridge vmm_platform\ndelete table bridge vmm_platform\n", 0),
              0u);
    EXPECT_NE(text.find("type filter hook prerouting priority filter; policy accept;"),
              std::string::npos);
    EXPECT_NE(text.find("iifname vmap @from_port\n        iifname \"vmt*\" drop"),
              std::string::npos);
    EXPECT_NE(text.find("oifname vmap @to_port\n        oifname \"vmt*\" drop"), std::string::npos);
    EXPECT_NE(text.find("iifname \"vmt*\" ip daddr 198.18.0.0/24 ip daddr != 198.18.0.1 drop"),
              std::string::npos);
    EXPECT_NE(text.find(add_port_commands(config(), port("vmt1", 1000, "198.18.0.2"))),
              std::string::npos);
}

TEST(BridgeFilterText, RemovingAPortCannotFailWhenItIsGone) {
    const std::string text = remove_port_commands(config(), port("vmt1", 1000, "198.18.0.2"));
    // Each object is added (a no-op where it exists) before it is deleted,
    // elements before the chains they jump to.
    EXPECT_LT(text.find("add chain bridge vmm_platform from_vmt1"),
              text.find("delete element bridge vmm_platform from_port { \"vmt1\" }"));
    EXPECT_LT(text.find("delete element bridge vmm_platform from_port"),
              text.find("delete chain bridge vmm_platform from_vmt1"));
    EXPECT_LT(text.find("flush chain bridge vmm_platform to_vmt1"),
              text.find("delete chain bridge vmm_platform to_vmt1"));
}

TEST(BridgeFilterText, RefusesNamesThatAreNotPlainWords) {
    FilterConfig bad_table = config();
    bad_table.table = "t; flush ruleset";
    EXPECT_THROW(table_commands(bad_table, {}), base::InvalidInput);
    FilterConfig bad_prefix = config();
    bad_prefix.tap_prefix = "vm\"t";
    EXPECT_THROW(table_commands(bad_prefix, {}), base::InvalidInput);
    EXPECT_THROW(add_port_commands(config(), port("eth0", 1, "198.18.0.2")), base::InvalidInput)
        << "a tap without the platform's prefix";
    EXPECT_THROW(add_port_commands(config(), port("vmt", 1, "198.18.0.2")), base::InvalidInput);
    PortFilter multicast = port("vmt1", 1, "198.18.0.2");
    multicast.mac[0] = 0x03;
    EXPECT_THROW(add_port_commands(config(), multicast), base::InvalidInput);
}

// ---- frames -------------------------------------------------------------

using Frame = std::vector<std::uint8_t>;

void put16(Frame& f, std::uint16_t v) {
    f.push_back(static_cast<std::uint8_t>(v >> 8));
    f.push_back(static_cast<std::uint8_t>(v));
}
void put32(Frame& f, std::uint32_t v) {
    put16(f, static_cast<std::uint16_t>(v >> 16));
    put16(f, static_cast<std::uint16_t>(v));
}
void put_mac(Frame& f, const MacAddress& m) {
    f.insert(f.end(), m.begin(), m.end());
}

std::uint16_t internet_checksum(const std::uint8_t* p, std::size_t n) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < n; i += 2) {
        sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<std::uint16_t>(~sum);
}

constexpr MacAddress kBroadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
constexpr std::uint16_t kUdpPort = 7777;

// Ethernet + IPv4 + UDP to port kUdpPort carrying `marker`.
Frame udp_frame(const MacAddress& src_mac, const MacAddress& dst_mac, Ipv4Address src,
                Ipv4Address dst, const std::string& marker) {
    Frame f;
    put_mac(f, dst_mac);
    put_mac(f, src_mac);
    put16(f, 0x0800);
    const std::size_t ip_start = f.size();
    f.push_back(0x45);
    f.push_back(0);
    put16(f, static_cast<std::uint16_t>(20 + 8 + marker.size()));
    put32(f, 0);  // id, flags, fragment offset
    f.push_back(64);
    f.push_back(17);  // UDP
    put16(f, 0);      // checksum, below
    put32(f, src.value());
    put32(f, dst.value());
    const std::uint16_t sum = internet_checksum(&f[ip_start], 20);
    f[ip_start + 10] = static_cast<std::uint8_t>(sum >> 8);
    f[ip_start + 11] = static_cast<std::uint8_t>(sum);
    put16(f, 40000);
    put16(f, kUdpPort);
    put16(f, static_cast<std::uint16_t>(8 + marker.size()));
    put16(f, 0);  // no UDP checksum (allowed over IPv4)
    f.insert(f.end(), marker.begin(), marker.end());
    return f;
}

// An ARP request from (sha, spa) for tpa, broadcast, with `marker` as trailer.
Frame arp_frame(const MacAddress& src_mac, const MacAddress& sha, Ipv4Address spa, Ipv4Address tpa,
                const std::string& marker) {
    Frame f;
    put_mac(f, kBroadcast);
    put_mac(f, src_mac);
    put16(f, 0x0806);
    put16(f, 1);       // Ethernet
    put16(f, 0x0800);  // IPv4
    f.push_back(6);
    f.push_back(4);
    put16(f, 1);  // request
    put_mac(f, sha);
    put32(f, spa.value());
    put_mac(f, MacAddress{});
    put32(f, tpa.value());
    f.insert(f.end(), marker.begin(), marker.end());
    return f;
}

// An IPv6 frame (ether type 0x86dd) carrying `marker`.
Frame ipv6_frame(const MacAddress& src_mac, const MacAddress& dst_mac, const std::string& marker) {
    Frame f;
    put_mac(f, dst_mac);
    put_mac(f, src_mac);
    put16(f, 0x86dd);
    put32(f, 0x60000000);
    put16(f, static_cast<std::uint16_t>(marker.size()));
    f.push_back(59);  // no next header
    f.push_back(64);
    for (int i = 0; i < 32; ++i) {
        f.push_back(i == 0 ? 0xfe : i == 1 ? 0x80 : i == 15 || i == 31 ? 1 : 0);
    }
    f.insert(f.end(), marker.begin(), marker.end());
    return f;
}

// A guest's end of a tap: what it writes the bridge receives from that port.
class Guest {
  public:
    Guest(const std::string& tap, const PortFilter& self) : tap_(tap), self_(self) {}

    void send(const Frame& frame) {
        std::vector<std::uint8_t> buf(Tap::kVnetHeaderBytes, 0);
        buf.insert(buf.end(), frame.begin(), frame.end());
        ASSERT_EQ(write(tap_.fd(), buf.data(), buf.size()), static_cast<ssize_t>(buf.size()))
            << "write to " << tap_.name() << ": " << std::strerror(errno);
    }
    // Whether a frame containing `marker` arrives within `wait`.
    bool receives(const std::string& marker, std::chrono::milliseconds wait) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        std::vector<std::uint8_t> buf(65536);
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                return false;
            }
            pollfd p{tap_.fd(), POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                continue;
            }
            const ssize_t n = read(tap_.fd(), buf.data(), buf.size());
            if (n > 0 && std::string(reinterpret_cast<char*>(buf.data()), n).find(marker) !=
                             std::string::npos) {
                return true;
            }
        }
    }
    const PortFilter& self() const { return self_; }

  private:
    Tap tap_;
    PortFilter self_;
};

// A UDP socket of the host on the gateway address.
class HostListener {
  public:
    HostListener() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(kUdpPort);
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    bool receives(const std::string& marker, std::chrono::milliseconds wait) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        char buf[2048];
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_.get(), POLLIN, 0};
            if (poll(&p, 1, 20) > 0) {
                const ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
                if (n > 0 && std::string(buf, n).find(marker) != std::string::npos) {
                    return true;
                }
            }
        }
        return false;
    }

  private:
    base::Fd fd_;
};

// Frames the host's bridge device takes in (after the bridge's input hook).
class BridgeSniffer {
  public:
    explicit BridgeSniffer(int ifindex)
        : fd_(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(0x0003))) {
        sockaddr_ll a{};
        a.sll_family = AF_PACKET;
        a.sll_protocol = htons(0x0003);  // ETH_P_ALL
        a.sll_ifindex = ifindex;
        EXPECT_EQ(bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    bool receives(const std::string& marker, std::chrono::milliseconds wait) {
        const auto deadline = std::chrono::steady_clock::now() + wait;
        char buf[65536];
        while (std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_.get(), POLLIN, 0};
            if (poll(&p, 1, 20) > 0) {
                const ssize_t n = recv(fd_.get(), buf, sizeof buf, 0);
                if (n > 0 && std::string(buf, n).find(marker) != std::string::npos) {
                    return true;
                }
            }
        }
        return false;
    }

  private:
    base::Fd fd_;
};

constexpr auto kArrives = std::chrono::milliseconds(2000);
constexpr auto kDropped = std::chrono::milliseconds(300);

// The world of the traffic tests: a bridge, taps a and b of owner 1000 and
// c of owner 2000, each opened as its guest.
struct Lab {
    Lab() {
        ensure_bridge(links, {"vmbr-test", config().network, config().gateway});
        for (const PortFilter& p : ports) {
            create_tap(links, {p.tap, "vmbr-test", 0, {}});
        }
        bridge_mac = links.find_link("vmbr-test")->mac;
        bridge_index = links.find_link("vmbr-test")->index;
    }
    RouteSocket links;
    std::vector<PortFilter> ports{port("vmt-a", 1000, "198.18.0.2"),
                                  port("vmt-b", 1000, "198.18.0.3"),
                                  port("vmt-c", 2000, "198.18.0.4")};
    MacAddress bridge_mac{};
    int bridge_index = 0;
};

// Waits until the kernel has seen each of these taps opened (a bridge port
// forwards only from then on: the carrier change is handled asynchronously).
void wait_operational(RouteSocket& links, const std::vector<std::string>& taps) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (const auto& tap : taps) {
        while (!links.find_link(tap)->operational) {
            ASSERT_LT(std::chrono::steady_clock::now(), deadline) << tap << " never came up";
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
}

Frame valid_udp(const Guest& from, const Guest& to, const std::string& marker) {
    return udp_frame(from.self().mac, to.self().mac, from.self().address, to.self().address,
                     marker);
}

TEST(BridgeFilterTraffic, SpoofedFramesAreDroppedAndHonestOnesPass) {
    IN_FRESH_NETNS({
        Lab lab;
        Guest a("vmt-a", lab.ports[0]), b("vmt-b", lab.ports[1]);
        wait_operational(lab.links, {"vmt-a", "vmt-b"});
        const MacAddress stolen = lab.ports[2].mac;

        // Without the filter a forged MAC goes through: the test can see a drop.
        a.send(udp_frame(stolen, b.self().mac, a.self().address, b.self().address, "before"));
        EXPECT_TRUE(b.receives("before", kArrives));

        Nftables nft;
        nft.run(table_commands(config(), lab.ports));

        a.send(valid_udp(a, b, "honest-udp"));
        EXPECT_TRUE(b.receives("honest-udp", kArrives));
        a.send(arp_frame(a.self().mac, a.self().mac, a.self().address, b.self().address,
                         "honest-arp"));
        EXPECT_TRUE(b.receives("honest-arp", kArrives));
        a.send(arp_frame(a.self().mac, a.self().mac, ip("0.0.0.0"), b.self().address, "arp-probe"));
        EXPECT_TRUE(b.receives("arp-probe", kArrives));

        // One at a time: receives() consumes whatever else arrives meanwhile.
        const std::vector<std::pair<std::string, Frame>> forged{
            {"bad-mac",
             udp_frame(stolen, b.self().mac, a.self().address, b.self().address, "bad-mac")},
            {"bad-ip",
             udp_frame(a.self().mac, b.self().mac, ip("198.18.0.9"), b.self().address, "bad-ip")},
            {"arp-gateway-theft", arp_frame(a.self().mac, a.self().mac, ip("198.18.0.1"),
                                            b.self().address, "arp-gateway-theft")},
            {"arp-bad-sha",
             arp_frame(a.self().mac, stolen, a.self().address, b.self().address, "arp-bad-sha")},
            {"ipv6", ipv6_frame(a.self().mac, b.self().mac, "ipv6")},
        };
        for (const auto& [marker, frame] : forged) {
            a.send(frame);
            EXPECT_FALSE(b.receives(marker, kDropped)) << marker;
        }
    });
}

TEST(BridgeFilterTraffic, OwnersDoNotReachEachOther) {
    IN_FRESH_NETNS({
        Lab lab;
        Guest a("vmt-a", lab.ports[0]), b("vmt-b", lab.ports[1]), c("vmt-c", lab.ports[2]);
        wait_operational(lab.links, {"vmt-a", "vmt-b", "vmt-c"});
        c.send(valid_udp(c, a, "before"));
        EXPECT_TRUE(a.receives("before", kArrives));

        Nftables nft;
        nft.run(table_commands(config(), lab.ports));

        c.send(valid_udp(c, a, "c-to-a"));
        a.send(valid_udp(a, c, "a-to-c"));
        EXPECT_FALSE(a.receives("c-to-a", kDropped));
        EXPECT_FALSE(c.receives("a-to-c", kDropped));
        // A broadcast reaches the owner's other instances only.
        a.send(
            arp_frame(a.self().mac, a.self().mac, a.self().address, c.self().address, "who-has"));
        EXPECT_TRUE(b.receives("who-has", kArrives));
        EXPECT_FALSE(c.receives("who-has", kDropped));
    });
}

TEST(BridgeFilterTraffic, TheHostHearsOnlyTheInstancesOwnAddress) {
    IN_FRESH_NETNS({
        Lab lab;
        Guest a("vmt-a", lab.ports[0]);
        wait_operational(lab.links, {"vmt-a"});
        HostListener host;
        BridgeSniffer sniffer(lab.bridge_index);
        const Ipv4Address gateway = config().gateway;
        a.send(udp_frame(a.self().mac, lab.bridge_mac, ip("198.18.0.3"), gateway, "before"));
        EXPECT_TRUE(host.receives("before", kArrives));

        Nftables nft;
        nft.run(table_commands(config(), lab.ports));

        a.send(udp_frame(a.self().mac, lab.bridge_mac, a.self().address, gateway, "honest"));
        EXPECT_TRUE(host.receives("honest", kArrives));
        a.send(udp_frame(a.self().mac, lab.bridge_mac, ip("198.18.0.3"), gateway, "spoofed"));
        EXPECT_FALSE(host.receives("spoofed", kDropped));
        // Through the host to another instance's address (a routed hairpin
        // around the forward rule): stopped before the host's IP stack.
        a.send(
            udp_frame(a.self().mac, lab.bridge_mac, a.self().address, ip("198.18.0.4"), "hairpin"));
        EXPECT_FALSE(sniffer.receives("hairpin", kDropped));
        a.send(udp_frame(a.self().mac, lab.bridge_mac, a.self().address, gateway, "seen"));
        EXPECT_TRUE(sniffer.receives("seen", kArrives)) << "the sniffer sees what passes";
    });
}

TEST(BridgeFilterTraffic, ATapWithoutRulesIsClosedAndPortsComeAndGo) {
    IN_FRESH_NETNS({
        Lab lab;
        Guest a("vmt-a", lab.ports[0]), b("vmt-b", lab.ports[1]);
        wait_operational(lab.links, {"vmt-a", "vmt-b"});
        Nftables nft;
        // Only a's rules: b is a platform tap without any, closed both ways.
        nft.run(table_commands(config(), {lab.ports[0]}));
        a.send(valid_udp(a, b, "to-b"));
        b.send(valid_udp(b, a, "from-b"));
        EXPECT_FALSE(b.receives("to-b", kDropped));
        EXPECT_FALSE(a.receives("from-b", kDropped));

        // b starts: its rules come; twice is the same as once.
        nft.run(add_port_commands(config(), lab.ports[1]));
        nft.run(add_port_commands(config(), lab.ports[1]));
        a.send(valid_udp(a, b, "to-b-2"));
        EXPECT_TRUE(b.receives("to-b-2", kArrives));
        const std::string listed = nft.run("list chain bridge vmm_platform from_vmt-b");
        EXPECT_EQ(listed.find("ether saddr"), listed.rfind("ether saddr")) << listed;

        // b stops: its rules go (and going again is harmless), the tap is closed again.
        nft.run(remove_port_commands(config(), lab.ports[1]));
        nft.run(remove_port_commands(config(), lab.ports[1]));
        a.send(valid_udp(a, b, "to-b-3"));
        EXPECT_FALSE(b.receives("to-b-3", kDropped));
        EXPECT_THROW(nft.run("list chain bridge vmm_platform from_vmt-b"), base::HostError);

        // vmd restarts: the table is replaced as a whole, a's rules included.
        nft.run(table_commands(config(), {lab.ports[0], lab.ports[1]}));
        a.send(valid_udp(a, b, "to-b-4"));
        EXPECT_TRUE(b.receives("to-b-4", kArrives));

        nft.run(remove_table_commands(config()));
        nft.run(remove_table_commands(config()));
        EXPECT_THROW(nft.run("list table bridge vmm_platform"), base::HostError);
    });
}

TEST(BridgeFilterTraffic, NftablesErrorsSayWhatWasRefused) {
    IN_FRESH_NETNS({
        Nftables nft;
        try {
            nft.run(add_port_commands(config(), port("vmt-a", 1, "198.18.0.2")));
            FAIL() << "ports added to a table that does not exist";
        } catch (const base::HostError& e) {
            EXPECT_NE(std::string(e.what()).find("vmm_platform"), std::string::npos) << e.what();
        }
    });
}

// Takes netlink's netfilter protocol away from this process, as a kernel
// without nf_tables does: socket() fails with EPROTONOSUPPORT.
void forbid_netfilter_netlink() {
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    ASSERT_NE(filter, nullptr);
    ASSERT_EQ(
        seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPROTONOSUPPORT), SCMP_SYS(socket), 2,
                         SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_EQ, NETLINK_NETFILTER)),
        0);
    ASSERT_EQ(seccomp_load(filter), 0);
    seccomp_release(filter);
}

// libnftables exit()s the process when it cannot open its socket: in vmd that
// would end the supervisor. In the namespace's child, an exit shows as a
// failed body (status 3, nft's own code), not as the HostError expected.
TEST(BridgeFilterTraffic, AKernelWithoutNftablesIsAnErrorNotTheProcessEnding) {
    IN_FRESH_NETNS({
        forbid_netfilter_netlink();
        try {
            Nftables nft;
            nft.run(table_commands(config(), {}));
            ADD_FAILURE() << "nftables ran without its netlink socket";
        } catch (const base::HostError& e) {
            EXPECT_NE(std::string(e.what()).find("nf_tables"), std::string::npos) << e.what();
        }
    });
}

}  // namespace
}  // namespace net
