#pragma once
// The fields of the vmm's last event, `exit`: its status and the final
// cumulative counters of every virtio-net device, so that a supervisor that
// bills network bytes gets the last interval's too, after the vmm (and its
// GET /metrics) is gone (docs/vmm.md, "Events").

#include <nlohmann/json.hpp>

namespace vmm {

// {"status": S, "virtio": {"virtio-net NAME": {rx_bytes, rx_packets,
// tx_bytes, tx_packets}, ...}}: the figures GET /metrics gives for each
// virtio-net device in `virtio_metrics` (VirtioDevices::metrics()), the
// other devices left out. "virtio" is {} for a VM without a network device.
nlohmann::json exit_event_fields(int status, const nlohmann::json& virtio_metrics);

}  // namespace vmm
