#include "net/ipv4.h"

#include <charconv>

#include "base/error.h"

namespace net {

namespace {

std::uint32_t mask_of(int prefix_length) {
    if (prefix_length <= 0) {
        return 0;
    }
    return prefix_length >= 32 ? ~std::uint32_t{0} : ~std::uint32_t{0} << (32 - prefix_length);
}

// A decimal number without sign, spaces or leading zeros, at most `max`.
std::optional<unsigned> parse_decimal(std::string_view text, unsigned max) {
    if (text.empty() || text.size() > 3 || (text.size() > 1 && text[0] == '0')) {
        return std::nullopt;
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value > max) {
        return std::nullopt;
    }
    return value;
}

}  // namespace

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view text) {
    std::uint32_t value = 0;
    for (int octet = 0; octet < 4; ++octet) {
        const std::size_t dot = octet < 3 ? text.find('.') : text.size();
        if (dot == std::string_view::npos) {
            return std::nullopt;
        }
        const auto part = parse_decimal(text.substr(0, dot), 255);
        if (!part) {
            return std::nullopt;
        }
        value = value << 8 | *part;
        text.remove_prefix(octet < 3 ? dot + 1 : dot);
    }
    return Ipv4Address(value);
}

Ipv4Address Ipv4Address::parse_or_throw(std::string_view text, const std::string& what) {
    const auto address = parse(text);
    if (!address) {
        throw base::InvalidInput(what + " '" + std::string(text) +
                                 "' is not an IPv4 address like 198.18.0.1");
    }
    return *address;
}

std::string Ipv4Address::to_string() const {
    return std::to_string(value_ >> 24) + "." + std::to_string(value_ >> 16 & 0xff) + "." +
           std::to_string(value_ >> 8 & 0xff) + "." + std::to_string(value_ & 0xff);
}

Ipv4Cidr::Ipv4Cidr(Ipv4Address network, int prefix_length)
    : network_(network), prefix_(prefix_length) {
    if (prefix_length < 0 || prefix_length > 32) {
        throw base::InvalidInput("prefix length /" + std::to_string(prefix_length) +
                                 " is not between /0 and /32");
    }
    if ((network.value() & ~mask_of(prefix_length)) != 0) {
        const Ipv4Address base(network.value() & mask_of(prefix_length));
        throw base::InvalidInput(network.to_string() + "/" + std::to_string(prefix_length) +
                                 " has host bits set: the network is " + base.to_string() + "/" +
                                 std::to_string(prefix_length));
    }
}

Ipv4Cidr Ipv4Cidr::parse(std::string_view text) {
    const std::size_t slash = text.find('/');
    const auto address = Ipv4Address::parse(text.substr(0, slash));
    const auto prefix =
        slash == std::string_view::npos ? std::nullopt : parse_decimal(text.substr(slash + 1), 32);
    if (!address || !prefix) {
        throw base::InvalidInput("network '" + std::string(text) +
                                 "' is not an IPv4 CIDR like 198.18.0.0/24");
    }
    return Ipv4Cidr(*address, static_cast<int>(*prefix));
}

Ipv4Address Ipv4Cidr::netmask() const {
    return Ipv4Address(mask_of(prefix_));
}

Ipv4Address Ipv4Cidr::broadcast() const {
    return Ipv4Address(network_.value() | ~mask_of(prefix_));
}

bool Ipv4Cidr::contains(Ipv4Address address) const {
    return (address.value() & mask_of(prefix_)) == network_.value();
}

std::string Ipv4Cidr::to_string() const {
    return network_.to_string() + "/" + std::to_string(prefix_);
}

Ipv4Cidr Ipv4Interface::network() const {
    return Ipv4Cidr(Ipv4Address(address.value() & mask_of(prefix_length)), prefix_length);
}

std::string Ipv4Interface::to_string() const {
    return address.to_string() + "/" + std::to_string(prefix_length);
}

}  // namespace net
