#pragma once
// What every ACPI table shares (ACPI 6.5): the System Description Table
// Header (§5.2.6), the Generic Address Structure (§5.2.3.2), the checksum
// rule (all bytes of a table sum to zero) and the identity we sign with.
//
// Tables are plain packed structs serialised with memcpy into byte vectors;
// nothing here ever points a struct at guest memory.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <type_traits>
#include <vector>

namespace firmware {

using Bytes = std::vector<std::uint8_t>;

// Who made the tables: OEMID (6), OEM Table ID (8), Creator ID (4).
inline constexpr std::string_view kAcpiOemId = "CPPVMM";
inline constexpr std::string_view kAcpiOemTableId = "CPPVMMTB";
inline constexpr std::string_view kAcpiCreatorId = "CVMM";
inline constexpr std::uint32_t kAcpiOemRevision = 1;
inline constexpr std::uint32_t kAcpiCreatorRevision = 1;

// §5.2.6 Table 5.4 "DESCRIPTION_HEADER Fields".
struct [[gnu::packed]] AcpiTableHeader {
    char signature[4];
    std::uint32_t length;  // of the whole table, header included
    std::uint8_t revision;
    std::uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    std::uint32_t oem_revision;
    char creator_id[4];
    std::uint32_t creator_revision;
};
static_assert(offsetof(AcpiTableHeader, signature) == 0);
static_assert(offsetof(AcpiTableHeader, length) == 4);
static_assert(offsetof(AcpiTableHeader, revision) == 8);
static_assert(offsetof(AcpiTableHeader, checksum) == 9);
static_assert(offsetof(AcpiTableHeader, oem_id) == 10);
static_assert(offsetof(AcpiTableHeader, oem_table_id) == 16);
static_assert(offsetof(AcpiTableHeader, oem_revision) == 24);
static_assert(offsetof(AcpiTableHeader, creator_id) == 28);
static_assert(offsetof(AcpiTableHeader, creator_revision) == 32);
static_assert(sizeof(AcpiTableHeader) == 36);

// §5.2.3.2 Table 5.1 "Generic Address Structure (GAS)".
struct [[gnu::packed]] GenericAddress {
    std::uint8_t space_id;  // 0 SystemMemory, 1 SystemIO
    std::uint8_t bit_width;
    std::uint8_t bit_offset;
    std::uint8_t access_size;  // 1 byte, 2 word, 3 dword, 4 qword
    std::uint64_t address;
};
static_assert(offsetof(GenericAddress, space_id) == 0);
static_assert(offsetof(GenericAddress, bit_width) == 1);
static_assert(offsetof(GenericAddress, bit_offset) == 2);
static_assert(offsetof(GenericAddress, access_size) == 3);
static_assert(offsetof(GenericAddress, address) == 4);
static_assert(sizeof(GenericAddress) == 12);

inline constexpr std::uint8_t kGasSystemIo = 1;
inline constexpr std::uint8_t kGasAccessByte = 1;

// A one-byte register in I/O port space.
GenericAddress io_port_register(std::uint16_t port);

// A header with our identity; length and checksum are left for seal_table().
AcpiTableHeader make_table_header(std::string_view signature, std::uint8_t revision);

// Writes the header's length (the vector's size) and checksum.
void seal_table(Bytes& table);

// Appends the raw bytes of a packed struct.
template <typename T>
void append_struct(Bytes& out, const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    std::size_t at = out.size();
    out.resize(at + sizeof value);
    std::memcpy(out.data() + at, &value, sizeof value);
}

// Copies a fixed-size character field without its terminating NUL.
template <std::size_t N>
void copy_id(char (&field)[N], std::string_view id) {
    std::memset(field, ' ', N);
    std::memcpy(field, id.data(), id.size() < N ? id.size() : N);
}

}  // namespace firmware
