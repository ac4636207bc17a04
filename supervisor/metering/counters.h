#pragma once
// Reading the cumulative counters that metering bills from: CPU time from the
// instance's cgroup v2 cpu.stat, network bytes from the vmm's GET /metrics.
// Parsing is pure (a string in, a value out); the file access is one thin
// function. Each counter only grows for the life of one vmm process.
//
// Network framing: the vmm counts each Ethernet frame as the guest hands it
// to (tx) or gets it from (rx) the tap: destination MAC to the end of the
// payload, without the 12-byte virtio-net header, the preamble, the FCS or
// the inter-frame gap. With TSO a frame may be a 64 KiB segment that the host
// cuts into MTU-sized packets later, each with its own headers: the count then
// carries one set of headers for the whole segment, so it is a little below
// what the wire carries (about 66 bytes less per 1500-byte packet).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace supervisor::metering {

// The counters of one vmm process at one moment. A field left empty was not
// read this time (the vmm did not answer, the cgroup is gone): its meter is
// left as it was, neither counted nor reset.
struct Counters {
    std::optional<std::int64_t> cpu_us;        // CPU time of every thread in the cgroup
    std::optional<std::int64_t> net_rx_bytes;  // frames the guest received, every virtio-net
    std::optional<std::int64_t> net_tx_bytes;  // frames the guest sent, every virtio-net
};

// usage_usec from the text of a cgroup v2 cpu.stat ("usage_usec 1234\n...");
// nothing when the line is missing or not a non-negative integer.
std::optional<std::int64_t> parse_cpu_stat(std::string_view text);

// usage_usec of the cgroup at `cgroup_dir` (e.g. /sys/fs/cgroup/vmd/i-1).
// Throws base::HostError naming the file when it cannot be read or parsed.
std::int64_t read_cpu_usage_us(const std::string& cgroup_dir);

struct NetCounters {
    std::int64_t rx_bytes = 0;
    std::int64_t tx_bytes = 0;
};

// The sum of rx_bytes and tx_bytes over every "virtio-net *" device in the
// body of a vmm's GET /metrics (docs/vmm.md). A vmm without a network device
// gives zeros. Nothing when the body is not such an object or a counter is not
// a non-negative integer: the vmm runs guest-driven code, so its answer is
// checked, never trusted to be well formed.
std::optional<NetCounters> parse_vmm_metrics(std::string_view body);

// The final counters a vmm's `exit` event carries under "virtio", in the
// shape of GET /metrics (vmm/exit_event.h), summed as above. Nothing when the
// event has no "virtio" (a vmm that did not say: its last sample stands) or
// when it is malformed.
std::optional<NetCounters> parse_exit_event(const nlohmann::json& event);

}  // namespace supervisor::metering
