// The subscriber's credentials through vmd (docs/seed.md), with the fake
// vmm: the run request's keys and user-data are checked (400 saying why),
// kept, and written at each start into a NoCloud seed attached read-only
// last; the host keys are made once per instance (mode 0600) and shown in
// the instance's JSON, the same after a stop and start.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/supervisor/vmd_harness.h"

namespace vmd_test {
namespace {

constexpr const char* kKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJmZ2hpamtsbW5vcHFyc3R1dnd4eXphYmNkZWZnaGlq alice@laptop";

class VmdCredentials : public VmdTest {
  protected:
    void SetUp() override {
        VmdTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        ASSERT_TRUE(vmd_->start());
        vmd_->import_image("plain", "console=ttyS0");
    }
    std::string instance_file(const std::string& id, const std::string& name) {
        return vmd_->state_dir() + "/instances/" + id + "/" + name;
    }
    // A file of the seed image, read with mtools as cloud-init's mount would.
    std::string seed_file(const std::string& id, const std::string& name) {
        return command_output("mtype -i " + instance_file(id, "seed.img") + " ::" + name + " 2>&1");
    }
    std::string read(const std::string& path) {
        std::ifstream in(path);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
};

TEST_F(VmdCredentials, UserDataCloudInitWouldNotRunIsRefusedWithTheReason) {
    const auto unknown =
        vmd_->post("/v1/instances", {{"image", "plain"}, {"user_data", "hello there\n"}});
    EXPECT_EQ(unknown.status, 400) << unknown.body;
    EXPECT_NE(unknown.json().value("error", "").find("#cloud-config"), std::string::npos)
        << "it lists what is accepted: " << unknown.body;
    const auto yaml =
        vmd_->post("/v1/instances", {{"image", "plain"}, {"user_data", "#cloud-config\n- a\n"}});
    EXPECT_EQ(yaml.status, 400) << yaml.body;
    const auto key =
        vmd_->post("/v1/instances", {{"image", "plain"}, {"ssh_keys", {"not a key\nat all"}}});
    EXPECT_EQ(key.status, 400) << key.body;
    EXPECT_TRUE(vmd_->get("/v1/instances").json().empty()) << "nothing was made";
}

TEST_F(VmdCredentials, EachStartWritesTheSeedWithTheKeysAndTheHostKeysStay) {
    const auto r =
        vmd_->post("/v1/instances?wait=true", {{"image", "plain"},
                                               {"name", "web"},
                                               {"ssh_keys", {kKey}},
                                               {"user_data", "#!/bin/sh\necho hello\n"}});
    ASSERT_EQ(r.status, 201) << r.body;
    const auto made = r.json();
    const std::string id = made["instances"][0]["id"];
    const auto view = vmd_->get("/v1/instances/" + id).json();
    ASSERT_EQ(view["ssh_host_keys"].size(), 1u) << view.dump();
    const std::string host_key = view["ssh_host_keys"][0];
    EXPECT_EQ(host_key.rfind("ssh-ed25519 ", 0), 0u) << host_key;

    struct stat st {};
    ASSERT_EQ(stat(instance_file(id, "host_keys.json").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "it holds private keys";
    ASSERT_EQ(stat(instance_file(id, "seed.img").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    const auto config = nlohmann::json::parse(read(instance_file(id, "vmm.json")));
    EXPECT_EQ(config["disk"].back(), "path=" + instance_file(id, "seed.img") + ",id=seed,readonly")
        << config.dump();
    EXPECT_FALSE(config.contains("net")) << "--network addresses: no card";

    const std::string meta = seed_file(id, "meta-data");
    EXPECT_NE(meta.find("instance-id: \"" + id + "\""), std::string::npos) << meta;
    EXPECT_NE(meta.find("local-hostname: \"web\""), std::string::npos) << meta;
    const std::string user = seed_file(id, "user-data");
    EXPECT_NE(user.find(kKey), std::string::npos) << user;
    EXPECT_NE(user.find("echo hello"), std::string::npos) << "the script rides along: " << user;
    EXPECT_NE(user.find(host_key.substr(0, 60)), std::string::npos) << "the host key it checks";

    ASSERT_EQ(
        vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object()).status,
        200);
    ASSERT_EQ(
        vmd_->post("/v1/instances/" + id + "/start?wait=true", nlohmann::json::object()).status,
        200);
    const auto again = vmd_->get("/v1/instances/" + id).json();
    EXPECT_EQ(again["ssh_host_keys"][0], host_key) << "made once per instance";
    EXPECT_NE(seed_file(id, "user-data").find(kKey), std::string::npos);
    EXPECT_NE(seed_file(id, "meta-data").find(id), std::string::npos) << "the same instance-id";
}

// The seed and host keys are made on vmd's workers, not its loop: with the
// seed made slow by the test hook (VMD_TEST_SLOW_AT=seed:MS), the run is
// answered and other requests are served while it is being made, and a vmd
// killed meanwhile makes it again after its restart.
class VmdSeedOffTheLoop : public VmdTest {
  protected:
    static constexpr auto kSlow = 3000ms;
    void start_slow() {
        Vmd::Options o;
        o.env["VMD_TEST_SLOW_AT"] = "seed:" + std::to_string(kSlow.count());
        ASSERT_TRUE(vmd_->start(o));
        vmd_->import_image("plain", "console=ttyS0");
    }
    std::chrono::milliseconds since(std::chrono::steady_clock::time_point t) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - t);
    }
};

TEST_F(VmdSeedOffTheLoop, ASlowSeedHoldsUpNeitherTheRunNorOtherRequests) {
    start_slow();
    auto t = std::chrono::steady_clock::now();
    auto r = vmd_->post("/v1/instances", {{"image", "plain"}, {"ssh_keys", {kKey}}});
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_LT(since(t), kSlow / 2) << "the run waited for the seed";
    const std::string id = r.json()["instances"][0]["id"];

    t = std::chrono::steady_clock::now();
    EXPECT_EQ(vmd_->get("/v1/health").status, 200);
    EXPECT_EQ(vmd_->get("/v1/instances/" + id).json()["state"], "starting")
        << "its seed is still being made";
    EXPECT_LT(since(t), kSlow / 2) << "another request waited for the seed";

    vmd_->wait_state(id, "running", 15s);
    std::ifstream seed(vmd_->state_dir() + "/instances/" + id + "/seed.img");
    EXPECT_TRUE(seed.good()) << "the seed the vmm got";
}

TEST_F(VmdSeedOffTheLoop, ASeedThatCannotBeMadeFailsTheStartWithTheReason) {
    ASSERT_TRUE(vmd_->start());
    vmd_->import_image("plain", "console=ttyS0");
    const auto r = vmd_->post("/v1/instances?wait=true", {{"image", "plain"}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = r.json()["instances"][0]["id"];
    ASSERT_EQ(
        vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object()).status,
        200);
    std::ofstream(vmd_->state_dir() + "/instances/" + id + "/host_keys.json") << "garbage";
    ASSERT_EQ(vmd_->post("/v1/instances/" + id + "/start", nlohmann::json::object()).status, 202);
    const auto failed = vmd_->wait_state(id, "failed", 10s);
    EXPECT_NE(failed["reason"].get<std::string>().find(
                  "could not start the vmm: " + vmd_->state_dir() + "/instances/" + id +
                  "/host_keys.json is not a JSON array of host keys"),
              std::string::npos)
        << failed.dump();
    EXPECT_TRUE(failed["address"].is_null()) << "the failed start gave its address back";
    EXPECT_TRUE(vmd_->cgroup_procs(id).empty());
}

TEST_F(VmdSeedOffTheLoop, AStartThatEndsWhileItsSeedIsMadeSpawnsNoVmmAndGivesBackItsAddress) {
    start_slow();
    // A boot timeout shorter than the seed's making.
    auto r = vmd_->post("/v1/instances", {{"image", "plain"}, {"boot_timeout_s", 1}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string timed_out = r.json()["instances"][0]["id"];
    r = vmd_->post("/v1/instances", {{"image", "plain"}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string terminated = r.json()["instances"][0]["id"];
    r = vmd_->post("/v1/instances/" + terminated + "/terminate?wait=true",
                   nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "terminated");

    const auto failed = vmd_->wait_state(timed_out, "failed", 5s);
    EXPECT_NE(failed["reason"].get<std::string>().find("not ready within 1 s"), std::string::npos)
        << failed.dump();
    for (int i = 0; i < 250 && !vmd_->get("/v1/instances/" + timed_out).json()["address"].is_null();
         ++i) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(vmd_->get("/v1/instances/" + timed_out).json()["address"].is_null())
        << "given back once its seed's making ended";
    EXPECT_TRUE(vmd_->cgroups().empty()) << "no vmm was spawned for either";
    EXPECT_NE(vmd_->log().find("its start ended before its vmm was spawned"), std::string::npos);
}

TEST_F(VmdSeedOffTheLoop, AVmdKilledWhileTheSeedIsMadeStartsTheInstanceAfterItsRestart) {
    start_slow();
    const auto r = vmd_->post("/v1/instances", {{"image", "plain"}, {"ssh_keys", {kKey}}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string id = r.json()["instances"][0]["id"];
    std::this_thread::sleep_for(kSlow / 3);
    ASSERT_EQ(vmd_->get("/v1/instances/" + id).json()["state"], "starting");
    ASSERT_TRUE(vmd_->cgroup_procs(id).empty()) << "no vmm yet: its seed is being made";
    vmd_->kill9();
    ASSERT_TRUE(vmd_->start()) << vmd_->log();
    const auto running = vmd_->wait_state(id, "running", 15s);
    EXPECT_EQ(running["starts"], 1) << "the same start, carried out after the restart";
    EXPECT_EQ(running["ssh_host_keys"].size(), 1u) << running.dump();
}

}  // namespace
}  // namespace vmd_test
