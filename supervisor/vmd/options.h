#pragma once
// vmd's settings (docs/vmd.md, "vmd options"), filled by main from the
// command line.

#include <cstdint>
#include <string>
#include <vector>

namespace supervisor::vmd {

struct Options {
    std::string state_dir = "/var/lib/vmm-platform";
    std::string socket = "/run/vmm-platform/vmd.sock";
    std::string run_dir;  // default: the socket's directory
    std::string cgroup_root = "/sys/fs/cgroup/vmm-platform";
    std::string vmm;  // default: `vmm` beside vmd
    std::string default_kernel;
    std::string default_cmdline = "console=ttyS0 root=/dev/vda rw";
    std::int64_t max_memory_mib = 0;  // default: MemTotal - 1024
    std::int64_t min_free_disk_mib = 1024;
    std::int64_t console_max_bytes = 1 << 20;
    std::int64_t terminated_listed_s = 3600;
    std::int64_t vmm_overhead_mib = 64;  // memory a vmm takes beside its guest's
    int kill_grace_s = 5;                // SIGTERM to SIGKILL
    std::string qemu_img = "/usr/bin/qemu-img";
    // Instance networking (docs/network.md): "bridge" (addresses, the bridge,
    // a tap per instance, the nftables isolation), "addresses" (leases only,
    // the guests get no network card: hosts where vmd may not make a bridge,
    // the host tests), "none" (neither).
    std::string network = "bridge";
    std::string bridge = "vmbr0";
    std::string network_cidr = "198.18.0.0/24";
    std::string gateway;           // default: the network's first address
    std::vector<std::string> dns;  // default: the gateway
    // Metering (docs/metering.md): sampling interval, prices, Prometheus file.
    int meter_interval_s = 60;
    std::string price_sheet;     // default: default_price_sheet() (meter.h)
    std::string metrics_file;    // none by default
    std::string metrics_listen;  // HOST:PORT for GET /metrics over TCP; none by default
};

}  // namespace supervisor::vmd
