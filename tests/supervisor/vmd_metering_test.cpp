// vmd's metering on the host, with fake-vmm standing in for the vmm: the
// samples each --meter-interval, boots per start and reboot, a crash of vmd
// in the middle of an interval and of a vmm, and who may see whose usage.
// CPU time comes from each instance's real cgroup v2 cpu.stat (fake-vmm
// burns a known amount: fake.busy_ms), network bytes from fake-vmm's
// GET /metrics (fake.net_rx_bytes / fake.net_tx_bytes, reached after
// fake.net_ms), so the ledger is compared with the counters themselves.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "base/fd.h"
#include "tests/supervisor/vmd_harness.h"

namespace vmd_test {
namespace {

constexpr uid_t kUser = 65534;
constexpr std::int64_t kRx = 1'234'567;
constexpr std::int64_t kTx = 765'432;
constexpr std::int64_t kBusyUs = 300'000;
constexpr std::int64_t kExitBusyUs = 400'000;

std::string metered_cmdline() {
    return "console=ttyS0 fake.busy_ms=" + std::to_string(kBusyUs / 1000) +
           " fake.net_rx_bytes=" + std::to_string(kRx) +
           " fake.net_tx_bytes=" + std::to_string(kTx) +
           " fake.net_ms=1500 fake.exit_busy_ms=" + std::to_string(kExitBusyUs / 1000);
}

class VmdMetering : public VmdTest {
  protected:
    Vmd::Options options(const std::map<std::string, std::string>& env = {}) const {
        Vmd::Options o;
        o.extra_args = {"--kill-grace",     "1",
                        "--meter-interval", "1",
                        "--metrics-file",   vmd_->dir() + "/metrics.prom"};
        o.env = env;
        return o;
    }
    // The instance's quantity of `meter` in GET /v1/usage, as `uid` sees it.
    std::int64_t quantity(const std::string& id, const std::string& meter, uid_t uid = 0) const {
        const auto r = vmd_->get("/v1/usage?instance=" + id + "&by=instance", uid);
        EXPECT_EQ(r.status, 200) << r.body;
        const auto bill = r.json();
        std::int64_t sum = 0;
        for (const auto& line : bill["lines"]) {
            if (line["group"] == id && line["meter"] == meter) {
                sum += line["quantity"].get<std::int64_t>();
            }
        }
        return sum;
    }
    std::int64_t cgroup_cpu_us(const std::string& id) const {
        std::ifstream in(vmd_->cgroup_root() + "/" + id + "/cpu.stat");
        std::string key;
        std::int64_t value = -1;
        while (in >> key >> value) {
            if (key == "usage_usec") {
                return value;
            }
        }
        ADD_FAILURE() << "no usage_usec in " << vmd_->cgroup_root() << "/" << id << "/cpu.stat";
        return -1;
    }
    // Polls until `meter` of `id` is `want` (the samples of an interval).
    bool wait_quantity(const std::string& id, const std::string& meter, std::int64_t want,
                       std::chrono::milliseconds timeout = 8s) const {
        const auto end = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < end) {
            if (quantity(id, meter) == want) {
                return true;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }
    std::string run(const std::string& image, uid_t uid = 0) {
        const auto r = vmd_->post("/v1/instances?wait=true", {{"image", image}}, uid);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.json()["instances"][0]["id"];
    }
};

TEST_F(VmdMetering, SamplesEveryIntervalAndCountsEveryBoot) {
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    vmd_->import_image("busy", metered_cmdline());
    const std::string id = run("busy");
    EXPECT_EQ(quantity(id, "boots"), 1) << "the start's first boot";

    // No state changes from here: only the interval's samples can bring in
    // the network bytes (fake-vmm reaches them 1.5 s after its start) and
    // the CPU time fake-vmm burns.
    EXPECT_TRUE(wait_quantity(id, "net_rx_bytes", kRx)) << quantity(id, "net_rx_bytes");
    EXPECT_TRUE(wait_quantity(id, "net_tx_bytes", kTx)) << quantity(id, "net_tx_bytes");
    std::this_thread::sleep_for(1500ms);  // the busy thread is done, and one more sample
    const std::int64_t cpu = quantity(id, "cpu_us");
    EXPECT_GE(cpu, kBusyUs);
    EXPECT_LE(cpu, cgroup_cpu_us(id)) << "never more than the cgroup used";
    const std::int64_t storage = quantity(id, "storage_gib_ms");
    std::this_thread::sleep_for(2500ms);
    // Its non-persistent 4 MiB root accrues each interval: 1/256 GiB-ms per ms.
    const std::int64_t grown = quantity(id, "storage_gib_ms") - storage;
    EXPECT_GE(grown, 1000 / 256) << "at least one interval accrued";
    EXPECT_LE(grown, 4000 / 256 + 1);

    // A reboot is a boot, not a start; a start again is one more.
    auto r = vmd_->post("/v1/instances/" + id + "/reboot?wait=true", nlohmann::json::object());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(quantity(id, "boots"), 2);
    EXPECT_GT(quantity(id, "boot_ready_ms"), 0);
    const std::int64_t cpu_before_stop = cgroup_cpu_us(id);
    r = vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object());
    ASSERT_EQ(r.status, 200) << r.body;
    // Closed with the cgroup's final figure, read before vmd removed it:
    // with the CPU time fake-vmm burnt after its last event, seen by no sample.
    EXPECT_GE(quantity(id, "cpu_us"), cpu_before_stop + kExitBusyUs);
    EXPECT_EQ(quantity(id, "net_rx_bytes"), kRx) << "nothing counted twice";
    const std::int64_t stopped_storage = quantity(id, "storage_gib_ms");
    const std::int64_t stopped_cpu = quantity(id, "cpu_us");
    std::this_thread::sleep_for(2500ms);
    EXPECT_EQ(quantity(id, "storage_gib_ms"), stopped_storage)
        << "a non-persistent root accrues only while its instance runs";
    EXPECT_EQ(quantity(id, "cpu_us"), stopped_cpu);

    r = vmd_->post("/v1/instances/" + id + "/start?wait=true", nlohmann::json::object());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(quantity(id, "boots"), 3);
    EXPECT_TRUE(wait_quantity(id, "net_rx_bytes", 2 * kRx))
        << "a new vmm's counters start from zero: " << quantity(id, "net_rx_bytes");

    // The metrics file follows the ledger.
    std::ifstream in(vmd_->dir() + "/metrics.prom");
    std::stringstream text;
    text << in.rdbuf();
    EXPECT_NE(
        text.str().find("vmd_usage_boots_total{owner=\"0\",kind=\"instance\",id=\"" + id + "\"} 3"),
        std::string::npos)
        << text.str();
    EXPECT_NE(text.str().find("vmd_meter_ticks_total"), std::string::npos);
}

// The bytes of the interval before a graceful exit: GET /metrics is gone
// with the vmm, so only its exit event can bring them (vmm/exit_event.h).
// fake-vmm's exit event reports more than its last GET /metrics answer did;
// the ledger ends with the exit event's figures, counted once, and a restart
// of vmd (which reads the events file again from its committed offset) adds
// nothing.
TEST_F(VmdMetering, AGracefulExitBillsTheLastIntervalsNetworkBytesOnce) {
    constexpr std::int64_t kLastRx = 4'321;
    constexpr std::int64_t kLastTx = 8'765;
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    vmd_->import_image("net", "console=ttyS0 fake.net_rx_bytes=" + std::to_string(kRx) +
                                  " fake.net_tx_bytes=" + std::to_string(kTx) +
                                  " fake.exit_net_rx_bytes=" + std::to_string(kRx + kLastRx) +
                                  " fake.exit_net_tx_bytes=" + std::to_string(kTx + kLastTx));
    const std::string id = run("net");
    ASSERT_TRUE(wait_quantity(id, "net_rx_bytes", kRx)) << quantity(id, "net_rx_bytes");
    ASSERT_TRUE(wait_quantity(id, "net_tx_bytes", kTx)) << quantity(id, "net_tx_bytes");

    // The guest powers off (the power button): exit status 0, an exit event.
    auto r = vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "stopped") << r.body;
    EXPECT_EQ(quantity(id, "net_rx_bytes"), kRx + kLastRx) << "the last interval's bytes";
    EXPECT_EQ(quantity(id, "net_tx_bytes"), kTx + kLastTx);

    std::this_thread::sleep_for(1500ms);  // more intervals: nothing samples a stopped vmm
    EXPECT_EQ(quantity(id, "net_rx_bytes"), kRx + kLastRx);
    vmd_->kill9();
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(quantity(id, "net_rx_bytes"), kRx + kLastRx) << "counted twice";
    EXPECT_EQ(quantity(id, "net_tx_bytes"), kTx + kLastTx) << "counted twice";
}

// A GET /metrics answered after the exit event was read (fake.metrics=hold:
// fake-vmm answers the requests it held 300 ms after writing its exit event)
// carries counters below the exit event's; read as a sample, it would be a
// new counter base and billed again. The Meter drops it. Without that guard
// the test fails whenever vmd reads the exit line before the late answer
// comes, which the 300 ms make the rule; with it, it passes in any order.
TEST_F(VmdMetering, AnAnswerOlderThanTheExitEventIsNotBilledAgain) {
    constexpr std::int64_t kLastRx = 1'000;
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    vmd_->import_image("late",
                       "console=ttyS0 fake.metrics=hold fake.net_rx_bytes=" + std::to_string(kRx) +
                           " fake.net_tx_bytes=" + std::to_string(kTx) +
                           " fake.exit_net_rx_bytes=" + std::to_string(kRx + kLastRx) +
                           " fake.exit_net_tx_bytes=" + std::to_string(kTx));
    const std::string id = run("late");
    std::this_thread::sleep_for(1500ms);  // an interval's GET /metrics is held
    EXPECT_EQ(quantity(id, "net_rx_bytes"), 0);
    auto r = vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object());
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(quantity(id, "net_rx_bytes"), kRx + kLastRx);
    EXPECT_EQ(quantity(id, "net_tx_bytes"), kTx);
    std::this_thread::sleep_for(1000ms);
    EXPECT_EQ(quantity(id, "net_rx_bytes"), kRx + kLastRx) << "the late answer was billed";
}

TEST_F(VmdMetering, VolumesAccrueFromCreationToDeletion) {
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    auto r = vmd_->post("/v1/volumes", {{"name", "data"}, {"size_bytes", 256 << 20}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string volume = r.json()["id"];
    std::this_thread::sleep_for(2500ms);
    const std::int64_t held = quantity(volume, "storage_gib_ms");
    // 256 MiB is a quarter GiB: 250 GiB-ms a second, sampled each second.
    EXPECT_GE(held, 250);
    EXPECT_LE(held, 700);
    ASSERT_EQ(vmd_->request("DELETE", "/v1/volumes/" + volume).status, 200);
    const std::int64_t deleted = quantity(volume, "storage_gib_ms");
    EXPECT_GE(deleted, held);
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(quantity(volume, "storage_gib_ms"), deleted) << "nothing after its deletion";
}

TEST_F(VmdMetering, CrashOfVmdMidIntervalAndOfTheVmmLoseNothingCountNothingTwice) {
    // vmd dies at its first sample of a live vmm, inside the transaction.
    ASSERT_TRUE(vmd_->start(options({{"VMD_TEST_CRASH_AT", "meter-tick-before-commit"}})))
        << vmd_->log();
    vmd_->import_image("busy", metered_cmdline());
    const auto made = vmd_->post("/v1/instances", {{"image", "busy"}});
    ASSERT_EQ(made.status, 201) << made.body;
    const std::string id = made.json()["instances"][0]["id"];
    EXPECT_EQ(vmd_->wait_exit(10s), 128 + SIGKILL);

    // The vmm ran on; a new vmd adopts it and meters on.
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    vmd_->wait_state(id, "running");
    EXPECT_TRUE(wait_quantity(id, "net_rx_bytes", kRx)) << quantity(id, "net_rx_bytes");
    EXPECT_TRUE(wait_quantity(id, "net_tx_bytes", kTx)) << quantity(id, "net_tx_bytes");
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(quantity(id, "boots"), 1) << "the boot's events were read again: counted once";
    const std::int64_t cpu = quantity(id, "cpu_us");
    const std::int64_t used = cgroup_cpu_us(id);
    EXPECT_GE(cpu, kBusyUs);
    EXPECT_LE(cpu, used) << "counted twice?";

    // Now the vmm dies between samples: closed with its cgroup's final figure.
    const auto procs = vmd_->cgroup_procs(id);
    ASSERT_EQ(procs.size(), 1u);
    ASSERT_EQ(kill(procs[0], SIGKILL), 0);
    vmd_->wait_state(id, "failed");
    const std::int64_t closed = quantity(id, "cpu_us");
    EXPECT_GE(closed, used);
    EXPECT_LE(closed, used + 200'000) << "an idle vmm's last moments, not its CPU time again";
    EXPECT_EQ(quantity(id, "net_rx_bytes"), kRx);
    EXPECT_EQ(quantity(id, "net_tx_bytes"), kTx);

    // And a restart of vmd changes nothing of it.
    vmd_->kill9();
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(quantity(id, "cpu_us"), closed);
    EXPECT_EQ(quantity(id, "boots"), 1);
}

TEST_F(VmdMetering, AVmmWhoseApiHangsStallsNeitherVmdNorItsActions) {
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    vmd_->import_image("hung", "console=ttyS0 fake.metrics=hang fake.busy_ms=200");
    const std::string id = run("hung");
    std::this_thread::sleep_for(2500ms);  // two GET /metrics sent, never answered
    const auto before = std::chrono::steady_clock::now();
    EXPECT_EQ(vmd_->get("/v1/health").status, 200);
    auto r = vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_LT(std::chrono::steady_clock::now() - before, 2s)
        << "the stop waited behind the metrics requests";
    EXPECT_GE(quantity(id, "cpu_us"), 200'000) << "its CPU time is metered all the same";
    EXPECT_EQ(quantity(id, "net_rx_bytes"), 0);
}

TEST_F(VmdMetering, OneUidNeverSeesAnothersUsage) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "calling vmd as another uid needs root";
    }
    const std::string sheet = vmd_->dir() + "/prices.json";
    std::ofstream(sheet) << R"({"currency": "USD", "cpu_vcpu_hour_micros": 3600000000,
        "storage_gib_month_micros": 0, "net_rx_gb_micros": 0, "net_tx_gb_micros": 0,
        "boot_micros": 1000000, "minimum_seconds_per_start": 1})";
    auto o = options();
    o.extra_args.insert(o.extra_args.end(), {"--price-sheet", sheet});
    ASSERT_TRUE(vmd_->start(o)) << vmd_->log();
    vmd_->import_image("plain", "console=ttyS0");
    const std::string mine = run("plain");
    vmd_->import_image("own", "console=ttyS0", 4 << 20, kUser);
    const std::string theirs = run("own", kUser);
    std::this_thread::sleep_for(1500ms);

    const auto groups = [&](const std::string& query, uid_t uid) {
        const auto r = vmd_->get("/v1/usage" + query, uid);
        EXPECT_EQ(r.status, 200) << r.body;
        std::set<std::string> out;
        const auto bill = r.json();
        for (const auto& line : bill["lines"]) {
            out.insert(line["group"].get<std::string>());
        }
        return out;
    };
    EXPECT_EQ(groups("", kUser), std::set<std::string>{theirs});
    EXPECT_EQ(groups("?instance=" + mine, kUser), std::set<std::string>{})
        << "naming another's instance shows nothing of it";
    EXPECT_EQ(groups("", 0), std::set<std::string>{mine}) << "root's own by default";
    EXPECT_EQ(groups("?owner=all", 0), (std::set<std::string>{mine, theirs}));
    EXPECT_EQ(groups("?owner=" + std::to_string(kUser), 0), std::set<std::string>{theirs});
    EXPECT_EQ(vmd_->get("/v1/usage?owner=0", kUser).status, 403);
    EXPECT_EQ(vmd_->get("/v1/usage?owner=all", kUser).status, 403);
    EXPECT_EQ(vmd_->get("/v1/usage?owner=" + std::to_string(kUser), kUser).status, 200);
    EXPECT_EQ(vmd_->get("/v1/usage?by=week", kUser).status, 400);

    // The bill adds up: its total is the sum of its lines.
    const auto bill = vmd_->get("/v1/usage?owner=all&by=meter").json();
    std::int64_t sum = 0;
    for (const auto& line : bill["lines"]) {
        sum += line["amount"].get<std::int64_t>();
    }
    EXPECT_EQ(bill["currency"], "USD") << "the --price-sheet's";
    EXPECT_EQ(bill["total"], sum);
    // A cent per boot, a cent per CPU-second with at least one per start.
    EXPECT_GE(sum, 4);
}

// GET /v1/usage/records and `vmctl usage --format csv`: the ledger's rows,
// scoped like GET /v1/usage (another uid's are never shown), paged with a
// bounded limit, and adding up to the bill's quantities.
TEST_F(VmdMetering, RecordsAreTheCallersOwnPagedAndSumToTheBill) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "calling vmd as another uid needs root";
    }
    ASSERT_TRUE(vmd_->start(options())) << vmd_->log();
    vmd_->import_image("plain", metered_cmdline());
    const std::string mine = run("plain");
    vmd_->import_image("own", metered_cmdline(), 4 << 20, kUser);
    const std::string theirs = run("own", kUser);
    std::this_thread::sleep_for(2500ms);
    for (const auto& [id, uid] : {std::pair{mine, uid_t{0}}, std::pair{theirs, kUser}}) {
        const auto r =
            vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object(), uid);
        ASSERT_EQ(r.status, 200) << r.body;
    }
    // A window that is over: the bill and the records see the same rows.
    const std::int64_t until = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
    const std::string window = "until=" + std::to_string(until);

    // Every page, following "next", as `uid` sees them.
    const auto all_records = [&](const std::string& query, uid_t uid) {
        std::vector<nlohmann::json> out;
        std::int64_t after = 0;
        for (int pages = 0; pages < 1000; ++pages) {
            const auto r = vmd_->get(
                "/v1/usage/records?" + query + "&limit=3&after=" + std::to_string(after), uid);
            EXPECT_EQ(r.status, 200) << r.body;
            const auto page = r.json();
            EXPECT_LE(page["records"].size(), 3u);
            for (const auto& record : page["records"]) {
                out.push_back(record);
            }
            if (r.status != 200 || page["next"].is_null()) {
                return out;
            }
            after = page["next"].get<std::int64_t>();
        }
        ADD_FAILURE() << "the cursor never ended";
        return out;
    };
    const auto theirs_seen = all_records(window, kUser);
    ASSERT_FALSE(theirs_seen.empty());
    for (const auto& record : theirs_seen) {
        EXPECT_EQ(record["owner"], kUser) << record.dump();
        EXPECT_EQ(record["resource"], theirs) << record.dump();
    }
    EXPECT_TRUE(all_records(window + "&instance=" + mine, kUser).empty())
        << "naming another's instance shows nothing of it";
    EXPECT_EQ(vmd_->get("/v1/usage/records?owner=0", kUser).status, 403);
    EXPECT_EQ(vmd_->get("/v1/usage/records?owner=all", kUser).status, 403);
    const auto everyone = all_records(window + "&owner=all", 0);
    EXPECT_EQ(everyone.size(), theirs_seen.size() + all_records(window, 0).size());
    EXPECT_EQ(vmd_->get("/v1/usage/records?limit=0").status, 400);
    EXPECT_EQ(vmd_->get("/v1/usage/records?limit=10001").status, 400) << "the page is capped";
    EXPECT_EQ(vmd_->get("/v1/usage/records?by=meter").status, 400);

    // vmctl's CSV (root's own) against vmctl's bill by meter, same window.
    const std::string vmctl = "timeout 20 env VMCTL_SOCKET=" + vmd_->socket() + " " +
                              vmd_->bin("vmctl") + " usage --until " + std::to_string(until);
    const std::string csv = command_output(vmctl + " --format csv");
    std::map<std::string, std::int64_t> csv_sums;
    std::istringstream csv_lines(csv);
    std::string line;
    ASSERT_TRUE(std::getline(csv_lines, line));
    EXPECT_EQ(line, "id,owner,kind,resource,meter,quantity,start_ms,end_ms,process,boot\r");
    while (std::getline(csv_lines, line)) {
        std::vector<std::string> fields;
        std::istringstream in(line);
        for (std::string f; std::getline(in, f, ',');) {
            fields.push_back(f);
        }
        ASSERT_GE(fields.size(), 6u) << line;
        EXPECT_EQ(fields[1], "0") << "root's own by default: " << line;
        EXPECT_EQ(fields[3], mine) << line;
        csv_sums[fields[4]] += std::stoll(fields[5]);
    }
    ASSERT_FALSE(csv_sums.empty()) << csv;
    const std::string table = command_output(vmctl + " --by meter");
    std::map<std::string, std::int64_t> table_quantities;
    std::istringstream table_lines(table);
    ASSERT_TRUE(std::getline(table_lines, line)) << table;  // the header
    while (std::getline(table_lines, line)) {
        std::istringstream in(line);
        std::string meter;
        std::string quantity;
        in >> meter >> quantity;
        // TOTAL sums amounts; cpu_minimum_us is the rating's top-up, no ledger row.
        if (meter != "TOTAL" && meter != "cpu_minimum_us") {
            table_quantities[meter] = std::stoll(quantity);
        }
    }
    EXPECT_EQ(csv_sums, table_quantities) << csv << table;
    EXPECT_GE(csv_sums["net_rx_bytes"], kRx);
}

// --metrics-listen: the metrics file's text at GET /metrics over TCP, per
// instance with its owner's label and vmd's health; nothing else of vmd's
// API there; an address that cannot be bound stops vmd, naming it.
TEST_F(VmdMetering, MetricsListenServesThePrometheusTextAndNothingElse) {
    // A port some other program holds: vmd refuses to start.
    base::Fd held(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    ASSERT_EQ(bind(held.get(), reinterpret_cast<sockaddr*>(&address), length), 0);
    ASSERT_EQ(listen(held.get(), 1), 0);
    ASSERT_EQ(getsockname(held.get(), reinterpret_cast<sockaddr*>(&address), &length), 0);
    const std::string taken = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
    auto o = options();
    o.extra_args.insert(o.extra_args.end(), {"--metrics-listen", taken});
    EXPECT_FALSE(vmd_->start(o)) << "vmd started without its metrics listener";
    EXPECT_FALSE(vmd_->running());
    EXPECT_NE(vmd_->log().find("--metrics-listen: cannot listen on " + taken), std::string::npos)
        << vmd_->log();

    o = options();
    o.extra_args.insert(o.extra_args.end(), {"--metrics-listen", "127.0.0.1:0"});
    ASSERT_TRUE(vmd_->start(o)) << vmd_->log();
    const std::string log = vmd_->log();
    const std::string marker = "serving metrics at GET /metrics on 127.0.0.1:";
    const auto at = log.find(marker);
    ASSERT_NE(at, std::string::npos) << log;
    const int port = std::stoi(log.substr(at + marker.size()));
    ASSERT_GT(port, 0);

    vmd_->import_image("net", metered_cmdline());
    const std::string mine = run("net");
    std::string theirs;
    if (geteuid() == 0) {
        vmd_->import_image("own", metered_cmdline(), 4 << 20, kUser);
        theirs = run("own", kUser);
    }
    ASSERT_TRUE(wait_quantity(mine, "net_rx_bytes", kRx)) << quantity(mine, "net_rx_bytes");

    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2, 0);
    client.set_read_timeout(10, 0);
    const auto scrape = client.Get("/metrics");
    ASSERT_TRUE(scrape);
    EXPECT_EQ(scrape->status, 200);
    EXPECT_EQ(scrape->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    const std::string& text = scrape->body;
    EXPECT_NE(
        text.find("vmd_usage_network_receive_bytes_total{owner=\"0\",kind=\"instance\",id=\"" +
                  mine + "\"} " + std::to_string(kRx)),
        std::string::npos)
        << text;
    EXPECT_NE(
        text.find("vmd_usage_boots_total{owner=\"0\",kind=\"instance\",id=\"" + mine + "\"} 1"),
        std::string::npos)
        << text;
    if (!theirs.empty()) {
        EXPECT_NE(text.find("vmd_usage_boots_total{owner=\"" + std::to_string(kUser) +
                            "\",kind=\"instance\",id=\"" + theirs + "\"} 1"),
                  std::string::npos)
            << text;
    }
    EXPECT_NE(text.find("\nvmd_meter_ticks_total "), std::string::npos) << text;
    EXPECT_NE(text.find("\nvmd_meter_network_read_failures_total 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find(std::string("\nvmd_live_processes ") + (theirs.empty() ? "1" : "2") + "\n"),
              std::string::npos)
        << text;

    for (const auto& [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/health"},
                                                          {"GET", "/v1/usage"},
                                                          {"GET", "/metrics/x"},
                                                          {"POST", "/metrics"},
                                                          {"GET", "/"}}) {
        const auto r = method == "GET" ? client.Get(path.c_str())
                                       : client.Post(path.c_str(), "", "text/plain");
        ASSERT_TRUE(r) << method << " " << path;
        EXPECT_EQ(r->status, 404) << method << " " << path;
    }
}

}  // namespace
}  // namespace vmd_test
