// vmd's address leases (docs/network.md), with the fake vmm and
// `--network addresses` (leases without the bridge and taps, which need
// CAP_NET_ADMIN; the sandbox's VmdEndToEnd test runs the bridge): an address
// at each start, distinct, the previous one back, released at stop, failure
// and terminate, a clear 409 when the pool is exhausted, and the leases
// kept across a vmd SIGKILL (the crash-point hook makes each crash land at
// an exact step).

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "tests/supervisor/vmd_harness.h"

namespace vmd_test {
namespace {

class VmdNetwork : public VmdTest {
  protected:
    Vmd::Options with(std::vector<std::string> args, const std::string& crash_at = "") {
        Vmd::Options o;
        o.extra_args = {"--kill-grace", "1"};
        o.extra_args.insert(o.extra_args.end(), args.begin(), args.end());
        if (!crash_at.empty()) {
            o.env["VMD_TEST_CRASH_AT"] = crash_at;
        }
        return o;
    }
    nlohmann::json instance(const std::string& id) {
        return vmd_->get("/v1/instances/" + id).json();
    }
    std::string run_one(const std::string& image, const std::string& name) {
        const auto r = vmd_->post("/v1/instances", {{"image", image}, {"name", name}});
        EXPECT_EQ(r.status, 201) << r.body;
        return r.json()["instances"][0]["id"];
    }
    void stop(const std::string& id) {
        const auto r =
            vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object());
        ASSERT_EQ(r.status, 200) << r.body;
    }
};

bool in_network(const std::string& address) {
    return address.rfind("198.18.0.", 0) == 0 && address != "198.18.0.0" &&
           address != "198.18.0.1" && address != "198.18.0.255";
}

TEST_F(VmdNetwork, EachRunningInstanceHoldsItsOwnAddressUntilItStops) {
    ASSERT_TRUE(vmd_->start(with({})));
    vmd_->import_image("plain", "console=ttyS0");
    const auto r = vmd_->post("/v1/instances?wait=true", {{"image", "plain"}, {"count", 3}});
    ASSERT_EQ(r.status, 201) << r.body;
    std::set<std::string> addresses;
    std::vector<std::string> ids;
    const auto made = r.json();
    for (const auto& i : made["instances"]) {
        ASSERT_TRUE(i["address"].is_string()) << i.dump();
        const std::string a = i["address"];
        EXPECT_TRUE(in_network(a)) << a;
        addresses.insert(a);
        ids.push_back(i["id"]);
    }
    ASSERT_EQ(addresses.size(), 3u) << "no two running instances share an address";

    // Two stop; the one whose address is the higher starts first and gets
    // its own back, not the lowest free one.
    std::map<std::string, std::string> by_address;
    for (const auto& id : ids) {
        by_address[instance(id)["address"]] = id;
    }
    const std::string low = by_address.begin()->second;
    const std::string high = std::next(by_address.begin())->second;
    const std::string high_address = std::next(by_address.begin())->first;
    stop(low);
    stop(high);
    EXPECT_TRUE(instance(high)["address"].is_null()) << "a stopped instance holds no address";
    const auto started =
        vmd_->post("/v1/instances/" + high + "/start?wait=true", nlohmann::json::object());
    ASSERT_EQ(started.status, 200) << started.body;
    EXPECT_EQ(started.json()["address"], high_address)
        << "its previous address, still free, comes back";
    ASSERT_EQ(
        vmd_->post("/v1/instances/" + low + "/start?wait=true", nlohmann::json::object()).status,
        200);

    // Terminated: its address goes to the next instance.
    const std::string freed = instance(ids[1])["address"];
    const auto t =
        vmd_->post("/v1/instances/" + ids[1] + "/terminate?wait=true", {{"force", true}});
    ASSERT_EQ(t.status, 200) << t.body;
    EXPECT_TRUE(instance(ids[1])["address"].is_null());
    const auto next = run_one("plain", "next");
    vmd_->wait_state(next, "running");
    EXPECT_EQ(instance(next)["address"], freed) << "the lowest free address";
}

TEST_F(VmdNetwork, AFailedStartGivesItsAddressBack) {
    ASSERT_TRUE(vmd_->start(with({"--network-cidr", "198.18.0.0/30"})));
    vmd_->import_image("crash", "fake.exit_ms=50 fake.exit_status=1");
    vmd_->import_image("plain", "console=ttyS0");
    const auto crashed = run_one("crash", "crash");
    const auto failed = vmd_->wait_state(crashed, "failed");
    EXPECT_TRUE(failed["address"].is_null()) << failed.dump();
    // The pool's only address is free again.
    const auto ok = run_one("plain", "ok");
    EXPECT_EQ(vmd_->wait_state(ok, "running")["address"], "198.18.0.2");
}

TEST_F(VmdNetwork, AnExhaustedPoolRefusesRunAndStartWith409) {
    // A /30 leaves one address: .0 network, .1 gateway, .3 broadcast.
    ASSERT_TRUE(vmd_->start(with({"--network-cidr", "198.18.0.0/30"})));
    vmd_->import_image("plain", "console=ttyS0");
    const auto first = run_one("plain", "first");
    EXPECT_EQ(vmd_->wait_state(first, "running")["address"], "198.18.0.2");

    const auto refused = vmd_->post("/v1/instances", {{"image", "plain"}, {"name", "second"}});
    EXPECT_EQ(refused.status, 409) << refused.body;
    EXPECT_NE(refused.body.find("not enough addresses"), std::string::npos) << refused.body;
    EXPECT_NE(refused.body.find("198.18.0.0/30"), std::string::npos) << refused.body;
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 1u) << "nothing was made";

    stop(first);
    const auto second = run_one("plain", "second");
    EXPECT_EQ(vmd_->wait_state(second, "running")["address"], "198.18.0.2");
    const auto start = vmd_->post("/v1/instances/" + first + "/start", nlohmann::json::object());
    EXPECT_EQ(start.status, 409) << start.body;
    EXPECT_NE(start.body.find("no free address in 198.18.0.0/30"), std::string::npos) << start.body;
    EXPECT_EQ(instance(first)["state"], "stopped") << "the refused start changed nothing";
    EXPECT_TRUE(instance(first)["address"].is_null());
}

TEST_F(VmdNetwork, LeasesSurviveASigkillAndAreNeverHandedOutTwice) {
    ASSERT_TRUE(vmd_->start(with({})));
    vmd_->import_image("plain", "console=ttyS0");
    vmd_->import_image("slow", "fake.ready_ms=500");
    const auto a = run_one("plain", "a");
    const std::string address_a = vmd_->wait_state(a, "running")["address"];
    vmd_->terminate();
    // The crash lands after the start's commit (its lease with it) and the
    // spawn, before the vmm's pid is recorded.
    ASSERT_TRUE(vmd_->start(with({}, "spawned-before-commit")));
    // (The spawn comes once the seed is made on a worker: after the answer.)
    const auto r = vmd_->post("/v1/instances", {{"image", "slow"}, {"name", "b"}});
    EXPECT_TRUE(r.status == 0 || r.status == 201) << r.status << ": " << r.body;
    EXPECT_EQ(vmd_->wait_exit(10s), 128 + SIGKILL);

    ASSERT_TRUE(vmd_->start(with({}))) << vmd_->log();
    const auto b = vmd_->wait_state("b", "running");
    EXPECT_EQ(instance(a)["address"], address_a) << "kept across the crash";
    ASSERT_TRUE(b["address"].is_string()) << b.dump();
    EXPECT_NE(b["address"], address_a);
    vmd_->kill9();
    ASSERT_TRUE(vmd_->start(with({}))) << vmd_->log();
    const auto c = run_one("plain", "c");
    const std::string address_c = vmd_->wait_state(c, "running")["address"];
    EXPECT_NE(address_c, address_a);
    EXPECT_NE(address_c, b["address"].get<std::string>());
    EXPECT_EQ(instance(b["id"])["address"], b["address"]);
}

TEST_F(VmdNetwork, AVmmThatEndedWhileVmdWasDownGivesItsAddressBack) {
    ASSERT_TRUE(vmd_->start(with({"--network-cidr", "198.18.0.0/30"})));
    vmd_->import_image("short", "fake.exit_ms=1500 fake.exit_status=0");
    vmd_->import_image("plain", "console=ttyS0");
    const auto a = run_one("short", "a");
    EXPECT_EQ(vmd_->wait_state(a, "running")["address"], "198.18.0.2");
    vmd_->kill9();
    std::this_thread::sleep_for(2500ms);  // the vmm powers off meanwhile
    ASSERT_TRUE(vmd_->start(with({"--network-cidr", "198.18.0.0/30"}))) << vmd_->log();
    const auto stopped = vmd_->wait_state(a, "stopped");
    EXPECT_TRUE(stopped["address"].is_null()) << stopped.dump();
    const auto b = run_one("plain", "b");
    EXPECT_EQ(vmd_->wait_state(b, "running")["address"], "198.18.0.2") << "the lease is free";
}

// `--network bridge` in a network namespace of vmd's own (root only): the
// bridge, a tap per running instance on it, the vmm told to use it, the tap
// gone at stop and back at the next start. (The traffic itself, the
// isolation and the logins are the sandbox's VmdEndToEnd test.)
TEST_F(VmdNetwork, WithTheBridgeEachRunningInstanceHasATapOnItUntilItStops) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "a network namespace with a bridge and taps needs root";
    }
    Vmd::Options o = with({});
    o.network = "bridge";
    o.own_network_namespace = true;
    ASSERT_TRUE(vmd_->start(o)) << vmd_->log();
    const auto links = [&] {
        return command_output("nsenter -t " + std::to_string(vmd_->pid()) +
                              " -n ip -o link show 2>&1");
    };
    EXPECT_NE(links().find("vmbr0:"), std::string::npos) << links();
    vmd_->import_image("plain", "console=ttyS0");
    const auto a = run_one("plain", "a");
    const auto running = vmd_->wait_state(a, "running");
    const std::string tap = "vmt" + a.substr(2);
    const auto line_of = [&](const std::string& name) {
        const std::string all = links();
        const auto at = all.find(" " + name + ":");
        return at == std::string::npos ? std::string() : all.substr(at, all.find('\n', at) - at);
    };
    EXPECT_NE(line_of(tap).find("master vmbr0"), std::string::npos) << links();
    std::ifstream config_file(vmd_->state_dir() + "/instances/" + a + "/vmm.json");
    const auto config = nlohmann::json::parse(config_file, nullptr, false);
    EXPECT_EQ(config.value("net", ""), "tap=" + tap + ",mac=" + running["mac"].get<std::string>());

    stop(a);
    EXPECT_EQ(line_of(tap), "") << "the tap goes with the vmm";
    const auto started =
        vmd_->post("/v1/instances/" + a + "/start?wait=true", nlohmann::json::object());
    ASSERT_EQ(started.status, 200) << started.body;
    EXPECT_NE(line_of(tap).find("master vmbr0"), std::string::npos) << links();
}

TEST_F(VmdNetwork, WithoutNetworkingInstancesGetNoAddress) {
    Vmd::Options o = with({});
    o.network = "none";
    ASSERT_TRUE(vmd_->start(o));
    vmd_->import_image("plain", "console=ttyS0");
    const auto a = run_one("plain", "a");
    EXPECT_TRUE(vmd_->wait_state(a, "running")["address"].is_null());
}

}  // namespace
}  // namespace vmd_test
