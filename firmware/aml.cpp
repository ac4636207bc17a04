#include "firmware/aml.h"

#include <string>

#include "base/error.h"

namespace firmware::aml {
namespace {

// Opcodes: ACPI 6.5 §20.3 "AML Byte Stream Byte Values".
constexpr std::uint8_t kZeroOp = 0x00;
constexpr std::uint8_t kOneOp = 0x01;
constexpr std::uint8_t kNameOp = 0x08;
constexpr std::uint8_t kBytePrefix = 0x0A;
constexpr std::uint8_t kWordPrefix = 0x0B;
constexpr std::uint8_t kDWordPrefix = 0x0C;
constexpr std::uint8_t kStringPrefix = 0x0D;
constexpr std::uint8_t kQWordPrefix = 0x0E;
constexpr std::uint8_t kScopeOp = 0x10;
constexpr std::uint8_t kBufferOp = 0x11;
constexpr std::uint8_t kPackageOp = 0x12;
constexpr std::uint8_t kMethodOp = 0x14;
constexpr std::uint8_t kDualNamePrefix = 0x2E;
constexpr std::uint8_t kMultiNamePrefix = 0x2F;
constexpr std::uint8_t kExtOpPrefix = 0x5B;
constexpr std::uint8_t kRootChar = 0x5C;
constexpr std::uint8_t kParentPrefixChar = 0x5E;
constexpr std::uint8_t kLocal0Op = 0x60;
constexpr std::uint8_t kArg0Op = 0x68;
constexpr std::uint8_t kStoreOp = 0x70;
constexpr std::uint8_t kAndOp = 0x7B;
constexpr std::uint8_t kNotifyOp = 0x86;
constexpr std::uint8_t kLEqualOp = 0x93;
constexpr std::uint8_t kIfOp = 0xA0;
constexpr std::uint8_t kReturnOp = 0xA4;
constexpr std::uint8_t kOnesOp = 0xFF;
constexpr std::uint8_t kOpRegionOp = 0x80;  // after kExtOpPrefix
constexpr std::uint8_t kFieldOp = 0x81;     // after kExtOpPrefix
constexpr std::uint8_t kDeviceOp = 0x82;    // after kExtOpPrefix

// Resource descriptor tags: §6.4.2 (small) and §6.4.3 (large).
constexpr std::uint8_t kIoPortTag = 0x47;  // small item 0x08, length 7
constexpr std::uint8_t kEndTag = 0x79;     // small item 0x0F, length 1
constexpr std::uint8_t kMemory32FixedTag = 0x86;
constexpr std::uint8_t kExtendedIrqTag = 0x89;

// The largest value the four-byte PkgLength form holds (§20.2.4): 28 bits.
constexpr std::size_t kMaxPkgLength = 0x0FFF'FFFF;

void append(Bytes& out, const Bytes& more) {
    out.insert(out.end(), more.begin(), more.end());
}

void append_le(Bytes& out, std::uint64_t value, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) {
        out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
    }
}

Bytes concat(const std::vector<Bytes>& parts) {
    Bytes out;
    for (const Bytes& part : parts) {
        append(out, part);
    }
    return out;
}

// §20.2.4: bits 7-6 of the lead byte give the count of following bytes; with
// none, bits 5-0 are the value; otherwise bits 3-0 are its low nibble and
// each following byte adds eight more bits.
Bytes encode_length(std::size_t value, unsigned bytes) {
    if (bytes == 1) {
        return {static_cast<std::uint8_t>(value)};
    }
    Bytes out{static_cast<std::uint8_t>(((bytes - 1) << 6) | (value & 0x0F))};
    for (unsigned i = 1; i < bytes; ++i) {
        out.push_back(static_cast<std::uint8_t>(value >> (4 + 8 * (i - 1))));
    }
    return out;
}

// A field unit's width uses the PkgLength encoding, but its value is the
// bit count alone (it does not count its own bytes).
Bytes field_width(std::uint32_t bits) {
    if (bits == 0 || bits > kMaxPkgLength) {
        throw base::InvalidInput("AML field unit width out of range: " + std::to_string(bits));
    }
    unsigned bytes = bits <= 0x3F ? 1 : bits <= 0xFFF ? 2 : bits <= 0xF'FFFF ? 3 : 4;
    return encode_length(bits, bytes);
}

// opcode(s) PkgLength body
Bytes with_pkg_length(const Bytes& opcode, const Bytes& body) {
    Bytes out = opcode;
    append(out, pkg_length(body.size()));
    append(out, body);
    return out;
}

bool is_lead_char(char c) {
    return (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
    return is_lead_char(c) || (c >= '0' && c <= '9');
}

// §20.2.2 NameSeg: a lead character and up to three more, padded with '_'.
void append_name_seg(Bytes& out, std::string_view seg, std::string_view path) {
    if (seg.empty() || seg.size() > 4 || !is_lead_char(seg[0])) {
        throw base::InvalidInput("bad AML name segment in \"" + std::string(path) + "\"");
    }
    for (char c : seg) {
        if (!is_name_char(c)) {
            throw base::InvalidInput("bad AML name character in \"" + std::string(path) + "\"");
        }
        out.push_back(static_cast<std::uint8_t>(c));
    }
    for (std::size_t i = seg.size(); i < 4; ++i) {
        out.push_back('_');
    }
}

Bytes named_with_pkg_length(const Bytes& opcode, std::string_view path, const Bytes& rest) {
    Bytes body = name_string(path);
    append(body, rest);
    return with_pkg_length(opcode, body);
}

}  // namespace

Bytes pkg_length(std::size_t body) {
    for (unsigned bytes = 1; bytes <= 4; ++bytes) {
        std::size_t limit = bytes == 1 ? 0x3F : (std::size_t{1} << (4 + 8 * (bytes - 1))) - 1;
        if (body + bytes <= limit) {
            return encode_length(body + bytes, bytes);
        }
    }
    throw base::InvalidInput("AML object too large for a PkgLength: " + std::to_string(body) +
                             " bytes");
}

Bytes name_string(std::string_view path) {
    std::string_view rest = path;
    Bytes out;
    if (!rest.empty() && rest.front() == '\\') {
        out.push_back(kRootChar);
        rest.remove_prefix(1);
    } else {
        while (!rest.empty() && rest.front() == '^') {
            out.push_back(kParentPrefixChar);
            rest.remove_prefix(1);
        }
    }
    if (rest.empty()) {
        if (out.empty()) {
            throw base::InvalidInput("empty AML name");
        }
        out.push_back(kZeroOp);  // NullName: the root or a parent itself
        return out;
    }
    std::vector<std::string_view> segs;
    for (std::size_t dot; (dot = rest.find('.')) != std::string_view::npos;) {
        segs.push_back(rest.substr(0, dot));
        rest.remove_prefix(dot + 1);
    }
    segs.push_back(rest);
    if (segs.size() == 2) {
        out.push_back(kDualNamePrefix);
    } else if (segs.size() > 2) {
        if (segs.size() > 255) {
            throw base::InvalidInput("AML name has too many segments");
        }
        out.push_back(kMultiNamePrefix);
        out.push_back(static_cast<std::uint8_t>(segs.size()));
    }
    for (std::string_view seg : segs) {
        append_name_seg(out, seg, path);
    }
    return out;
}

Bytes integer(std::uint64_t value) {
    if (value == 0) {
        return {kZeroOp};
    }
    if (value == 1) {
        return {kOneOp};
    }
    if (value == ~std::uint64_t{0}) {
        return {kOnesOp};
    }
    Bytes out;
    if (value <= 0xFF) {
        out.push_back(kBytePrefix);
        append_le(out, value, 1);
    } else if (value <= 0xFFFF) {
        out.push_back(kWordPrefix);
        append_le(out, value, 2);
    } else if (value <= 0xFFFF'FFFF) {
        out.push_back(kDWordPrefix);
        append_le(out, value, 4);
    } else {
        out.push_back(kQWordPrefix);
        append_le(out, value, 8);
    }
    return out;
}

Bytes string(std::string_view text) {
    Bytes out{kStringPrefix};
    for (char c : text) {
        auto byte = static_cast<std::uint8_t>(c);
        if (byte == 0 || byte > 0x7F) {
            throw base::InvalidInput("AML strings hold ASCII 0x01..0x7F only");
        }
        out.push_back(byte);
    }
    out.push_back(0);
    return out;
}

std::uint32_t eisa_id_value(std::string_view id) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    bool ok = id.size() == 7;
    for (std::size_t i = 0; ok && i < 7; ++i) {
        ok = i < 3 ? (id[i] >= 'A' && id[i] <= 'Z') : hex(id[i]) >= 0;
    }
    if (!ok) {
        throw base::InvalidInput("bad EISA id \"" + std::string(id) + "\"");
    }
    // Three 5-bit letters ('A' = 1) then four 4-bit digits, most significant
    // first, stored big-endian in a little-endian DWORD.
    std::uint32_t be = 0;
    for (std::size_t i = 0; i < 3; ++i) {
        be = (be << 5) | static_cast<std::uint32_t>(id[i] - 'A' + 1);
    }
    for (std::size_t i = 3; i < 7; ++i) {
        be = (be << 4) | static_cast<std::uint32_t>(hex(id[i]));
    }
    return ((be & 0xFF) << 24) | ((be & 0xFF00) << 8) | ((be >> 8) & 0xFF00) | (be >> 24);
}

Bytes eisa_id(std::string_view id) {
    Bytes out{kDWordPrefix};
    append_le(out, eisa_id_value(id), 4);
    return out;
}

Bytes package(const std::vector<Bytes>& elements) {
    if (elements.size() > 255) {
        throw base::InvalidInput("AML Package holds at most 255 elements");
    }
    Bytes body{static_cast<std::uint8_t>(elements.size())};
    append(body, concat(elements));
    return with_pkg_length({kPackageOp}, body);
}

Bytes buffer(std::span<const std::uint8_t> data) {
    Bytes body = integer(data.size());
    body.insert(body.end(), data.begin(), data.end());
    return with_pkg_length({kBufferOp}, body);
}

Bytes name(std::string_view path, const Bytes& object) {
    Bytes out{kNameOp};
    append(out, name_string(path));
    append(out, object);
    return out;
}

Bytes scope(std::string_view path, const std::vector<Bytes>& terms) {
    return named_with_pkg_length({kScopeOp}, path, concat(terms));
}

Bytes device(std::string_view path, const std::vector<Bytes>& terms) {
    return named_with_pkg_length({kExtOpPrefix, kDeviceOp}, path, concat(terms));
}

Bytes method(std::string_view path, unsigned args, bool serialized,
             const std::vector<Bytes>& body) {
    if (args > 7) {
        throw base::InvalidInput("AML methods take at most 7 arguments");
    }
    // MethodFlags: bits 2-0 ArgCount, bit 3 SerializeFlag, bits 7-4 SyncLevel.
    Bytes rest{static_cast<std::uint8_t>(args | (serialized ? 0x08 : 0x00))};
    append(rest, concat(body));
    return named_with_pkg_length({kMethodOp}, path, rest);
}

Bytes operation_region(std::string_view path, RegionSpace space, std::uint64_t offset,
                       std::uint64_t length) {
    Bytes out{kExtOpPrefix, kOpRegionOp};
    append(out, name_string(path));
    out.push_back(static_cast<std::uint8_t>(space));
    append(out, integer(offset));
    append(out, integer(length));
    return out;
}

Bytes field(std::string_view region, FieldAccess access, FieldUpdate update,
            const std::vector<FieldUnit>& units) {
    // FieldFlags: bits 3-0 AccessType, bit 4 LockRule (0 = NoLock),
    // bits 6-5 UpdateRule.
    Bytes rest{static_cast<std::uint8_t>(static_cast<unsigned>(access) |
                                         (static_cast<unsigned>(update) << 5))};
    for (const FieldUnit& unit : units) {
        append_name_seg(rest, unit.name, unit.name);  // NamedField: NameSeg PkgLength
        append(rest, field_width(unit.bits));
    }
    return named_with_pkg_length({kExtOpPrefix, kFieldOp}, region, rest);
}

Bytes local(unsigned n) {
    if (n > 7) {
        throw base::InvalidInput("AML has Local0..Local7 only");
    }
    return {static_cast<std::uint8_t>(kLocal0Op + n)};
}

Bytes arg(unsigned n) {
    if (n > 6) {
        throw base::InvalidInput("AML has Arg0..Arg6 only");
    }
    return {static_cast<std::uint8_t>(kArg0Op + n)};
}

Bytes store(const Bytes& value, const Bytes& target) {
    return concat({{kStoreOp}, value, target});
}

Bytes bit_and(const Bytes& a, const Bytes& b) {
    return concat({{kAndOp}, a, b, {kZeroOp}});  // Target: NullName, no store
}

Bytes logical_equal(const Bytes& a, const Bytes& b) {
    return concat({{kLEqualOp}, a, b});
}

Bytes if_then(const Bytes& predicate, const std::vector<Bytes>& body) {
    Bytes rest = predicate;
    append(rest, concat(body));
    return with_pkg_length({kIfOp}, rest);
}

Bytes notify(const Bytes& object, const Bytes& value) {
    return concat({{kNotifyOp}, object, value});
}

Bytes return_value(const Bytes& value) {
    return concat({{kReturnOp}, value});
}

Bytes io_port(std::uint16_t base, std::uint8_t length) {
    // Information (bit 0: 16-bit decode), min, max, alignment, length.
    Bytes out{kIoPortTag, 0x01};
    append_le(out, base, 2);
    append_le(out, base, 2);
    out.push_back(1);
    out.push_back(length);
    return out;
}

Bytes memory32_fixed(std::uint32_t base, std::uint32_t length, bool writable) {
    Bytes out{kMemory32FixedTag};
    append_le(out, 9, 2);  // length of the data that follows
    out.push_back(writable ? 0x01 : 0x00);
    append_le(out, base, 4);
    append_le(out, length, 4);
    return out;
}

Bytes extended_interrupt(std::uint32_t gsi, Trigger trigger, Polarity polarity, Sharing sharing) {
    // Flags: bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared.
    std::uint8_t flags = 0x01;
    flags |= trigger == Trigger::Edge ? 0x02 : 0x00;
    flags |= polarity == Polarity::ActiveLow ? 0x04 : 0x00;
    flags |= sharing == Sharing::Shared ? 0x08 : 0x00;
    Bytes out{kExtendedIrqTag};
    append_le(out, 6, 2);  // flags, count and one 32-bit interrupt number
    out.push_back(flags);
    out.push_back(1);
    append_le(out, gsi, 4);
    return out;
}

Bytes resource_template(const std::vector<Bytes>& descriptors) {
    Bytes data = concat(descriptors);
    data.push_back(kEndTag);
    std::uint8_t sum = 0;
    for (std::uint8_t byte : data) {
        sum = static_cast<std::uint8_t>(sum + byte);
    }
    data.push_back(static_cast<std::uint8_t>(-sum));
    return buffer(data);
}

}  // namespace firmware::aml
