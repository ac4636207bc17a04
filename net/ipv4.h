#pragma once
// IPv4 addresses and networks as values: parsed strictly from their usual
// text ("198.18.0.5", "198.18.0.0/24"), compared, and printed back.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace net {

class Ipv4Address {
  public:
    constexpr Ipv4Address() = default;
    constexpr explicit Ipv4Address(std::uint32_t host_order) : value_(host_order) {}

    // Four decimal octets 0..255 without leading zeros or spaces; nullopt otherwise.
    static std::optional<Ipv4Address> parse(std::string_view text);
    // As parse(), but throws InvalidInput naming `what` and the text.
    static Ipv4Address parse_or_throw(std::string_view text, const std::string& what);

    constexpr std::uint32_t value() const { return value_; }
    std::string to_string() const;
    auto operator<=>(const Ipv4Address&) const = default;

  private:
    std::uint32_t value_ = 0;
};

// A network: its first address and prefix length, host bits all zero.
class Ipv4Cidr {
  public:
    // Throws InvalidInput when the prefix is over 32 or host bits are set.
    Ipv4Cidr(Ipv4Address network, int prefix_length);
    // "198.18.0.0/24"; throws InvalidInput naming the text and what is wrong
    // (a set host bit is refused: "198.18.0.1/24" is an interface address).
    static Ipv4Cidr parse(std::string_view text);

    Ipv4Address network() const { return network_; }
    int prefix_length() const { return prefix_; }
    Ipv4Address netmask() const;
    Ipv4Address broadcast() const;
    std::uint64_t size() const { return std::uint64_t{1} << (32 - prefix_); }
    bool contains(Ipv4Address address) const;
    std::string to_string() const;
    bool operator==(const Ipv4Cidr&) const = default;

  private:
    Ipv4Address network_;
    int prefix_;
};

// An address on an interface, with the length of its network's prefix
// ("198.18.0.5/24"), as network-config and netlink want it.
struct Ipv4Interface {
    Ipv4Address address;
    int prefix_length = 32;

    Ipv4Cidr network() const;
    std::string to_string() const;
    bool operator==(const Ipv4Interface&) const = default;
};

}  // namespace net
