#pragma once
// A small encoder for AML, the ACPI Machine Language the DSDT is written in
// (ACPI 6.5 chapter 20 "ACPI Machine Language (AML) Specification", and
// §6.4 for the resource descriptors inside _CRS buffers).
//
// Every function returns the bytes of one complete term; terms nest by
// passing their children's bytes in, e.g.
//
//   device("COM1", {name("_HID", eisa_id("PNP0501")), name("_UID", integer(0))})
//
// Malformed input (a bad name, a string with a NUL, an object too large for
// its encoding) throws base::InvalidInput: the tables are built once at VM
// setup, never from guest data.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace firmware::aml {

using Bytes = std::vector<std::uint8_t>;

// ---- encodings (§20.2.4, §20.2.2) ------------------------------------------

// The PkgLength of a term whose body after the PkgLength is `body` bytes long.
// The encoded value counts its own 1..4 bytes too; the shortest form is used.
// Throws when the total exceeds 2^28 - 1.
Bytes pkg_length(std::size_t body);

// A NameString: "ABCD", "\\_SB.COM1", "^PARN", "\\" (the root). Segments
// shorter than four characters are padded with '_' ("GED" -> "GED_").
Bytes name_string(std::string_view path);

// ---- data objects (§20.2.3) --------------------------------------------------

// The shortest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set), or a
// Byte/Word/DWord/QWord constant.
Bytes integer(std::uint64_t value);
// A NUL-terminated ASCII string (characters 0x01..0x7F).
Bytes string(std::string_view text);
// The 32-bit compressed EISA id of "PNP0501" (§19.6.35 EISAID): three
// upper-case letters and four hexadecimal digits.
std::uint32_t eisa_id_value(std::string_view id);
// That id as a DWordConst, the form iasl's EisaId() macro produces.
Bytes eisa_id(std::string_view id);
// Package (NumElements) {elements...}: at most 255 elements.
Bytes package(const std::vector<Bytes>& elements);
// Buffer (size) {data}.
Bytes buffer(std::span<const std::uint8_t> data);

// ---- named objects and namespace modifiers (§20.2.5.1, §20.2.5.2) -----------

Bytes name(std::string_view path, const Bytes& object);
Bytes scope(std::string_view path, const std::vector<Bytes>& terms);
Bytes device(std::string_view path, const std::vector<Bytes>& terms);
// Method (name, args, Serialized/NotSerialized) {body}; sync level 0.
Bytes method(std::string_view path, unsigned args, bool serialized, const std::vector<Bytes>& body);

enum class RegionSpace : std::uint8_t { SystemMemory = 0, SystemIO = 1 };
Bytes operation_region(std::string_view path, RegionSpace space, std::uint64_t offset,
                       std::uint64_t length);

enum class FieldAccess : std::uint8_t { Any = 0, Byte = 1, Word = 2, DWord = 3, QWord = 4 };
enum class FieldUpdate : std::uint8_t { Preserve = 0, WriteAsOnes = 1, WriteAsZeros = 2 };
struct FieldUnit {
    std::string_view name;  // one NameSeg
    std::uint32_t bits;
};
// Field (region, access, NoLock, update) {units...}
Bytes field(std::string_view region, FieldAccess access, FieldUpdate update,
            const std::vector<FieldUnit>& units);

// ---- statements and expressions (§20.2.5.3, §20.2.5.4, §20.2.6) -------------

Bytes local(unsigned n);  // Local0..Local7
Bytes arg(unsigned n);    // Arg0..Arg6
Bytes store(const Bytes& value, const Bytes& target);
Bytes bit_and(const Bytes& a, const Bytes& b);  // And (a, b) with no target
Bytes logical_equal(const Bytes& a, const Bytes& b);
Bytes if_then(const Bytes& predicate, const std::vector<Bytes>& body);
Bytes notify(const Bytes& object, const Bytes& value);
Bytes return_value(const Bytes& value);

// ---- resource descriptors (§6.4) ----------------------------------------------

// I/O port descriptor (§6.4.2.5), 16-bit decode, fixed at `base`.
Bytes io_port(std::uint16_t base, std::uint8_t length);
// 32-bit fixed memory range descriptor (§6.4.3.4).
Bytes memory32_fixed(std::uint32_t base, std::uint32_t length, bool writable);

enum class Trigger : std::uint8_t { Level, Edge };
enum class Polarity : std::uint8_t { ActiveHigh, ActiveLow };
enum class Sharing : std::uint8_t { Exclusive, Shared };
// Extended interrupt descriptor (§6.4.3.6), ResourceConsumer, one interrupt.
Bytes extended_interrupt(std::uint32_t gsi, Trigger trigger, Polarity polarity, Sharing sharing);

// ResourceTemplate () {descriptors...}: a Buffer of the descriptors followed
// by an End Tag (§6.4.2.9) whose checksum makes the descriptor bytes sum to 0.
Bytes resource_template(const std::vector<Bytes>& descriptors);

}  // namespace firmware::aml
