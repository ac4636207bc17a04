#include "firmware/acpi_table.h"

#include "base/checksum.h"
#include "base/error.h"

namespace firmware {

GenericAddress io_port_register(std::uint16_t port) {
    GenericAddress gas{};
    gas.space_id = kGasSystemIo;
    gas.bit_width = 8;
    gas.bit_offset = 0;
    gas.access_size = kGasAccessByte;
    gas.address = port;
    return gas;
}

AcpiTableHeader make_table_header(std::string_view signature, std::uint8_t revision) {
    if (signature.size() != 4) {
        throw base::InvalidInput("ACPI table signatures are 4 characters");
    }
    AcpiTableHeader header{};
    copy_id(header.signature, signature);
    header.revision = revision;
    copy_id(header.oem_id, kAcpiOemId);
    copy_id(header.oem_table_id, kAcpiOemTableId);
    header.oem_revision = kAcpiOemRevision;
    copy_id(header.creator_id, kAcpiCreatorId);
    header.creator_revision = kAcpiCreatorRevision;
    return header;
}

void seal_table(Bytes& table) {
    if (table.size() < sizeof(AcpiTableHeader)) {
        throw base::InvalidInput("ACPI table shorter than its header");
    }
    auto length = static_cast<std::uint32_t>(table.size());
    std::memcpy(table.data() + offsetof(AcpiTableHeader, length), &length, sizeof length);
    table[offsetof(AcpiTableHeader, checksum)] = 0;
    table[offsetof(AcpiTableHeader, checksum)] = base::zero_sum_checksum(table);
}

}  // namespace firmware
