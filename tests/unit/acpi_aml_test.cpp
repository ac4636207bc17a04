#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "base/error.h"
#include "firmware/aml.h"

namespace firmware::aml {
namespace {

// Decodes a PkgLength (ACPI 6.5 §20.2.4); `used` gets its size in bytes.
std::size_t decode_pkg_length(const Bytes& bytes, std::size_t at, std::size_t* used) {
    unsigned follow = bytes.at(at) >> 6;
    *used = follow + 1;
    if (follow == 0) {
        return bytes[at] & 0x3F;
    }
    std::size_t value = bytes[at] & 0x0F;
    for (unsigned i = 1; i <= follow; ++i) {
        value |= std::size_t{bytes.at(at + i)} << (4 + 8 * (i - 1));
    }
    return value;
}

TEST(AmlPkgLength, BoundarySizesUseTheShortestForm) {
    struct Case {
        std::size_t body;
        Bytes expected;
    };
    const std::vector<Case> cases{
        {0, {0x01}},
        {62, {0x3F}},                             // 63: the largest one-byte value
        {63, {0x41, 0x04}},                       // 65 in two bytes
        {4093, {0x4F, 0xFF}},                     // 4095: the largest two-byte value
        {4094, {0x81, 0x00, 0x01}},               // 4097 in three bytes
        {0xFFFFF - 3, {0x8F, 0xFF, 0xFF}},        // 1 MiB - 1: the largest three-byte value
        {0xFFFFF - 2, {0xC1, 0x00, 0x00, 0x01}},  // 1 MiB + 1 in four bytes
        {1u << 20, {0xC4, 0x00, 0x00, 0x01}},     // 1 MiB + 4
    };
    for (const Case& c : cases) {
        EXPECT_EQ(pkg_length(c.body), c.expected) << "body " << c.body;
    }
}

TEST(AmlPkgLength, ValueCountsItselfAtEverySize) {
    for (std::size_t body :
         {0ul, 1ul, 61ul, 62ul, 63ul, 64ul, 100ul, 4092ul, 4093ul, 4094ul, 4095ul, 4096ul, 65536ul,
          1048571ul, 1048572ul, 1048573ul, 1ul << 20, (1ul << 28) - 5}) {
        Bytes encoded = pkg_length(body);
        std::size_t used = 0;
        EXPECT_EQ(decode_pkg_length(encoded, 0, &used), body + encoded.size()) << body;
        EXPECT_EQ(used, encoded.size());
    }
    EXPECT_THROW(pkg_length((1ul << 28) - 4), base::InvalidInput);
}

TEST(AmlPkgLength, BuffersOfBoundarySizesCarryTheirLength) {
    for (std::size_t size : {59ul, 60ul, 61ul, 4090ul, 4096ul, 1ul << 20}) {
        Bytes data(size, 0xAB);
        Bytes buf = buffer(data);
        ASSERT_EQ(buf[0], 0x11);  // BufferOp
        std::size_t used = 0;
        EXPECT_EQ(decode_pkg_length(buf, 1, &used), buf.size() - 1) << size;
        EXPECT_EQ(buf.back(), 0xAB);
    }
}

TEST(AmlInteger, SmallestEncoding) {
    EXPECT_EQ(integer(0), (Bytes{0x00}));
    EXPECT_EQ(integer(1), (Bytes{0x01}));
    EXPECT_EQ(integer(2), (Bytes{0x0A, 0x02}));
    EXPECT_EQ(integer(0xFF), (Bytes{0x0A, 0xFF}));
    EXPECT_EQ(integer(0x100), (Bytes{0x0B, 0x00, 0x01}));
    EXPECT_EQ(integer(0xFFFF), (Bytes{0x0B, 0xFF, 0xFF}));
    EXPECT_EQ(integer(0x10000), (Bytes{0x0C, 0x00, 0x00, 0x01, 0x00}));
    EXPECT_EQ(integer(0xD0000000), (Bytes{0x0C, 0x00, 0x00, 0x00, 0xD0}));
    EXPECT_EQ(integer(0x100000000), (Bytes{0x0E, 0, 0, 0, 0, 1, 0, 0, 0}));
    EXPECT_EQ(integer(~0ull), (Bytes{0xFF}));
}

TEST(AmlString, NulTerminatedAscii) {
    EXPECT_EQ(string("AB"), (Bytes{0x0D, 'A', 'B', 0x00}));
    EXPECT_EQ(string(""), (Bytes{0x0D, 0x00}));
    EXPECT_THROW(string(std::string_view("A\0B", 3)), base::InvalidInput);
    EXPECT_THROW(string("\xC3\xA9"), base::InvalidInput);
}

TEST(AmlEisaId, CompressesLikeIasl) {
    EXPECT_EQ(eisa_id_value("PNP0501"), 0x0105D041u);
    EXPECT_EQ(eisa_id_value("PNP0C0C"), 0x0C0CD041u);
    EXPECT_EQ(eisa_id_value("PNP0303"), 0x0303D041u);
    EXPECT_EQ(eisa_id("PNP0501"), (Bytes{0x0C, 0x41, 0xD0, 0x05, 0x01}));
    EXPECT_THROW(eisa_id_value("PNP050"), base::InvalidInput);
    EXPECT_THROW(eisa_id_value("pnp0501"), base::InvalidInput);
    EXPECT_THROW(eisa_id_value("PNP050G"), base::InvalidInput);
}

TEST(AmlNameString, SegmentsPrefixesAndPadding) {
    EXPECT_EQ(name_string("COM1"), (Bytes{'C', 'O', 'M', '1'}));
    EXPECT_EQ(name_string("GED"), (Bytes{'G', 'E', 'D', '_'}));
    EXPECT_EQ(name_string("\\_SB"), (Bytes{0x5C, '_', 'S', 'B', '_'}));
    EXPECT_EQ(name_string("\\_SB.PWRB"),
              (Bytes{0x5C, 0x2E, '_', 'S', 'B', '_', 'P', 'W', 'R', 'B'}));
    EXPECT_EQ(name_string("\\_SB.PCI0.ISA"),
              (Bytes{0x5C, 0x2F, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0', 'I', 'S', 'A', '_'}));
    EXPECT_EQ(name_string("^^FOO"), (Bytes{0x5E, 0x5E, 'F', 'O', 'O', '_'}));
    EXPECT_EQ(name_string("\\"), (Bytes{0x5C, 0x00}));
    EXPECT_THROW(name_string(""), base::InvalidInput);
    EXPECT_THROW(name_string("TOOLONG"), base::InvalidInput);
    EXPECT_THROW(name_string("1ABC"), base::InvalidInput);
    EXPECT_THROW(name_string("abc"), base::InvalidInput);
    EXPECT_THROW(name_string("\\_SB..X"), base::InvalidInput);
}

TEST(AmlObjects, NamePackageScopeDeviceMethod) {
    EXPECT_EQ(name("_S5", package({integer(5), integer(0), integer(0), integer(0)})),
              (Bytes{0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0A, 0x05, 0x00, 0x00, 0x00}));
    EXPECT_EQ(scope("\\_SB", {}), (Bytes{0x10, 0x06, 0x5C, '_', 'S', 'B', '_'}));
    EXPECT_EQ(device("COM1", {name("_UID", integer(0))}),
              (Bytes{0x5B, 0x82, 0x0B, 'C', 'O', 'M', '1', 0x08, '_', 'U', 'I', 'D', 0x00}));
    EXPECT_EQ(method("_EVT", 1, true, {return_value(arg(0))}),
              (Bytes{0x14, 0x08, '_', 'E', 'V', 'T', 0x09, 0xA4, 0x68}));
    EXPECT_EQ(method("FOO", 0, false, {}), (Bytes{0x14, 0x06, 'F', 'O', 'O', '_', 0x00}));
    EXPECT_THROW(method("FOO", 8, false, {}), base::InvalidInput);
    EXPECT_THROW(package(std::vector<Bytes>(256, integer(0))), base::InvalidInput);
}

TEST(AmlObjects, LargeDeviceUsesLongPkgLength) {
    std::vector<Bytes> names;
    for (int i = 0; i < 600; ++i) {  // 600 * 10 bytes: > 4095
        names.push_back(name("_UID", integer(0x12345678)));
    }
    Bytes dev = device("BIG", names);
    ASSERT_EQ(dev[0], 0x5B);
    ASSERT_EQ(dev[1], 0x82);
    std::size_t used = 0;
    EXPECT_EQ(decode_pkg_length(dev, 2, &used), dev.size() - 2);
    EXPECT_EQ(used, 3u);
}

TEST(AmlObjects, RegionFieldAndStatements) {
    EXPECT_EQ(operation_region("GDST", RegionSpace::SystemIO, 0x604, 4),
              (Bytes{0x5B, 0x80, 'G', 'D', 'S', 'T', 0x01, 0x0B, 0x04, 0x06, 0x0A, 0x04}));
    // DWordAcc (3) | NoLock | WriteAsZeros (2 << 5); GDAT is 32 bits.
    EXPECT_EQ(field("GDST", FieldAccess::DWord, FieldUpdate::WriteAsZeros, {{"GDAT", 32}}),
              (Bytes{0x5B, 0x81, 0x0B, 'G', 'D', 'S', 'T', 0x43, 'G', 'D', 'A', 'T', 0x20}));
    EXPECT_EQ(store(integer(0), local(0)), (Bytes{0x70, 0x00, 0x60}));
    EXPECT_EQ(bit_and(local(0), integer(1)), (Bytes{0x7B, 0x60, 0x01, 0x00}));
    EXPECT_EQ(logical_equal(local(1), integer(1)), (Bytes{0x93, 0x61, 0x01}));
    EXPECT_EQ(if_then(integer(1), {notify(name_string("PWRB"), integer(0x80))}),
              (Bytes{0xA0, 0x09, 0x01, 0x86, 'P', 'W', 'R', 'B', 0x0A, 0x80}));
    EXPECT_THROW(local(8), base::InvalidInput);
    EXPECT_THROW(arg(7), base::InvalidInput);
}

TEST(AmlResources, DescriptorsAndEndTagChecksum) {
    EXPECT_EQ(io_port(0x3F8, 8), (Bytes{0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08}));
    EXPECT_EQ(memory32_fixed(0xD0000000, 0x1000, true),
              (Bytes{0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0, 0x00, 0x10, 0x00, 0x00}));
    EXPECT_EQ(extended_interrupt(9, Trigger::Level, Polarity::ActiveHigh, Sharing::Exclusive),
              (Bytes{0x89, 0x06, 0x00, 0x01, 0x01, 0x09, 0x00, 0x00, 0x00}));
    EXPECT_EQ(extended_interrupt(4, Trigger::Edge, Polarity::ActiveLow, Sharing::Shared)[3], 0x0F);

    Bytes crs = resource_template({io_port(0x3F8, 8)});
    // Buffer (0x0A) {8 descriptor bytes, 0x79, checksum}
    ASSERT_EQ(crs.size(), 2u + 2u + 10u);
    EXPECT_EQ(crs[0], 0x11);
    EXPECT_EQ(crs[2], 0x0A);
    EXPECT_EQ(crs[3], 10);
    EXPECT_EQ(crs[crs.size() - 2], 0x79);
    std::uint8_t sum = 0;
    for (std::size_t i = 4; i < crs.size(); ++i) {
        sum = static_cast<std::uint8_t>(sum + crs[i]);
    }
    EXPECT_EQ(sum, 0);
}

}  // namespace
}  // namespace firmware::aml
