#include <gtest/gtest.h>

#include "base/error.h"
#include "net/ipv4.h"
#include "net/mac.h"

namespace net {
namespace {

TEST(Ipv4Address, ParsesDottedQuadsAndPrintsThemBack) {
    const auto a = Ipv4Address::parse("198.18.0.5");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->value(), 0xc6120005u);
    EXPECT_EQ(a->to_string(), "198.18.0.5");
    EXPECT_EQ(Ipv4Address::parse("0.0.0.0")->value(), 0u);
    EXPECT_EQ(Ipv4Address::parse("255.255.255.255")->value(), 0xffffffffu);
}

TEST(Ipv4Address, RefusesAnythingElse) {
    for (const char* bad : {"", "198.18.0", "198.18.0.5.1", "198.18.0.256", "198.18.0.-1",
                            "198.18.00.5", " 198.18.0.5", "198.18.0.5 ", "198..0.5", "a.b.c.d",
                            "198.18.0.5/24", "1e2.0.0.1", "+1.0.0.1"}) {
        EXPECT_FALSE(Ipv4Address::parse(bad)) << bad;
    }
    EXPECT_THROW(Ipv4Address::parse_or_throw("1.2.3", "gateway"), base::InvalidInput);
}

TEST(Ipv4Cidr, ParsesNetworksAndKnowsTheirBounds) {
    const Ipv4Cidr c = Ipv4Cidr::parse("198.18.0.0/24");
    EXPECT_EQ(c.to_string(), "198.18.0.0/24");
    EXPECT_EQ(c.netmask().to_string(), "255.255.255.0");
    EXPECT_EQ(c.broadcast().to_string(), "198.18.0.255");
    EXPECT_EQ(c.size(), 256u);
    EXPECT_TRUE(c.contains(*Ipv4Address::parse("198.18.0.200")));
    EXPECT_FALSE(c.contains(*Ipv4Address::parse("198.18.1.0")));
    EXPECT_EQ(Ipv4Cidr::parse("0.0.0.0/0").size(), std::uint64_t{1} << 32);
    EXPECT_EQ(Ipv4Cidr::parse("10.0.0.4/32").broadcast().to_string(), "10.0.0.4");
}

TEST(Ipv4Cidr, RefusesHostBitsAndMalformedText) {
    try {
        Ipv4Cidr::parse("198.18.0.1/24");
        FAIL() << "host bits accepted";
    } catch (const base::InvalidInput& e) {
        EXPECT_NE(std::string(e.what()).find("198.18.0.0/24"), std::string::npos) << e.what();
    }
    for (const char* bad : {"198.18.0.0", "198.18.0.0/", "198.18.0.0/33", "198.18.0.0/024",
                            "198.18.0.0/-1", "/24", "198.18.0.0/24/1"}) {
        EXPECT_THROW(Ipv4Cidr::parse(bad), base::InvalidInput) << bad;
    }
}

TEST(Ipv4Interface, PrintsAddressAndPrefixAndItsNetwork) {
    const Ipv4Interface i{*Ipv4Address::parse("198.18.0.7"), 24};
    EXPECT_EQ(i.to_string(), "198.18.0.7/24");
    EXPECT_EQ(i.network(), Ipv4Cidr::parse("198.18.0.0/24"));
}

TEST(InstanceMac, IsLocallyAdministeredUnicastAndStablePerInstance) {
    const MacAddress a = instance_mac("i-0123456789ab");
    EXPECT_EQ(a[0], 0x02);
    EXPECT_EQ(a, instance_mac("i-0123456789ab"));
    EXPECT_NE(a, instance_mac("i-0123456789ac"));
    EXPECT_NE(a, instance_mac("i-0123456789ab", 1));
    // Pinned: a change would give every running instance a new MAC at its
    // next start and break the filters that name the old one.
    EXPECT_EQ(format_mac(instance_mac("web-1")), "02:f3:40:76:64:58");
    EXPECT_EQ(format_mac(a), "02:08:52:5d:10:3b");
}

TEST(InstanceMac, ParsesWhatItPrints) {
    const MacAddress a = instance_mac("i-feedfacecafe");
    EXPECT_EQ(parse_mac(format_mac(a)), a);
    EXPECT_EQ(parse_mac("02:AA:bb:0c:dd:ee"), (MacAddress{0x02, 0xaa, 0xbb, 0x0c, 0xdd, 0xee}));
    for (const char* bad : {"", "02:aa:bb:cc:dd", "02:aa:bb:cc:dd:ee:ff", "02-aa-bb-cc-dd-ee",
                            "02:aa:bb:cc:dd:eg", "2:aa:bb:cc:dd:ee0"}) {
        EXPECT_FALSE(parse_mac(bad)) << bad;
    }
}

}  // namespace
}  // namespace net
