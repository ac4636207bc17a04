// The readiness probes an image or instance may name (docs/vmd.md,
// "Readiness"): each form parsed to what vmd waits for, anything else
// refused with a message that lists the forms.

#include <gtest/gtest.h>

#include <string>

#include "base/error.h"
#include "supervisor/lifecycle/ready_probe.h"

namespace supervisor::lifecycle {
namespace {

using Kind = ReadyProbe::Kind;

TEST(ReadyProbeParse, EachFormSaysWhatVmdWaitsFor) {
    const ReadyProbe automatic = parse_ready_probe("auto");
    EXPECT_EQ(automatic.kind, Kind::kAuto);
    EXPECT_EQ(automatic.port, 22);
    EXPECT_TRUE(automatic.waits_for_debug_port());
    EXPECT_TRUE(automatic.probes_tcp());
    EXPECT_FALSE(automatic.needs_address()) << "auto is the debug port alone without an address";

    const ReadyProbe debug = parse_ready_probe("debug-port");
    EXPECT_EQ(debug.kind, Kind::kDebugPort);
    EXPECT_TRUE(debug.waits_for_debug_port());
    EXPECT_FALSE(debug.probes_tcp());

    const ReadyProbe none = parse_ready_probe("none");
    EXPECT_EQ(none.kind, Kind::kNone);
    EXPECT_FALSE(none.waits_for_debug_port());
    EXPECT_FALSE(none.probes_tcp());

    const ReadyProbe tcp = parse_ready_probe("tcp:8022");
    EXPECT_EQ(tcp.kind, Kind::kTcp);
    EXPECT_EQ(tcp.port, 8022);
    EXPECT_FALSE(tcp.waits_for_debug_port()) << "tcp:PORT alone: the debug port does not count";
    EXPECT_TRUE(tcp.probes_tcp());
    EXPECT_TRUE(tcp.needs_address());

    EXPECT_EQ(parse_ready_probe("tcp:1").port, 1);
    EXPECT_EQ(parse_ready_probe("tcp:65535").port, 65535);
}

TEST(ReadyProbeParse, BadPortsAreRefusedNamingTheRange) {
    for (const std::string bad : {"tcp:", "tcp:0", "tcp:65536", "tcp:99999", "tcp:-1", "tcp:22x",
                                  "tcp:022", "tcp: 22", "tcp:123456", "tcp:4294967318"}) {
        try {
            parse_ready_probe(bad);
            ADD_FAILURE() << bad << " was taken";
        } catch (const base::InvalidInput& e) {
            EXPECT_NE(std::string(e.what()).find("1 to 65535"), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
        }
    }
}

TEST(ReadyProbeParse, UnknownProbesAreRefusedListingTheForms) {
    for (const std::string bad : {"", "ping", "ssh", "TCP:22", "Auto", "debug-port ", "udp:53"}) {
        try {
            parse_ready_probe(bad);
            ADD_FAILURE() << "'" << bad << "' was taken";
        } catch (const base::InvalidInput& e) {
            const std::string message = e.what();
            for (const char* form : {"auto", "debug-port", "tcp:PORT", "none"}) {
                EXPECT_NE(message.find(form), std::string::npos) << message;
            }
        }
    }
}

}  // namespace
}  // namespace supervisor::lifecycle
