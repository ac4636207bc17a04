#pragma once
// An instance's readiness probe (docs/vmd.md, "Readiness"): what makes a
// starting or rebooting instance running. Pure: the parser for the images'
// and instances' `ready_probe`; vmd runs the probes (supervisor/vmd/tcp_probe.h).

#include <cstdint>
#include <string>

namespace supervisor::lifecycle {

struct ReadyProbe {
    enum class Kind {
        kAuto,       // the first of the debug port's `ready` and an answer on port 22 (where
                     // the guest has a network card)
        kDebugPort,  // the vmm's `ready` event (the guest wrote the ready code)
        kTcp,        // a TCP connect to the instance's address on `port`
        kNone,       // running once the vmm is spawned
    };
    Kind kind = Kind::kAuto;
    std::uint16_t port = 0;  // the TCP port probed: `tcp:PORT`'s, 22 for auto, else 0

    static constexpr std::uint16_t kAutoPort = 22;

    bool waits_for_debug_port() const { return kind == Kind::kAuto || kind == Kind::kDebugPort; }
    // Probes the instance's address (auto only where it has one and a card).
    bool probes_tcp() const { return kind == Kind::kAuto || kind == Kind::kTcp; }
    // Can never pass without an address: refused for instances without one.
    bool needs_address() const { return kind == Kind::kTcp; }
};

// "auto", "debug-port", "tcp:PORT" (1..65535, decimal) or "none"; throws
// base::InvalidInput naming the accepted forms for anything else.
ReadyProbe parse_ready_probe(const std::string& text);

}  // namespace supervisor::lifecycle
