#include "firmware/acpi_rsdp.h"

#include <span>

#include "base/checksum.h"

namespace firmware {

Bytes build_rsdp(std::uint64_t xsdt_address) {
    Rsdp rsdp{};
    copy_id(rsdp.signature, "RSD PTR ");
    copy_id(rsdp.oem_id, kAcpiOemId);
    rsdp.revision = 2;
    rsdp.rsdt_address = 0;
    rsdp.length = sizeof(Rsdp);
    rsdp.xsdt_address = xsdt_address;
    Bytes out;
    append_struct(out, rsdp);
    out[offsetof(Rsdp, checksum)] = base::zero_sum_checksum(std::span(out).first(kRsdpV1Length));
    out[offsetof(Rsdp, extended_checksum)] = base::zero_sum_checksum(out);
    return out;
}

}  // namespace firmware
