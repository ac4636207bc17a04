#include "net/mac.h"

#include <cstdio>

namespace net {

MacAddress instance_mac(std::string_view instance_id, std::size_t index) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    auto mix = [&h](std::uint8_t byte) {
        h ^= byte;
        h *= 0x100000001b3ull;
    };
    for (char ch : instance_id) {
        mix(static_cast<std::uint8_t>(ch));
    }
    mix(0);
    mix(static_cast<std::uint8_t>(index));
    MacAddress mac{0x02};  // locally administered, unicast
    for (int i = 1; i < 6; ++i) {
        mac[i] = static_cast<std::uint8_t>(h >> (8 * i));
    }
    return mac;
}

std::string format_mac(const MacAddress& mac) {
    char text[18];
    std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return text;
}

std::optional<MacAddress> parse_mac(std::string_view text) {
    if (text.size() != 17) {
        return std::nullopt;
    }
    MacAddress mac{};
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    };
    for (std::size_t i = 0; i < 6; ++i) {
        const int hi = hex(text[3 * i]);
        const int lo = hex(text[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) {
            return std::nullopt;
        }
        mac[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return mac;
}

}  // namespace net
