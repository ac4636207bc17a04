#include "x86/mptable.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "base/checksum.h"
#include "base/error.h"

namespace x86 {
namespace {

// CPUID-style signature and features for the processor entries (§4.3.1):
// family 6, and the FPU (bit 0) and on-chip APIC (bit 9) feature flags.
constexpr std::uint32_t kCpuSignature = 6u << 8;
constexpr std::uint32_t kCpuFeatures = (1u << 0) | (1u << 9);
constexpr std::uint8_t kIsaBusId = 0;
constexpr std::uint8_t kAllLocalApics = 0xFF;

enum : std::uint8_t { kIntTypeInt = 0, kIntTypeNmi = 1, kIntTypeExtInt = 3 };

template <typename T>
void append(std::vector<std::uint8_t>& out, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::size_t at = out.size();
    out.resize(at + sizeof value);
    std::memcpy(out.data() + at, &value, sizeof value);
}

template <std::size_t N>
void copy_padded(char (&field)[N], const char* text) {
    std::memset(field, ' ', N);
    std::memcpy(field, text, std::min(N, std::strlen(text)));
}

MpInterrupt interrupt(std::uint8_t type, std::uint8_t int_type, std::uint8_t irq, std::uint8_t apic,
                      std::uint8_t pin) {
    MpInterrupt entry{};
    entry.type = type;
    entry.interrupt_type = int_type;
    entry.flags = 0;  // conforms to the bus: ISA is edge-triggered, active-high
    entry.source_bus_id = kIsaBusId;
    entry.source_bus_irq = irq;
    entry.destination_apic_id = apic;
    entry.destination_pin = pin;
    return entry;
}

}  // namespace

std::vector<std::uint8_t> build_mptable(unsigned vcpus, base::GuestAddress base) {
    if (vcpus == 0 || vcpus > kMpTableMaxVcpus) {
        throw base::InvalidInput("the MP table in the 1 KiB EBDA lists 1.." +
                                 std::to_string(kMpTableMaxVcpus) + " vCPUs, not " +
                                 std::to_string(vcpus));
    }
    const auto io_apic_id = static_cast<std::uint8_t>(vcpus);  // after the CPUs' ids
    std::vector<std::uint8_t> table;                           // the configuration table
    std::uint16_t entries = 0;
    append(table, MpConfigHeader{});

    for (unsigned cpu = 0; cpu < vcpus; ++cpu) {
        MpProcessor proc{};
        proc.type = kMpEntryProcessor;
        proc.local_apic_id = static_cast<std::uint8_t>(cpu);
        proc.local_apic_version = kMpLocalApicVersion;
        proc.cpu_flags = kMpCpuEnabled | (cpu == 0 ? kMpCpuBootstrap : 0);
        proc.cpu_signature = kCpuSignature;
        proc.feature_flags = kCpuFeatures;
        append(table, proc);
        ++entries;
    }

    MpBus bus{};
    bus.type = kMpEntryBus;
    bus.bus_id = kIsaBusId;
    copy_padded(bus.bus_type, "ISA");
    append(table, bus);
    ++entries;

    MpIoApic ioapic{};
    ioapic.type = kMpEntryIoApic;
    ioapic.io_apic_id = io_apic_id;
    ioapic.io_apic_version = kMpIoApicVersion;
    ioapic.flags = 1;  // EN
    ioapic.address = static_cast<std::uint32_t>(layout::kIoApic);
    append(table, ioapic);
    ++entries;

    for (std::uint8_t irq = 0; irq < 16; ++irq) {
        if (irq == 2) {
            continue;  // pin 2 carries IRQ 0 (the PIT), as on a PC
        }
        std::uint8_t pin = irq == 0 ? 2 : irq;
        append(table, interrupt(kMpEntryIoInterrupt, kIntTypeInt, irq, io_apic_id, pin));
        ++entries;
    }
    append(table, interrupt(kMpEntryLocalInterrupt, kIntTypeExtInt, 0, kAllLocalApics, 0));
    append(table, interrupt(kMpEntryLocalInterrupt, kIntTypeNmi, 0, kAllLocalApics, 1));
    entries += 2;

    MpConfigHeader header{};
    std::memcpy(header.signature, "PCMP", 4);
    header.base_table_length = static_cast<std::uint16_t>(table.size());
    header.spec_rev = kMpSpecRev;
    copy_padded(header.oem_id, "CPPVMM");
    copy_padded(header.product_id, "CPPVMM");
    header.entry_count = entries;
    header.local_apic_address = static_cast<std::uint32_t>(layout::kLocalApic);
    std::memcpy(table.data(), &header, sizeof header);
    table[offsetof(MpConfigHeader, checksum)] = base::zero_sum_checksum(table);

    MpFloatingPointer fp{};
    std::memcpy(fp.signature, "_MP_", 4);
    fp.physical_address = static_cast<std::uint32_t>(base + sizeof fp);
    fp.length = 1;
    fp.spec_rev = kMpSpecRev;
    std::vector<std::uint8_t> out;
    append(out, fp);
    out[offsetof(MpFloatingPointer, checksum)] = base::zero_sum_checksum(out);
    out.insert(out.end(), table.begin(), table.end());
    if (out.size() > kMpTableMaxBytes) {
        throw base::InternalError("MP table larger than its computed bound");
    }
    return out;
}

void write_mptable(base::GuestMemory& memory, unsigned vcpus) {
    std::vector<std::uint8_t> table = build_mptable(vcpus, layout::kEbda);
    if (!memory.write(layout::kEbda, table)) {
        throw base::InvalidInput("guest RAM does not cover the EBDA for the MP table");
    }
}

}  // namespace x86
