// The host side of instance networking through netlink: the bridge with its
// gateway address, persistent taps on it, and finding leftovers. Each test
// runs in a fresh network namespace (netns.h), as root.

#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/error.h"
#include "net/bridge.h"
#include "net/persistent_tap.h"
#include "net/tap.h"
#include "netns.h"

namespace net {
namespace {

BridgeConfig test_bridge() {
    return {"vmbr-test", Ipv4Cidr::parse("198.18.0.0/24"), *Ipv4Address::parse("198.18.0.1")};
}

// Whether `uid`:`gid` (no capabilities) can open the tap as the vmm does.
bool can_open_as(const std::string& tap, uid_t uid, gid_t gid) {
    const pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(uid, uid, uid) != 0) {
            _exit(3);
        }
        try {
            Tap t(tap);
            _exit(0);
        } catch (const base::Error&) {
            _exit(1);
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(HostBridge, IsCreatedWithTheGatewayAddressUpAndKeptOnASecondCall) {
    IN_FRESH_NETNS({
        RouteSocket links;
        ensure_bridge(links, test_bridge());
        auto bridge = links.find_link("vmbr-test");
        ASSERT_TRUE(bridge);
        EXPECT_EQ(bridge->kind, "bridge");
        EXPECT_TRUE(bridge->up);
        EXPECT_EQ(bridge->mac, instance_mac("bridge:vmbr-test")) << "a MAC of its own";
        const std::vector<Ipv4Interface> expected{{*Ipv4Address::parse("198.18.0.1"), 24}};
        EXPECT_EQ(links.ipv4_addresses("vmbr-test"), expected);

        // vmd restarted: the same call keeps the bridge (same index) and its one address.
        ensure_bridge(links, test_bridge());
        EXPECT_EQ(links.find_link("vmbr-test")->index, bridge->index);
        EXPECT_EQ(links.ipv4_addresses("vmbr-test"), expected);

        EXPECT_TRUE(remove_bridge(links, "vmbr-test"));
        EXPECT_FALSE(links.find_link("vmbr-test"));
        EXPECT_FALSE(remove_bridge(links, "vmbr-test"));
    });
    // Nothing of it reached the host's namespace.
    EXPECT_EQ(if_nametoindex("vmbr-test"), 0u);
}

TEST(HostBridge, RefusesANameTakenByAnotherKindOfInterface) {
    IN_FRESH_NETNS({
        RouteSocket links;
        ensure_bridge(links, test_bridge());
        create_tap(links, {"vmt-taken", "vmbr-test", 0, {}});
        BridgeConfig clash = test_bridge();
        clash.name = "vmt-taken";
        EXPECT_THROW(ensure_bridge(links, clash), base::InvalidInput);
        EXPECT_THROW(remove_bridge(links, "vmt-taken"), base::InvalidInput);
        EXPECT_THROW(delete_tap(links, "vmbr-test"), base::InvalidInput);
        EXPECT_TRUE(links.find_link("vmbr-test"));
        EXPECT_TRUE(links.find_link("vmt-taken"));
    });
}

TEST(HostBridge, RefusesNamesAndNetworksThatDoNotFit) {
    RouteSocket links;  // nothing below reaches the kernel
    for (const char* bad :
         {"", "a-name-of-16-chr", "has space", "semi;colon", "-lead", "quo\"te"}) {
        BridgeConfig c = test_bridge();
        c.name = bad;
        EXPECT_THROW(ensure_bridge(links, c), base::InvalidInput) << bad;
    }
    BridgeConfig outside = test_bridge();
    outside.gateway = *Ipv4Address::parse("198.19.0.1");
    EXPECT_THROW(ensure_bridge(links, outside), base::InvalidInput);
}

TEST(PersistentTap, IsAttachedUpAndStaysAfterItsCreatorClosesIt) {
    IN_FRESH_NETNS({
        RouteSocket links;
        ensure_bridge(links, test_bridge());
        const MacAddress bridge_mac = links.find_link("vmbr-test")->mac;
        create_tap(links, {"vmt-1", "vmbr-test", 0, {}});
        const auto tap = links.find_link("vmt-1");
        ASSERT_TRUE(tap);
        EXPECT_EQ(links.find_link("vmbr-test")->mac, bridge_mac) << "guests' gateway MAC moved";
        EXPECT_EQ(tap->kind, "tun");
        EXPECT_EQ(tap->master, links.find_link("vmbr-test")->index);
        EXPECT_TRUE(tap->up);
        // The vmm opens it by name, as `--net tap=vmt-1` does, and lets it go.
        { Tap opened("vmt-1"); }
        EXPECT_TRUE(links.find_link("vmt-1")) << "the tap went with its first user";
        { Tap again("vmt-1"); }
    });
}

TEST(PersistentTap, OnlyItsOwnerMayOpenItWithoutPrivilege) {
    struct stat tun {};
    if (stat("/dev/net/tun", &tun) == 0 && (tun.st_mode & 0006) != 0006) {
        GTEST_SKIP() << "/dev/net/tun is mode " << std::oct << (tun.st_mode & 0777)
                     << ": no one but root opens a tap here, owned or not (udev makes it 0666 "
                        "on Debian; an unprivileged vmm needs that)";
    }
    IN_FRESH_NETNS({
        RouteSocket links;
        ensure_bridge(links, test_bridge());
        create_tap(links, {"vmt-owned", "vmbr-test", 4242, {}});
        EXPECT_TRUE(can_open_as("vmt-owned", 4242, 4242));
        EXPECT_FALSE(can_open_as("vmt-owned", 4243, 4243));
        // With a group too, the opener must be the owner and in the group.
        create_tap(links, {"vmt-group", "vmbr-test", 4242, 5151});
        EXPECT_TRUE(can_open_as("vmt-group", 4242, 5151));
        EXPECT_FALSE(can_open_as("vmt-group", 4242, 5152));
        EXPECT_FALSE(can_open_as("vmt-group", 4243, 5151));
    });
}

TEST(PersistentTap, CreatingItAgainAfterARestartKeepsIt) {
    IN_FRESH_NETNS({
        RouteSocket links;
        ensure_bridge(links, test_bridge());
        create_tap(links, {"vmt-1", "vmbr-test", 0, {}});
        const int index = links.find_link("vmt-1")->index;
        create_tap(links, {"vmt-1", "vmbr-test", 0, {}});
        EXPECT_EQ(links.find_link("vmt-1")->index, index);
        EXPECT_EQ(list_taps(links, "vmt-"), std::vector<std::string>{"vmt-1"});
    });
}

TEST(PersistentTap, AHeldTapCannotBeTakenOver) {
    IN_FRESH_NETNS({
        RouteSocket links;
        ensure_bridge(links, test_bridge());
        create_tap(links, {"vmt-1", "vmbr-test", 0, {}});
        Tap held("vmt-1");
        EXPECT_THROW(create_tap(links, {"vmt-1", "vmbr-test", 0, {}}), base::HostError);
    });
}

TEST(PersistentTap, LeftoversAreFoundByPrefixAndDeleted) {
    IN_FRESH_NETNS({
        RouteSocket links;
        ensure_bridge(links, test_bridge());
        for (const char* name : {"vmt-b", "vmt-a", "other-1", "vmtx"}) {
            create_tap(links, {name, "vmbr-test", 0, {}});
        }
        // The bridge's own name shares the prefix "vm" but is not a tap.
        EXPECT_EQ(list_taps(links, "vmt-"), (std::vector<std::string>{"vmt-a", "vmt-b"}));
        EXPECT_EQ(list_taps(links, "vm"), (std::vector<std::string>{"vmt-a", "vmt-b", "vmtx"}));
        for (const auto& name : list_taps(links, "vmt-")) {
            EXPECT_TRUE(delete_tap(links, name));
        }
        EXPECT_TRUE(list_taps(links, "vmt-").empty());
        EXPECT_FALSE(delete_tap(links, "vmt-a"));
        EXPECT_TRUE(links.find_link("other-1"));
    });
}

TEST(PersistentTap, NeedsAnExistingBridge) {
    IN_FRESH_NETNS({
        RouteSocket links;
        EXPECT_THROW(create_tap(links, {"vmt-1", "no-bridge", 0, {}}), base::HostError);
    });
}

}  // namespace
}  // namespace net
