// Reading the counters metering bills from: a cgroup v2 cpu.stat and a vmm's
// GET /metrics body, including the malformed answers a vmm running hostile
// guest code could give.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "supervisor/metering/counters.h"

namespace supervisor::metering {
namespace {

namespace fs = std::filesystem;

// As Linux 6.1 writes it for a cgroup with the cpu controller enabled.
constexpr const char* kCpuStat =
    "usage_usec 8123456\n"
    "user_usec 6000000\n"
    "system_usec 2123456\n"
    "nr_periods 0\n"
    "nr_throttled 0\n"
    "throttled_usec 0\n";

TEST(MeterCounters, CpuStatGivesUsageUsec) {
    EXPECT_EQ(parse_cpu_stat(kCpuStat), 8123456);
    EXPECT_EQ(parse_cpu_stat("user_usec 1\nusage_usec 42"), 42);  // no final newline
    EXPECT_EQ(parse_cpu_stat("usage_usec 0\n"), 0);
}

TEST(MeterCounters, CpuStatWithoutAValidUsageIsNothing) {
    EXPECT_FALSE(parse_cpu_stat(""));
    EXPECT_FALSE(parse_cpu_stat("user_usec 5\nsystem_usec 6\n"));
    EXPECT_FALSE(parse_cpu_stat("usage_usec\n"));
    EXPECT_FALSE(parse_cpu_stat("usage_usec -5\n"));
    EXPECT_FALSE(parse_cpu_stat("usage_usec 12x\n"));
    EXPECT_FALSE(parse_cpu_stat("usage_usec 99999999999999999999999\n"));
    EXPECT_FALSE(parse_cpu_stat("xusage_usec 5\n"));
}

TEST(MeterCounters, ReadsTheCgroupsFileAndNamesItWhenItCannot) {
    char tmpl[] = "/tmp/vmd-metering-cg-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    std::ofstream(dir + "/cpu.stat") << kCpuStat;
    EXPECT_EQ(read_cpu_usage_us(dir), 8123456);

    std::ofstream(dir + "/cpu.stat") << "nr_periods 0\n";
    try {
        read_cpu_usage_us(dir);
        ADD_FAILURE() << "a cpu.stat without usage_usec was accepted";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find(dir + "/cpu.stat"), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
    try {
        read_cpu_usage_us(dir);
        ADD_FAILURE() << "a missing cgroup was read";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find(dir + "/cpu.stat"), std::string::npos) << e.what();
    }
}

// Shaped like vmm/machine.cpp's metrics(): the serial port's rx/tx_bytes
// under "devices" and virtio-blk's bytes are not network traffic.
constexpr const char* kMetrics = R"({
  "vm_exits": {"io": 100, "mmio": 2000},
  "io_port_exits": {"in": 1, "out": 2},
  "devices": {"serial": {"rx_bytes": 777, "tx_bytes": 888}},
  "virtio": {
    "virtio-blk disk0": {"read_bytes": 4096, "write_bytes": 512, "notifications": 3},
    "virtio-net net0": {"rx_packets": 3, "rx_bytes": 1500, "tx_packets": 2, "tx_bytes": 1000,
                         "rx_errors": 0, "tx_errors": 0, "rx_dropped": 0, "tx_dropped": 0},
    "virtio-net uplink": {"rx_bytes": 10, "tx_bytes": 20},
    "virtio-rng": {"notifications": 1}
  },
  "boots": 1
})";

TEST(MeterCounters, MetricsSumEveryVirtioNetDeviceAndNothingElse) {
    const auto net = parse_vmm_metrics(kMetrics);
    ASSERT_TRUE(net);
    EXPECT_EQ(net->rx_bytes, 1510);
    EXPECT_EQ(net->tx_bytes, 1020);
}

TEST(MeterCounters, MetricsOfAVmmWithoutNetworkAreZero) {
    const auto net = parse_vmm_metrics(R"({"virtio": {"virtio-rng": {"notifications": 1}}})");
    ASSERT_TRUE(net);
    EXPECT_EQ(net->rx_bytes, 0);
    EXPECT_EQ(net->tx_bytes, 0);
    EXPECT_TRUE(parse_vmm_metrics(R"({"boots": 0})"));
}

TEST(MeterCounters, MalformedMetricsAreNothing) {
    const char* bad[] = {
        "",
        "not json",
        "[1, 2]",
        R"({"virtio": []})",
        R"({"virtio": {"virtio-net net0": 5}})",
        R"({"virtio": {"virtio-net net0": {"rx_bytes": 1}}})",
        R"({"virtio": {"virtio-net net0": {"rx_bytes": -1, "tx_bytes": 0}}})",
        R"({"virtio": {"virtio-net net0": {"rx_bytes": 1.5, "tx_bytes": 0}}})",
        R"({"virtio": {"virtio-net net0": {"rx_bytes": "1", "tx_bytes": 0}}})",
        R"({"virtio": {"virtio-net net0": {"rx_bytes": 18446744073709551615, "tx_bytes": 0}}})",
        R"({"virtio": {"virtio-net a": {"rx_bytes": 9223372036854775807, "tx_bytes": 0},
                       "virtio-net b": {"rx_bytes": 1, "tx_bytes": 0}}})",
    };
    for (const char* body : bad) {
        EXPECT_FALSE(parse_vmm_metrics(body)) << body;
    }
}

// The vmm's `exit` event (vmm/exit_event.h) carries the final counters in
// the shape of GET /metrics; one without them (an older vmm) says nothing,
// so the last sample stands rather than a zero.
TEST(MeterCounters, ExitEventCarriesTheFinalNetworkCounters) {
    const auto event = nlohmann::json::parse(R"({"event": "exit", "vm": "i-1", "time": 5,
        "status": 0, "virtio": {"virtio-net net0": {"rx_bytes": 1500, "rx_packets": 3,
        "tx_bytes": 1000, "tx_packets": 2}, "virtio-net uplink": {"rx_bytes": 10,
        "rx_packets": 1, "tx_bytes": 20, "tx_packets": 1}}})");
    const auto net = parse_exit_event(event);
    ASSERT_TRUE(net);
    EXPECT_EQ(net->rx_bytes, 1510);
    EXPECT_EQ(net->tx_bytes, 1020);

    const auto none = parse_exit_event(nlohmann::json::parse(R"({"event": "exit", "virtio": {}})"));
    ASSERT_TRUE(none) << "a VM without a network device: zero";
    EXPECT_EQ(none->rx_bytes, 0);

    EXPECT_FALSE(parse_exit_event(nlohmann::json::parse(R"({"event": "exit", "status": 0})")));
    EXPECT_FALSE(parse_exit_event(nlohmann::json::parse(
        R"({"event": "exit", "virtio": {"virtio-net net0": {"rx_bytes": -1, "tx_bytes": 0}}})")));
    EXPECT_FALSE(parse_exit_event(nlohmann::json::parse(R"({"event": "exit", "virtio": 7})")));
    EXPECT_FALSE(parse_exit_event(nlohmann::json::parse("[1]")));
}

}  // namespace
}  // namespace supervisor::metering
