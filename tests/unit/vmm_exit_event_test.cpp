// The vmm's last event, `exit`, carries the final virtio-net counters: the
// only place a supervisor can read the bytes of the last interval once the
// vmm (and its GET /metrics) is gone.

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "vmm/events.h"
#include "vmm/exit_event.h"

namespace vmm {
namespace {

// The shape of VirtioDevices::metrics(): one object per device, by name.
nlohmann::json virtio_metrics() {
    return {
        {"virtio-blk disk0", {{"read_bytes", 4096}, {"write_bytes", 512}, {"errors", 0}}},
        {"virtio-net net0",
         {{"rx_bytes", 1234567},
          {"rx_packets", 900},
          {"tx_bytes", 765432},
          {"tx_packets", 700},
          {"rx_errors", 0},
          {"notifications", 12}}},
        {"virtio-net net1",
         {{"rx_bytes", 10}, {"rx_packets", 1}, {"tx_bytes", 20}, {"tx_packets", 2}}},
        {"virtio-rng rng0", {{"bytes", 64}}},
    };
}

TEST(VmmExitEvent, CarriesTheStatusAndEveryNetDevicesFinalCounters) {
    const auto fields = exit_event_fields(0, virtio_metrics());
    EXPECT_EQ(fields["status"], 0);
    const nlohmann::json want = {
        {"virtio-net net0",
         {{"rx_bytes", 1234567}, {"rx_packets", 900}, {"tx_bytes", 765432}, {"tx_packets", 700}}},
        {"virtio-net net1",
         {{"rx_bytes", 10}, {"rx_packets", 1}, {"tx_bytes", 20}, {"tx_packets", 2}}},
    };
    EXPECT_EQ(fields["virtio"], want) << fields.dump();
}

TEST(VmmExitEvent, AVmWithoutANetworkDeviceSaysSo) {
    const auto fields = exit_event_fields(3, {{"virtio-blk disk0", {{"read_bytes", 1}}}});
    EXPECT_EQ(fields["status"], 3);
    EXPECT_EQ(fields["virtio"], nlohmann::json::object());
    EXPECT_EQ(exit_event_fields(1, nlohmann::json::object())["virtio"], nlohmann::json::object());
}

// As written to --events: one line, the counters under "virtio" beside the
// fields every event has.
TEST(VmmExitEvent, IsOneLineOfTheEventsFile) {
    const std::string path = "/tmp/vmm-exit-event-test-" + std::to_string(getpid()) + ".jsonl";
    unlink(path.c_str());
    {
        EventsConfig config;
        config.kind = EventsConfig::Kind::kPath;
        config.path = path;
        EventLog log(config, "vm1");
        log.emit("exit", exit_event_fields(0, virtio_metrics()));
    }
    std::ifstream in(path);
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    unlink(path.c_str());
    const auto event = nlohmann::json::parse(line);
    EXPECT_EQ(event["event"], "exit");
    EXPECT_EQ(event["vm"], "vm1");
    EXPECT_EQ(event["status"], 0);
    EXPECT_EQ(event["virtio"]["virtio-net net0"]["rx_bytes"], 1234567);
    EXPECT_EQ(event["virtio"]["virtio-net net0"]["tx_bytes"], 765432);
    EXPECT_FALSE(event["virtio"].contains("virtio-blk disk0"));
}

}  // namespace
}  // namespace vmm
