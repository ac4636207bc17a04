#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "base/error.h"
#include "base/guest_memory.h"
#include "firmware/acpi.h"
#include "firmware/acpi_fadt.h"
#include "firmware/acpi_madt.h"
#include "firmware/acpi_rsdp.h"
#include "firmware/acpi_table.h"
#include "x86/layout.h"

namespace firmware {
namespace {

std::uint8_t sum(std::span<const std::uint8_t> bytes) {
    std::uint8_t total = 0;
    for (std::uint8_t b : bytes) {
        total = static_cast<std::uint8_t>(total + b);
    }
    return total;
}

template <typename T>
T read_at(const AcpiTables& tables, base::GuestAddress addr) {
    T value;
    EXPECT_GE(addr, tables.base);
    EXPECT_LE(addr - tables.base + sizeof value, tables.bytes.size());
    std::memcpy(&value, tables.bytes.data() + (addr - tables.base), sizeof value);
    return value;
}

// The table at `addr`, checked: signature, length within the blob, checksum.
std::span<const std::uint8_t> table_at(const AcpiTables& tables, base::GuestAddress addr,
                                       const char* signature) {
    auto header = read_at<AcpiTableHeader>(tables, addr);
    EXPECT_EQ(std::string(header.signature, 4), signature);
    EXPECT_LE(addr - tables.base + header.length, tables.bytes.size());
    auto table =
        std::span<const std::uint8_t>(tables.bytes).subspan(addr - tables.base, header.length);
    EXPECT_EQ(sum(table), 0) << signature << " checksum";
    EXPECT_EQ(std::string(header.oem_id, 6), "CPPVMM");
    return table;
}

AcpiConfig two_virtio(unsigned vcpus) {
    return {vcpus,
            {{layout::kVirtioMmioBase, layout::kVirtioMmioStride, layout::kIrqVirtioFirst},
             {layout::kVirtioMmioBase + layout::kVirtioMmioStride, layout::kVirtioMmioStride,
              layout::kIrqVirtioFirst + 1}}};
}

TEST(AcpiTables, RsdpHasBothChecksumsAndPointsAtTheXsdt) {
    AcpiTables tables = build_acpi_tables(two_virtio(2), layout::kBiosStart);
    EXPECT_EQ(tables.rsdp, layout::kBiosStart);
    EXPECT_EQ(tables.rsdp % 16, 0u);
    auto rsdp = read_at<Rsdp>(tables, tables.rsdp);
    EXPECT_EQ(std::string(rsdp.signature, 8), "RSD PTR ");
    EXPECT_EQ(rsdp.revision, 2);
    EXPECT_EQ(rsdp.length, 36u);
    EXPECT_EQ(rsdp.rsdt_address, 0u);
    EXPECT_EQ(rsdp.xsdt_address, tables.xsdt);
    auto bytes = std::span<const std::uint8_t>(tables.bytes).subspan(tables.rsdp - tables.base);
    EXPECT_EQ(sum(bytes.first(20)), 0);
    EXPECT_EQ(sum(bytes.first(36)), 0);
}

TEST(AcpiTables, XsdtListsFadtAndMadt) {
    AcpiTables tables = build_acpi_tables(two_virtio(2), layout::kBiosStart);
    auto xsdt = table_at(tables, tables.xsdt, "XSDT");
    ASSERT_EQ(xsdt.size(), 36u + 2 * 8);
    std::uint64_t entries[2];
    std::memcpy(entries, xsdt.data() + 36, sizeof entries);
    EXPECT_EQ(entries[0], tables.fadt);
    EXPECT_EQ(entries[1], tables.madt);
    table_at(tables, entries[0], "FACP");
    table_at(tables, entries[1], "APIC");
}

TEST(AcpiTables, FadtIsHardwareReducedAndPointsAtTheDsdt) {
    AcpiTables tables = build_acpi_tables(two_virtio(1), layout::kBiosStart);
    auto bytes = table_at(tables, tables.fadt, "FACP");
    ASSERT_EQ(bytes.size(), sizeof(Fadt));
    auto fadt = read_at<Fadt>(tables, tables.fadt);
    EXPECT_EQ(fadt.header.revision, 6);
    EXPECT_EQ(fadt.x_dsdt, tables.dsdt);
    EXPECT_EQ(fadt.dsdt, 0u);
    table_at(tables, fadt.x_dsdt, "DSDT");
    EXPECT_EQ(fadt.sci_int, layout::kIrqGed);
    EXPECT_NE(fadt.flags & kFadtHwReducedAcpi, 0u);
    EXPECT_NE(fadt.flags & kFadtResetRegSupported, 0u);
    EXPECT_EQ(fadt.iapc_boot_arch, kBootArch8042 | kBootArchVgaNotPresent);

    GenericAddress reset = fadt.reset_reg;
    EXPECT_EQ(reset.space_id, kGasSystemIo);
    EXPECT_EQ(reset.bit_width, 8);
    EXPECT_EQ(reset.address, layout::kAcpiReset);
    EXPECT_EQ(fadt.reset_value, layout::kAcpiResetValue);
    GenericAddress control = fadt.sleep_control_reg;
    EXPECT_EQ(control.space_id, kGasSystemIo);
    EXPECT_EQ(control.access_size, kGasAccessByte);
    EXPECT_EQ(control.address, layout::kAcpiSleepControl);
    GenericAddress status = fadt.sleep_status_reg;
    EXPECT_EQ(status.space_id, kGasSystemIo);
    EXPECT_EQ(status.address, layout::kAcpiSleepStatus);
    // Nothing of the fixed hardware: no PM1 blocks, no SMI port.
    EXPECT_EQ(fadt.pm1a_cnt_blk, 0u);
    EXPECT_EQ(fadt.smi_cmd, 0u);
}

struct MadtEntries {
    std::vector<MadtLocalApic> lapics;
    std::vector<MadtIoApic> ioapics;
    std::vector<MadtInterruptOverride> overrides;
    unsigned others = 0;
};

MadtEntries parse_madt(std::span<const std::uint8_t> madt) {
    MadtEntries out;
    std::size_t at = sizeof(MadtHeader);
    while (at < madt.size()) {
        EXPECT_LE(at + 2, madt.size());
        std::uint8_t type = madt[at];
        std::uint8_t length = madt[at + 1];
        EXPECT_GE(length, 2);
        EXPECT_LE(at + length, madt.size());
        if (length < 2 || at + length > madt.size()) {
            break;
        }
        if (type == kMadtTypeLocalApic && length == sizeof(MadtLocalApic)) {
            out.lapics.emplace_back();
            std::memcpy(&out.lapics.back(), madt.data() + at, length);
        } else if (type == kMadtTypeIoApic && length == sizeof(MadtIoApic)) {
            out.ioapics.emplace_back();
            std::memcpy(&out.ioapics.back(), madt.data() + at, length);
        } else if (type == kMadtTypeInterruptOverride && length == sizeof(MadtInterruptOverride)) {
            out.overrides.emplace_back();
            std::memcpy(&out.overrides.back(), madt.data() + at, length);
        } else {
            ++out.others;
        }
        at += length;
    }
    EXPECT_EQ(at, madt.size());
    return out;
}

TEST(AcpiTables, MadtHasOneLocalApicPerVcpu) {
    for (unsigned vcpus : {1u, 2u, 7u, 64u, 255u}) {
        AcpiTables tables = build_acpi_tables({vcpus, {}}, layout::kBiosStart);
        auto madt = table_at(tables, tables.madt, "APIC");
        auto header = read_at<MadtHeader>(tables, tables.madt);
        EXPECT_EQ(header.local_apic_address, layout::kLocalApic);
        EXPECT_EQ(header.flags & 1u, 0u) << "PCAT_COMPAT";
        MadtEntries entries = parse_madt(madt);
        ASSERT_EQ(entries.lapics.size(), vcpus);
        for (unsigned i = 0; i < vcpus; ++i) {
            EXPECT_EQ(entries.lapics[i].apic_id, i);
            EXPECT_EQ(entries.lapics[i].processor_uid, i);
            EXPECT_EQ(entries.lapics[i].flags, kMadtLocalApicEnabled);
        }
        ASSERT_EQ(entries.ioapics.size(), 1u);
        EXPECT_EQ(entries.ioapics[0].address, layout::kIoApic);
        EXPECT_EQ(entries.ioapics[0].gsi_base, 0u);
        ASSERT_GE(entries.overrides.size(), 1u);
        EXPECT_EQ(entries.overrides[0].source, 0);
        EXPECT_EQ(entries.overrides[0].gsi, 2u);
        EXPECT_EQ(entries.overrides[0].bus, 0);
    }
}

TEST(AcpiTables, TablesAreAlignedAndInsideTheBlob) {
    AcpiTables tables = build_acpi_tables(two_virtio(4), layout::kBiosStart);
    for (base::GuestAddress addr :
         {tables.rsdp, tables.xsdt, tables.fadt, tables.madt, tables.dsdt}) {
        EXPECT_EQ(addr % 16, 0u);
        EXPECT_GE(addr, layout::kBiosStart);
        EXPECT_LT(addr, layout::kBiosStart + tables.bytes.size());
    }
    auto dsdt = table_at(tables, tables.dsdt, "DSDT");
    EXPECT_EQ(tables.dsdt - tables.base + dsdt.size(), tables.bytes.size());
}

TEST(AcpiTables, BuildsAtAnotherBase) {
    AcpiTables tables = build_acpi_tables(two_virtio(1), 0x1000);
    EXPECT_EQ(tables.rsdp, 0x1000u);
    EXPECT_EQ(read_at<Rsdp>(tables, tables.rsdp).xsdt_address, tables.xsdt);
    EXPECT_EQ(read_at<Fadt>(tables, tables.fadt).x_dsdt, tables.dsdt);
    EXPECT_THROW(build_acpi_tables(two_virtio(1), 0x1008), base::InvalidInput);
}

TEST(AcpiTables, RejectsBadConfigurations) {
    EXPECT_THROW(build_acpi_tables({0, {}}, layout::kBiosStart), base::InvalidInput);
    EXPECT_THROW(build_acpi_tables({256, {}}, layout::kBiosStart), base::InvalidInput);
    AcpiConfig many{1, {}};
    for (unsigned i = 0; i <= layout::kMaxVirtioDevices; ++i) {
        many.virtio.push_back({layout::kVirtioMmioBase + i * layout::kVirtioMmioStride,
                               layout::kVirtioMmioStride, layout::kIrqVirtioFirst + i});
    }
    EXPECT_THROW(build_acpi_tables(many, layout::kBiosStart), base::InvalidInput);
    many.virtio.pop_back();
    EXPECT_NO_THROW(build_acpi_tables(many, layout::kBiosStart));

    AcpiConfig bad_gsi = two_virtio(1);
    bad_gsi.virtio[1].gsi = layout::kIoApicPins;
    EXPECT_THROW(build_acpi_tables(bad_gsi, layout::kBiosStart), base::InvalidInput);
    AcpiConfig high = two_virtio(1);
    high.virtio[0].addr = 0x1'0000'0000;
    EXPECT_THROW(build_acpi_tables(high, layout::kBiosStart), base::InvalidInput);
    AcpiConfig empty = two_virtio(1);
    empty.virtio[0].size = 0;
    EXPECT_THROW(build_acpi_tables(empty, layout::kBiosStart), base::InvalidInput);
}

TEST(AcpiTables, WriteCopiesTheBlobToTheBiosArea) {
    base::GuestMemory memory(16 << 20);
    AcpiConfig config = two_virtio(2);
    ASSERT_TRUE(memory.write_obj<std::uint64_t>(layout::kBiosEnd - 8, ~0ull));  // stale data
    base::GuestAddress rsdp = write_acpi_tables(memory, config);
    EXPECT_EQ(rsdp, layout::kBiosStart);
    AcpiTables expected = build_acpi_tables(config, layout::kBiosStart);
    std::vector<std::uint8_t> copy(expected.bytes.size());
    ASSERT_TRUE(memory.read(layout::kBiosStart, copy));
    EXPECT_EQ(copy, expected.bytes);
    EXPECT_EQ(memory.read_obj<std::uint64_t>(layout::kBiosEnd - 8), 0u);

    // Linux finds the RSDP by scanning 0xE0000..0xFFFFF on 16-byte boundaries.
    base::GuestAddress found = 0;
    for (base::GuestAddress a = layout::kBiosStart; a < layout::kBiosEnd && !found; a += 16) {
        auto sig = memory.read_obj<std::uint64_t>(a);
        if (sig && std::memcmp(&*sig, "RSD PTR ", 8) == 0) {
            found = a;
        }
    }
    EXPECT_EQ(found, rsdp);
}

TEST(AcpiTables, WriteFailsWhenRamIsTooSmall) {
    base::GuestMemory memory(512 << 10);  // ends below 0xE0000
    EXPECT_THROW(write_acpi_tables(memory, two_virtio(1)), base::InvalidInput);
    base::GuestMemory enough(2 << 20);
    EXPECT_THROW(write_acpi_tables(enough, {0, {}}), base::InvalidInput);
}

}  // namespace
}  // namespace firmware
