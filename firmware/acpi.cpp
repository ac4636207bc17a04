#include "firmware/acpi.h"

#include <array>
#include <stdexcept>
#include <string>

#include "base/error.h"
#include "firmware/acpi_dsdt.h"
#include "firmware/acpi_fadt.h"
#include "firmware/acpi_madt.h"
#include "firmware/acpi_rsdp.h"
#include "firmware/acpi_xsdt.h"

namespace firmware {
namespace {

// Tables start on 16-byte boundaries (the RSDP must; the rest need not).
constexpr std::uint64_t kTableAlignment = 16;

std::uint64_t align_up(std::uint64_t value) {
    return (value + kTableAlignment - 1) & ~(kTableAlignment - 1);
}

void validate(const AcpiConfig& config) {
    if (config.vcpus == 0 || config.vcpus > kAcpiMaxVcpus) {
        throw base::InvalidInput("ACPI tables describe 1.." + std::to_string(kAcpiMaxVcpus) +
                                 " vCPUs, not " + std::to_string(config.vcpus));
    }
    if (config.virtio.size() > layout::kMaxVirtioDevices) {
        throw base::InvalidInput("at most " + std::to_string(layout::kMaxVirtioDevices) +
                                 " virtio-mmio devices fit the IOAPIC, not " +
                                 std::to_string(config.virtio.size()));
    }
    for (const VirtioMmioWindow& window : config.virtio) {
        if (window.size == 0 || window.addr >= layout::kMmioHoleEnd ||
            window.size > layout::kMmioHoleEnd - window.addr) {
            throw base::InvalidInput("virtio-mmio window must be non-empty and below 4 GiB");
        }
        if (window.gsi < layout::kIrqVirtioFirst || window.gsi >= layout::kIoApicPins) {
            throw base::InvalidInput("virtio-mmio GSI " + std::to_string(window.gsi) + " outside " +
                                     std::to_string(layout::kIrqVirtioFirst) + ".." +
                                     std::to_string(layout::kIoApicPins - 1));
        }
    }
}

// Appends `table` at the next aligned offset; returns its guest address.
base::GuestAddress place(AcpiTables& tables, const Bytes& table) {
    std::uint64_t offset = align_up(tables.bytes.size());
    tables.bytes.resize(offset, 0);
    tables.bytes.insert(tables.bytes.end(), table.begin(), table.end());
    return tables.base + offset;
}

}  // namespace

AcpiTables build_acpi_tables(const AcpiConfig& config, base::GuestAddress base) {
    validate(config);
    if (base % kRsdpAlignment != 0) {
        throw base::InvalidInput("the RSDP needs a 16-byte aligned address");
    }
    Bytes dsdt = build_dsdt(config.virtio);
    Bytes madt = build_madt(config.vcpus);

    // Fixed-size tables first, so every address is known before it is needed:
    // RSDP, XSDT (two entries), FADT, then MADT and DSDT.
    AcpiTables tables;
    tables.base = base;
    std::uint64_t xsdt_offset = align_up(sizeof(Rsdp));
    std::uint64_t xsdt_size = sizeof(AcpiTableHeader) + 2 * sizeof(std::uint64_t);
    std::uint64_t fadt_offset = align_up(xsdt_offset + xsdt_size);
    std::uint64_t madt_offset = align_up(fadt_offset + sizeof(Fadt));
    std::uint64_t dsdt_offset = align_up(madt_offset + madt.size());
    std::array<std::uint64_t, 2> xsdt_entries{base + fadt_offset, base + madt_offset};

    tables.rsdp = place(tables, build_rsdp(base + xsdt_offset));
    tables.xsdt = place(tables, build_xsdt(xsdt_entries));
    tables.fadt = place(tables, build_fadt(base + dsdt_offset));
    tables.madt = place(tables, madt);
    tables.dsdt = place(tables, dsdt);
    if (tables.xsdt != base + xsdt_offset || tables.fadt != xsdt_entries[0] ||
        tables.madt != xsdt_entries[1] || tables.dsdt != base + dsdt_offset) {
        throw base::InternalError("ACPI table layout mismatch");
    }
    return tables;
}

base::GuestAddress write_acpi_tables(base::GuestMemory& memory, const AcpiConfig& config) {
    AcpiTables tables = build_acpi_tables(config, layout::kBiosStart);
    // The top of the area holds the reset code (firmware/reset_code.h).
    constexpr std::uint64_t kRoom = layout::kResetCode - layout::kBiosStart;
    if (tables.bytes.size() > kRoom) {
        throw base::InvalidInput("ACPI tables take " + std::to_string(tables.bytes.size()) +
                                 " bytes, more than the " + std::to_string(kRoom) +
                                 " between 0xE0000 and the reset code at 0xFFF00");
    }
    if (!memory.zero(layout::kBiosStart, layout::kBiosEnd - layout::kBiosStart) ||
        !memory.write(tables.base, tables.bytes)) {
        throw base::InvalidInput("guest RAM does not cover 0xE0000..1 MiB for the ACPI tables");
    }
    return tables.rsdp;
}

}  // namespace firmware
