#include "supervisor/metering/counters.h"

#include <charconv>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"

namespace supervisor::metering {

namespace {

std::optional<std::int64_t> parse_count(std::string_view digits) {
    std::int64_t value = 0;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (error != std::errc() || end != digits.data() + digits.size() || digits.empty() ||
        value < 0) {
        return std::nullopt;
    }
    return value;
}

// A JSON number that is a non-negative integer small enough for int64.
std::optional<std::int64_t> json_count(const nlohmann::json& j) {
    if (j.is_number_unsigned()) {
        const auto v = j.get<std::uint64_t>();
        if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            return std::nullopt;
        }
        return static_cast<std::int64_t>(v);
    }
    if (j.is_number_integer()) {
        const auto v = j.get<std::int64_t>();
        return v >= 0 ? std::optional(v) : std::nullopt;
    }
    return std::nullopt;
}

// The sum over the "virtio-net *" devices of `metrics`, an object.
std::optional<NetCounters> sum_net_devices(const nlohmann::json& metrics) {
    NetCounters sum;
    const auto virtio = metrics.find("virtio");
    if (virtio == metrics.end()) {
        return sum;
    }
    if (!virtio->is_object()) {
        return std::nullopt;
    }
    for (const auto& [name, device] : virtio->items()) {
        if (name.rfind("virtio-net ", 0) != 0) {
            continue;
        }
        if (!device.is_object() || !device.contains("rx_bytes") || !device.contains("tx_bytes")) {
            return std::nullopt;
        }
        const auto rx = json_count(device["rx_bytes"]);
        const auto tx = json_count(device["tx_bytes"]);
        if (!rx || !tx || *rx > std::numeric_limits<std::int64_t>::max() - sum.rx_bytes ||
            *tx > std::numeric_limits<std::int64_t>::max() - sum.tx_bytes) {
            return std::nullopt;
        }
        sum.rx_bytes += *rx;
        sum.tx_bytes += *tx;
    }
    return sum;
}

}  // namespace

std::optional<std::int64_t> parse_cpu_stat(std::string_view text) {
    constexpr std::string_view kKey = "usage_usec ";
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view line = text.substr(pos, end - pos);
        if (line.substr(0, kKey.size()) == kKey) {
            return parse_count(line.substr(kKey.size()));
        }
        pos = end + 1;
    }
    return std::nullopt;
}

std::int64_t read_cpu_usage_us(const std::string& cgroup_dir) {
    const std::string path = cgroup_dir + "/cpu.stat";
    std::ifstream in(path);
    if (!in) {
        throw base::HostError("cannot read " + path +
                              ": is the instance's cgroup there, on cgroup v2?");
    }
    std::ostringstream text;
    text << in.rdbuf();
    const auto usage = parse_cpu_stat(text.str());
    if (!usage) {
        throw base::HostError(path + " has no usage_usec line: is it a cgroup v2 cpu.stat?");
    }
    return *usage;
}

std::optional<NetCounters> parse_vmm_metrics(std::string_view body) {
    const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
        return std::nullopt;
    }
    return sum_net_devices(j);
}

std::optional<NetCounters> parse_exit_event(const nlohmann::json& event) {
    if (!event.is_object() || !event.contains("virtio")) {
        return std::nullopt;
    }
    return sum_net_devices(event);
}

}  // namespace supervisor::metering
