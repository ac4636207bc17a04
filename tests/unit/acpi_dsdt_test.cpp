#include "firmware/acpi_dsdt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "firmware/aml.h"
#include "x86/layout.h"

namespace firmware {
namespace {

bool contains(const Bytes& haystack, const Bytes& needle) {
    return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
           haystack.end();
}

bool contains(const Bytes& haystack, const std::string& text) {
    return contains(haystack, Bytes(text.begin(), text.end()));
}

std::vector<VirtioMmioWindow> windows(unsigned n) {
    std::vector<VirtioMmioWindow> out;
    for (unsigned i = 0; i < n; ++i) {
        out.push_back({layout::kVirtioMmioBase + i * layout::kVirtioMmioStride,
                       layout::kVirtioMmioStride, layout::kIrqVirtioFirst + i});
    }
    return out;
}

TEST(Dsdt, HeaderLengthAndChecksum) {
    Bytes dsdt = build_dsdt(windows(2));
    AcpiTableHeader header;
    ASSERT_GT(dsdt.size(), sizeof header);
    std::memcpy(&header, dsdt.data(), sizeof header);
    EXPECT_EQ(std::string(header.signature, 4), "DSDT");
    EXPECT_EQ(header.revision, kDsdtRevision);
    EXPECT_EQ(header.length, dsdt.size());
    std::uint8_t sum = 0;
    for (std::uint8_t b : dsdt) {
        sum = static_cast<std::uint8_t>(sum + b);
    }
    EXPECT_EQ(sum, 0);
    Bytes body = build_dsdt_aml(windows(2));
    EXPECT_TRUE(std::equal(body.begin(), body.end(), dsdt.begin() + sizeof header));
}

TEST(Dsdt, S5PackageComesFirstAndTheRestIsOneSbScope) {
    Bytes body = build_dsdt_aml(windows(1));
    const Bytes s5{0x08, '_',  'S', '5', '_', 0x12, 0x07, 0x04, 0x0A, layout::kSleepTypeS5,
                   0x00, 0x00, 0x00};
    ASSERT_GT(body.size(), s5.size() + 4);
    EXPECT_TRUE(std::equal(s5.begin(), s5.end(), body.begin()));
    // ScopeOp PkgLength "\_SB_" covering every remaining byte.
    std::size_t at = s5.size();
    ASSERT_EQ(body[at], 0x10);
    unsigned follow = body[at + 1] >> 6;
    std::size_t length = follow == 0 ? body[at + 1] & 0x3F : body[at + 1] & 0x0F;
    for (unsigned i = 1; i <= follow; ++i) {
        length |= std::size_t{body[at + 1 + i]} << (4 + 8 * (i - 1));
    }
    EXPECT_EQ(length, body.size() - at - 1);
    const Bytes sb{0x5C, '_', 'S', 'B', '_'};
    EXPECT_TRUE(std::equal(sb.begin(), sb.end(), body.begin() + at + 2 + follow));
}

TEST(Dsdt, ContainsTheExpectedDevices) {
    Bytes body = build_dsdt_aml(windows(3));
    for (const char* name : {"_S5_", "_SB_", "COM1", "PS2K",     "RTC_",     "PEVT",    "PWRB",
                             "GED_", "_EVT", "GDST", "GDAT",     "VR00",     "VR01",    "VR02",
                             "_HID", "_UID", "_CRS", "LNRO0005", "QEMU0001", "ACPI0013"}) {
        EXPECT_TRUE(contains(body, std::string(name))) << name;
    }
    EXPECT_FALSE(contains(body, std::string("VR03")));
    for (const char* id : {"PNP0501", "PNP0303", "PNP0B00", "PNP0C0C"}) {
        EXPECT_TRUE(contains(body, aml::eisa_id(id))) << id;
    }
}

TEST(Dsdt, ResourcesMatchTheLayout) {
    using aml::Polarity;
    using aml::Sharing;
    using aml::Trigger;
    auto vr = windows(layout::kMaxVirtioDevices);
    Bytes body = build_dsdt_aml(vr);
    auto edge = [](std::uint32_t irq) {
        return aml::extended_interrupt(irq, Trigger::Edge, Polarity::ActiveHigh,
                                       Sharing::Exclusive);
    };
    // COM1: IO 0x3F8/8 then IRQ 4.
    Bytes com1 = aml::io_port(layout::kCom1, 8);
    Bytes irq4 = edge(layout::kIrqCom1);
    com1.insert(com1.end(), irq4.begin(), irq4.end());
    EXPECT_TRUE(contains(body, com1));
    // i8042: data port first, then command port, then IRQ 1.
    Bytes kbd = aml::io_port(layout::kI8042Data, 1);
    for (const Bytes& part :
         {aml::io_port(layout::kI8042Command, 1), edge(layout::kIrqI8042Keyboard)}) {
        kbd.insert(kbd.end(), part.begin(), part.end());
    }
    EXPECT_TRUE(contains(body, kbd));
    EXPECT_TRUE(contains(body, aml::io_port(layout::kRtcIndex, 2)));
    EXPECT_TRUE(contains(body, edge(layout::kIrqRtc)));
    EXPECT_TRUE(contains(body, aml::io_port(layout::kPvPanic, 1)));
    // GED: level, active-high interrupt; the event register in SystemIO.
    EXPECT_TRUE(contains(body, aml::extended_interrupt(layout::kIrqGed, Trigger::Level,
                                                       Polarity::ActiveHigh, Sharing::Exclusive)));
    EXPECT_TRUE(contains(
        body, aml::operation_region("GDST", aml::RegionSpace::SystemIO, layout::kGedEvent, 4)));
    // _EVT notifies the power button with 0x80 when its bit is set.
    EXPECT_TRUE(contains(body, aml::notify(aml::name_string("\\_SB.PWRB"), aml::integer(0x80))));
    EXPECT_TRUE(contains(body, aml::bit_and(aml::local(0), aml::integer(layout::kGedPowerButton))));
    for (unsigned i = 0; i < vr.size(); ++i) {
        Bytes res = aml::memory32_fixed(static_cast<std::uint32_t>(vr[i].addr),
                                        static_cast<std::uint32_t>(vr[i].size), true);
        Bytes irq = edge(vr[i].gsi);
        res.insert(res.end(), irq.begin(), irq.end());
        EXPECT_TRUE(contains(body, res)) << i;
        char name[8];
        std::snprintf(name, sizeof name, "VR%02X", i);
        Bytes dev_uid = aml::name("_UID", aml::integer(i));
        EXPECT_TRUE(contains(body, std::string(name)));
        EXPECT_TRUE(contains(body, dev_uid));
    }
}

TEST(Dsdt, EveryResourceTemplateEndsWithAValidChecksum) {
    Bytes body = build_dsdt_aml(windows(2));
    // Walk each End Tag (0x79) that closes a buffer: the descriptors from the
    // buffer start to the checksum sum to zero. Find buffers by "_CRS" names.
    const Bytes crs{0x08, '_', 'C', 'R', 'S', 0x11};
    unsigned templates = 0;
    for (auto it = std::search(body.begin(), body.end(), crs.begin(), crs.end()); it != body.end();
         it = std::search(it + 1, body.end(), crs.begin(), crs.end())) {
        std::size_t at = static_cast<std::size_t>(it - body.begin()) + crs.size();
        unsigned follow = body[at] >> 6;
        std::size_t length = follow == 0 ? body[at] & 0x3F : body[at] & 0x0F;
        for (unsigned i = 1; i <= follow; ++i) {
            length |= std::size_t{body[at + i]} << (4 + 8 * (i - 1));
        }
        std::size_t end = at + length;           // one past the buffer
        std::size_t data = at + follow + 1 + 2;  // after PkgLength and BytePrefix size
        ASSERT_LE(end, body.size());
        EXPECT_EQ(body[end - 2], 0x79);
        EXPECT_EQ(body[data - 1], end - data);
        std::uint8_t sum = 0;
        for (std::size_t i = data; i < end; ++i) {
            sum = static_cast<std::uint8_t>(sum + body[i]);
        }
        EXPECT_EQ(sum, 0);
        ++templates;
    }
    EXPECT_EQ(templates, 5u + 2u);  // COM1, PS2K, RTC, PEVT, GED, two VRs
}

}  // namespace
}  // namespace firmware
