#pragma once
// Ethernet MAC addresses of instances: locally administered, unicast and
// stable, derived from the instance's id, so that an instance keeps its MAC
// across stops, starts and supervisor restarts without storing it, and the
// filter on its tap (net/bridge_filter.h) knows it before the VMM starts.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace net {

using MacAddress = std::array<std::uint8_t, 6>;

// 02:xx:xx:xx:xx:xx from an FNV-1a hash of the id and the card's index (the
// vmm's default for `--net` without `mac=`, docs/vmm.md).
MacAddress instance_mac(std::string_view instance_id, std::size_t index = 0);

// "02:00:5e:10:00:01", lower case.
std::string format_mac(const MacAddress& mac);
// Six colon-separated pairs of hex digits; nullopt otherwise.
std::optional<MacAddress> parse_mac(std::string_view text);

}  // namespace net
