// The ledger's exports: Prometheus text exposition, CSV and JSON lines, each
// checked against text written out here.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "supervisor/metering/exports.h"
#include "supervisor/metering/meters.h"

namespace supervisor::metering {
namespace {

TEST(MeterExports, PrometheusTextHasOneFamilyPerMeterWithOwnerLabels) {
    const std::vector<Total> totals = {
        {1000, "instance", "i-1", "boots", 3},
        {1000, "instance", "i-1", "cpu_us", 1'250'000},
        {1000, "instance", "i-1", "net_rx_bytes", 1500},
        {1001, "instance", "i-2", "cpu_us", 7},
        {1001, "volume", "vol-\"x\"\\y", "storage_gib_ms", 1},
        {1001, "instance", "i-2", "some_future_meter", 5},
    };
    EXPECT_EQ(prometheus_text(totals),
              "# HELP vmd_usage_boots_total Boots: starts and reboots\n"
              "# TYPE vmd_usage_boots_total counter\n"
              "vmd_usage_boots_total{owner=\"1000\",kind=\"instance\",id=\"i-1\"} 3\n"
              "# HELP vmd_usage_cpu_seconds_total CPU time of the vmm processes\n"
              "# TYPE vmd_usage_cpu_seconds_total counter\n"
              "vmd_usage_cpu_seconds_total{owner=\"1000\",kind=\"instance\",id=\"i-1\"} 1.250000\n"
              "vmd_usage_cpu_seconds_total{owner=\"1001\",kind=\"instance\",id=\"i-2\"} 0.000007\n"
              "# HELP vmd_usage_network_receive_bytes_total Bytes of the frames the guest "
              "received\n"
              "# TYPE vmd_usage_network_receive_bytes_total counter\n"
              "vmd_usage_network_receive_bytes_total{owner=\"1000\",kind=\"instance\",id=\"i-1\"} "
              "1500\n"
              "# HELP vmd_usage_storage_byte_seconds_total Provisioned storage size times time "
              "held\n"
              "# TYPE vmd_usage_storage_byte_seconds_total counter\n"
              "vmd_usage_storage_byte_seconds_total{owner=\"1001\",kind=\"volume\","
              "id=\"vol-\\\"x\\\"\\\\y\"} 1073741.824\n");
}

TEST(MeterExports, PrometheusValuesAreExactForLargeCounters) {
    // 4 PiB-years in GiB-ms: beyond 64 bits once in byte-seconds.
    const std::int64_t gib_ms = 4LL * 1024 * 1024 * 31'536'000'000LL;
    const std::string text = prometheus_text({{1, "volume", "v", "storage_gib_ms", gib_ms}});
    // gib_ms × 2^30 / 1000 = 142,025,517,848,755,961,856,000 byte-seconds.
    EXPECT_NE(text.find("} 142025517848755961856000.000\n"), std::string::npos) << text;
}

TEST(MeterExports, AMetricsFileIsReplacedWhole) {
    char tmpl[] = "/tmp/vmd-metrics-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    const std::string path = dir + "/vmd.prom";
    write_file_atomically(path, "old 1\n");
    write_file_atomically(path, "new 2\n");
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    EXPECT_EQ(text.str(), "new 2\n");
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    try {
        write_file_atomically(dir + "/missing/vmd.prom", "x");
        ADD_FAILURE() << "wrote into a missing directory";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find(dir + "/missing/vmd.prom.tmp"), std::string::npos)
            << e.what();
    }
    std::filesystem::remove_all(dir);
}

std::vector<UsageRecord> rows() {
    return {
        {1, 1000, "instance", "i-1", "cpu_us", 500, 10'000, 70'000, 7, std::nullopt},
        {2, 1000, "instance", "i-1", "boots", 1, 10'000, 12'000, 7, 1},
        {3, 1001, "volume", "vol,\"odd\"", "storage_gib_ms", 42, 0, 60'000, std::nullopt,
         std::nullopt},
    };
}

TEST(MeterExports, CsvQuotesWhatNeedsIt) {
    std::ostringstream out;
    write_csv(out, rows());
    EXPECT_EQ(out.str(),
              "id,owner,kind,resource,meter,quantity,start_ms,end_ms,process,boot\r\n"
              "1,1000,instance,i-1,cpu_us,500,10000,70000,7,\r\n"
              "2,1000,instance,i-1,boots,1,10000,12000,7,1\r\n"
              "3,1001,volume,\"vol,\"\"odd\"\"\",storage_gib_ms,42,0,60000,,\r\n");
}

TEST(MeterExports, JsonLinesRoundTrip) {
    std::ostringstream out;
    write_json_lines(out, rows());
    std::istringstream in(out.str());
    std::string line;
    std::vector<nlohmann::json> parsed;
    while (std::getline(in, line)) {
        parsed.push_back(nlohmann::json::parse(line));
    }
    ASSERT_EQ(parsed.size(), 3u);
    EXPECT_EQ(parsed[0]["meter"], "cpu_us");
    EXPECT_EQ(parsed[0]["quantity"], 500);
    EXPECT_EQ(parsed[0]["process"], 7);
    EXPECT_TRUE(parsed[0]["boot"].is_null());
    EXPECT_EQ(parsed[1]["boot"], 1);
    EXPECT_EQ(parsed[2]["resource"], "vol,\"odd\"");
    EXPECT_EQ(parsed[2]["kind"], "volume");
    EXPECT_EQ(parsed[2]["start_ms"], 0);
    EXPECT_EQ(parsed[2]["end_ms"], 60000);
    EXPECT_TRUE(parsed[2]["process"].is_null());
}

// A resource name with a line break stays one field (RFC 4180), and a later
// page of an export (vmctl following vmd's cursor) repeats no header.
TEST(MeterExports, CsvQuotesLineBreaksAndPagesWithoutAHeader) {
    std::ostringstream out;
    write_csv(out, {{9, 0, "instance", "a\nb", "boots", 1, 5, 6, std::nullopt, std::nullopt}},
              /*with_header=*/false);
    EXPECT_EQ(out.str(), "9,0,instance,\"a\nb\",boots,1,5,6,,\r\n");
    std::ostringstream empty;
    write_csv(empty, {});
    EXPECT_EQ(empty.str(),
              "id,owner,kind,resource,meter,quantity,start_ms,end_ms,process,boot\r\n");
}

// What GET /v1/usage/records sends and vmctl reads back: the same row.
TEST(MeterExports, RecordJsonRoundTrips) {
    for (const UsageRecord& r : rows()) {
        const UsageRecord back = usage_record_from_json(usage_record_json(r));
        EXPECT_EQ(back.id, r.id);
        EXPECT_EQ(back.owner, r.owner);
        EXPECT_EQ(back.kind, r.kind);
        EXPECT_EQ(back.resource, r.resource);
        EXPECT_EQ(back.meter, r.meter);
        EXPECT_EQ(back.quantity, r.quantity);
        EXPECT_EQ(back.start_ms, r.start_ms);
        EXPECT_EQ(back.end_ms, r.end_ms);
        EXPECT_EQ(back.process, r.process);
        EXPECT_EQ(back.boot, r.boot);
    }
    auto broken = usage_record_json(rows()[0]);
    broken.erase("quantity");
    EXPECT_THROW(usage_record_from_json(broken), nlohmann::json::exception);
    broken = usage_record_json(rows()[0]);
    broken["quantity"] = "500";
    EXPECT_THROW(usage_record_from_json(broken), nlohmann::json::exception);
}

}  // namespace
}  // namespace supervisor::metering
