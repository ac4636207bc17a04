#pragma once
// The meters and their units. A meter's name and unit never change once
// released (bills and exports from different releases must add up); a new
// unit is a new meter. docs/metering.md says where each comes from.

#include <array>
#include <cstdint>
#include <string_view>

namespace supervisor::metering {

// CPU time of a vmm process's cgroup (vCPU, I/O and other threads), in µs.
inline constexpr std::string_view kCpuUs = "cpu_us";
// Bytes of the frames the guest received / sent (counters.h: framing).
inline constexpr std::string_view kNetRxBytes = "net_rx_bytes";
inline constexpr std::string_view kNetTxBytes = "net_tx_bytes";
// Provisioned size × time, in GiB-milliseconds (2^30 bytes held for 1 ms).
inline constexpr std::string_view kStorageGibMs = "storage_gib_ms";
// One per boot (a start's first boot and each reboot), quantity 1.
inline constexpr std::string_view kBoots = "boots";
// Milliseconds from a boot's start to its guest's ready, one row per ready boot.
inline constexpr std::string_view kBootReadyMs = "boot_ready_ms";

inline constexpr std::array<std::string_view, 6> kMeters = {
    kCpuUs, kNetRxBytes, kNetTxBytes, kStorageGibMs, kBoots, kBootReadyMs};

// What a usage row is about: an instance (CPU, network, boots, a
// non-persistent root's storage) or a volume (its storage).
inline constexpr std::string_view kKindInstance = "instance";
inline constexpr std::string_view kKindVolume = "volume";

inline constexpr std::int64_t kBytesPerGib = std::int64_t{1} << 30;

}  // namespace supervisor::metering
