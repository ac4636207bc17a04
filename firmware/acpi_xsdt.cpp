#include "firmware/acpi_xsdt.h"

namespace firmware {

Bytes build_xsdt(std::span<const std::uint64_t> tables) {
    Bytes out;
    append_struct(out, make_table_header("XSDT", kXsdtRevision));
    for (std::uint64_t address : tables) {
        append_struct(out, address);
    }
    seal_table(out);
    return out;
}

}  // namespace firmware
