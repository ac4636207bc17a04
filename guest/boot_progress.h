#pragma once
// Boot progress codes: the one place that defines them.
//
// The test image's init writes one byte to I/O port 0x402 (layout::kBootProgress)
// at each step of its start-up and shutdown; the VMM timestamps each code and
// reports them as events (ready is what the supervisor waits for). The same
// port is QEMU's isa-debugcon, so benchmarks can read the codes from a peer.
//
// The VMM itself marks "kernel started" (it does not come from this port).

#include <cstdint>

namespace boot_progress {

inline constexpr std::uint16_t kPort = 0x402;

enum Code : std::uint8_t {
    kInitStarted = 0x01,         // PID 1 runs: the kernel reached userspace
    kFilesystemsMounted = 0x02,  // /proc, /sys, /dev, /run, /tmp mounted
    kSeedApplied = 0x03,         // NoCloud seed read (or found absent)
    kNetworkConfigured = 0x04,   // lo and eth0 (when configured) up
    kReady = 0x10,               // sshd started, console shell up: the guest is usable
    kShutdownStarted = 0x20,     // power button, poweroff or reboot received
    kInitFailed = 0xE0,          // init hit an error it cannot recover from
};

}  // namespace boot_progress
