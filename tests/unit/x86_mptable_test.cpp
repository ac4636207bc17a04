#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/guest_memory.h"
#include "x86/layout.h"
#include "x86/mptable.h"

namespace x86 {
namespace {

std::uint8_t sum(std::span<const std::uint8_t> bytes) {
    std::uint8_t total = 0;
    for (std::uint8_t b : bytes) {
        total = static_cast<std::uint8_t>(total + b);
    }
    return total;
}

template <typename T>
T read_at(const std::vector<std::uint8_t>& bytes, std::size_t at) {
    T value;
    EXPECT_LE(at + sizeof value, bytes.size());
    std::memcpy(&value, bytes.data() + at, sizeof value);
    return value;
}

struct Parsed {
    MpFloatingPointer fp;
    MpConfigHeader header;
    std::vector<MpProcessor> cpus;
    std::vector<MpBus> buses;
    std::vector<MpIoApic> ioapics;
    std::vector<MpInterrupt> io_ints;
    std::vector<MpInterrupt> local_ints;
};

Parsed parse(const std::vector<std::uint8_t>& bytes, base::GuestAddress base) {
    Parsed p{};
    p.fp = read_at<MpFloatingPointer>(bytes, 0);
    std::size_t table = p.fp.physical_address - base;
    p.header = read_at<MpConfigHeader>(bytes, table);
    std::size_t at = table + sizeof(MpConfigHeader);
    for (unsigned i = 0; i < p.header.entry_count; ++i) {
        switch (bytes.at(at)) {
            case kMpEntryProcessor:
                p.cpus.push_back(read_at<MpProcessor>(bytes, at));
                at += sizeof(MpProcessor);
                break;
            case kMpEntryBus:
                p.buses.push_back(read_at<MpBus>(bytes, at));
                at += sizeof(MpBus);
                break;
            case kMpEntryIoApic:
                p.ioapics.push_back(read_at<MpIoApic>(bytes, at));
                at += sizeof(MpIoApic);
                break;
            case kMpEntryIoInterrupt:
                p.io_ints.push_back(read_at<MpInterrupt>(bytes, at));
                at += sizeof(MpInterrupt);
                break;
            case kMpEntryLocalInterrupt:
                p.local_ints.push_back(read_at<MpInterrupt>(bytes, at));
                at += sizeof(MpInterrupt);
                break;
            default:
                ADD_FAILURE() << "unknown entry type " << int(bytes[at]);
                return p;
        }
    }
    EXPECT_EQ(at - table, p.header.base_table_length);
    EXPECT_EQ(at, bytes.size());
    return p;
}

TEST(MpTable, ChecksumsAndHeaders) {
    auto bytes = build_mptable(4, layout::kEbda);
    Parsed p = parse(bytes, layout::kEbda);
    EXPECT_EQ(std::string(p.fp.signature, 4), "_MP_");
    EXPECT_EQ(p.fp.length, 1);
    EXPECT_EQ(p.fp.spec_rev, 4);
    EXPECT_EQ(p.fp.feature[0], 0);  // a configuration table is present
    EXPECT_EQ(p.fp.physical_address, layout::kEbda + sizeof(MpFloatingPointer));
    EXPECT_EQ(sum(std::span(bytes).first(sizeof(MpFloatingPointer))), 0);
    EXPECT_EQ(std::string(p.header.signature, 4), "PCMP");
    EXPECT_EQ(p.header.spec_rev, 4);
    EXPECT_EQ(p.header.local_apic_address, layout::kLocalApic);
    EXPECT_EQ(sum(std::span(bytes).subspan(sizeof(MpFloatingPointer))), 0);
    EXPECT_EQ(p.header.extended_table_length, 0);
    EXPECT_LE(bytes.size(), kMpTableMaxBytes);
    EXPECT_EQ(layout::kEbda % 16, 0u);
}

TEST(MpTable, ProcessorEntries) {
    for (unsigned vcpus : {1u, 3u, kMpTableMaxVcpus}) {
        Parsed p = parse(build_mptable(vcpus, layout::kEbda), layout::kEbda);
        ASSERT_EQ(p.cpus.size(), vcpus);
        for (unsigned i = 0; i < vcpus; ++i) {
            EXPECT_EQ(p.cpus[i].local_apic_id, i);
            EXPECT_EQ(p.cpus[i].local_apic_version, 0x14);
            EXPECT_EQ(p.cpus[i].cpu_flags & kMpCpuEnabled, kMpCpuEnabled);
            EXPECT_EQ((p.cpus[i].cpu_flags & kMpCpuBootstrap) != 0, i == 0);
        }
    }
}

TEST(MpTable, BusIoApicAndInterrupts) {
    const unsigned vcpus = 2;
    Parsed p = parse(build_mptable(vcpus, layout::kEbda), layout::kEbda);
    ASSERT_EQ(p.buses.size(), 1u);
    EXPECT_EQ(std::string(p.buses[0].bus_type, 6), "ISA   ");
    ASSERT_EQ(p.ioapics.size(), 1u);
    EXPECT_EQ(p.ioapics[0].io_apic_id, vcpus);
    EXPECT_EQ(p.ioapics[0].io_apic_version, 0x11);
    EXPECT_EQ(p.ioapics[0].flags & 1, 1);
    EXPECT_EQ(p.ioapics[0].address, layout::kIoApic);

    // ISA IRQ n -> pin n, except IRQ 0 -> pin 2 (and no IRQ 2 of its own).
    std::vector<int> pin_of(16, -1);
    for (const MpInterrupt& e : p.io_ints) {
        EXPECT_EQ(e.interrupt_type, 0);
        EXPECT_EQ(e.source_bus_id, p.buses[0].bus_id);
        EXPECT_EQ(e.destination_apic_id, vcpus);
        ASSERT_LT(e.source_bus_irq, 16);
        EXPECT_EQ(pin_of[e.source_bus_irq], -1) << "duplicate IRQ";
        pin_of[e.source_bus_irq] = e.destination_pin;
    }
    EXPECT_EQ(pin_of[0], 2);
    for (int irq = 1; irq < 16; ++irq) {
        if (irq != 2) {
            EXPECT_EQ(pin_of[irq], irq);
        }
    }
    ASSERT_EQ(p.local_ints.size(), 2u);
    EXPECT_EQ(p.local_ints[0].interrupt_type, 3);  // ExtINT
    EXPECT_EQ(p.local_ints[0].destination_pin, 0);
    EXPECT_EQ(p.local_ints[1].interrupt_type, 1);  // NMI
    EXPECT_EQ(p.local_ints[1].destination_pin, 1);
    EXPECT_EQ(p.local_ints[1].destination_apic_id, 0xFF);
}

TEST(MpTable, RejectsZeroAndTooManyVcpus) {
    EXPECT_THROW(build_mptable(0, layout::kEbda), base::InvalidInput);
    EXPECT_NO_THROW(build_mptable(kMpTableMaxVcpus, layout::kEbda));
    try {
        build_mptable(kMpTableMaxVcpus + 1, layout::kEbda);
        FAIL() << "expected InvalidInput";
    } catch (const base::InvalidInput& e) {
        EXPECT_NE(std::string(e.what()).find(std::to_string(kMpTableMaxVcpus)), std::string::npos)
            << e.what();
    }
}

TEST(MpTable, WriteLandsAtTheEbdaWhereLinuxScans) {
    base::GuestMemory memory(2 << 20);
    write_mptable(memory, 2);
    auto expected = build_mptable(2, layout::kEbda);
    std::vector<std::uint8_t> copy(expected.size());
    ASSERT_TRUE(memory.read(layout::kEbda, copy));
    EXPECT_EQ(copy, expected);
    EXPECT_LE(layout::kEbda + expected.size(), 0xA0000u);

    base::GuestMemory tiny(64 << 10);
    EXPECT_THROW(write_mptable(tiny, 1), base::InvalidInput);
}

}  // namespace
}  // namespace x86
