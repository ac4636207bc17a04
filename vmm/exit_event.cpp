#include "vmm/exit_event.h"

#include <string>

namespace vmm {

nlohmann::json exit_event_fields(int status, const nlohmann::json& virtio_metrics) {
    nlohmann::json net = nlohmann::json::object();
    if (virtio_metrics.is_object()) {
        for (const auto& [name, device] : virtio_metrics.items()) {
            if (name.rfind("virtio-net ", 0) != 0 || !device.is_object()) {
                continue;
            }
            nlohmann::json counters = nlohmann::json::object();
            for (const char* key : {"rx_bytes", "rx_packets", "tx_bytes", "tx_packets"}) {
                if (const auto it = device.find(key); it != device.end()) {
                    counters[key] = *it;
                }
            }
            net[name] = std::move(counters);
        }
    }
    return {{"status", status}, {"virtio", std::move(net)}};
}

}  // namespace vmm
