// vmd on the host with fake-vmm standing in for the vmm process: the
// instance lifecycle through the API, as a subscriber drives it.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "tests/supervisor/vmd_harness.h"

namespace vmd_test {
namespace {

class VmdLifecycle : public VmdTest {
  protected:
    void SetUp() override {
        VmdTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        Vmd::Options options;
        options.extra_args = {"--kill-grace", "1"};
        ASSERT_TRUE(vmd_->start(options)) << vmd_->log();
    }
    nlohmann::json run(const nlohmann::json& request, int expected = 201, bool wait = true) {
        const auto r = vmd_->post(wait ? "/v1/instances?wait=true" : "/v1/instances", request);
        EXPECT_EQ(r.status, expected) << r.body;
        return r.json();
    }
};

TEST_F(VmdLifecycle, RunStopStartRebootTerminate) {
    const std::string image = vmd_->import_image("plain", "console=ttyS0");
    const auto made = run({{"image", "plain"}, {"name", "web"}, {"vcpus", 2}, {"memory_mib", 128}});
    ASSERT_EQ(made["instances"].size(), 1u);
    const auto i = made["instances"][0];
    const std::string id = i["id"];
    EXPECT_EQ(i["state"], "running");
    EXPECT_EQ(i["name"], "web");
    EXPECT_EQ(i["image"], image);
    EXPECT_EQ(i["vcpus"], 2);
    EXPECT_EQ(i["memory_mib"], 128);
    EXPECT_EQ(i["boots"], 1);
    EXPECT_FALSE(i["ready_at"].is_null());

    // Its vmm runs in a cgroup of its own, with its API socket.
    ASSERT_EQ(vmd_->cgroup_procs(id).size(), 1u);
    EXPECT_EQ(vmd_->vmm_sockets(), std::vector<std::string>{id + ".sock"});
    // By name as well as by id.
    EXPECT_EQ(vmd_->get("/v1/instances/web").json()["id"], id);

    auto console = vmd_->get("/v1/instances/" + id + "/console");
    EXPECT_EQ(console.status, 200);
    EXPECT_NE(console.body.find("-- vmd: start 1 at "), std::string::npos) << console.body;
    EXPECT_NE(console.body.find("fake vmm: boot 1"), std::string::npos) << console.body;
    EXPECT_EQ(console.headers["X-Console-Offset"], std::to_string(console.body.size()));

    auto r = vmd_->post("/v1/instances/" + id + "/reboot?wait=true", nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "running");
    EXPECT_EQ(r.json()["boots"], 2);
    r = vmd_->post("/v1/instances/" + id + "/reboot?wait=true", {{"hard", true}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["boots"], 3);

    const auto pid_before = vmd_->cgroup_procs(id);
    r = vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "stopped");
    EXPECT_FALSE(r.json()["stopped_at"].is_null());
    EXPECT_TRUE(vmd_->cgroups().empty()) << "the cgroup goes with the vmm";
    EXPECT_TRUE(vmd_->vmm_sockets().empty());
    EXPECT_EQ(kill(pid_before.at(0), 0), -1) << "the vmm has ended";

    r = vmd_->post("/v1/instances/" + id + "/start?wait=true", nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "running");
    EXPECT_EQ(r.json()["starts"], 2);
    console = vmd_->get("/v1/instances/" + id + "/console");
    EXPECT_NE(console.body.find("-- vmd: start 2 at "), std::string::npos) << console.body;

    r = vmd_->post("/v1/instances/" + id + "/start", nlohmann::json::object());
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.json()["error"].get<std::string>().find("running"), std::string::npos);

    r = vmd_->post("/v1/instances/" + id + "/terminate?wait=true", nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "terminated");
    r = vmd_->post("/v1/instances/" + id + "/terminate", nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << "terminating again is not an error: " << r.body;
    EXPECT_TRUE(vmd_->cgroups().empty());
    // Listed still, and its name free again.
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 1u);
    run({{"image", "plain"}, {"name", "web"}});

    const std::string log = vmd_->log();
    for (const char* line :
         {"pending -> starting", "starting -> running", "running -> rebooting",
          "running -> stopping", "stopping -> stopped", "terminating -> terminated"}) {
        EXPECT_NE(log.find(line), std::string::npos) << "no log line with " << line;
    }
}

// The answer to a run does not wait for its instances' starts (each plugs a
// tap and its rules on vmd's loop): they are all pending in it, and start
// one per turn of the loop, other requests served between them.
TEST_F(VmdLifecycle, ARunIsAnsweredBeforeItsInstancesStart) {
    vmd_->import_image("plain", "console=ttyS0");
    const auto made = run({{"image", "plain"}, {"count", 5}}, 201, false);
    ASSERT_EQ(made["instances"].size(), 5u);
    for (const auto& i : made["instances"]) {
        EXPECT_EQ(i["state"], "pending") << i.dump();
    }
    for (const auto& i : made["instances"]) {
        EXPECT_EQ(vmd_->wait_state(i["id"], "running")["state"], "running");
    }
}

// A guest that ignores Ctrl-Alt-Del is reset when the reboot's timeout
// passes, and vmd's log says so; one that reboots itself is not.
TEST_F(VmdLifecycle, AGuestThatIgnoresCtrlAltDelIsResetAfterTheTimeout) {
    vmd_->import_image("deaf", "console=ttyS0 fake.ctrl_alt_del=ignore");
    const std::string id = run({{"image", "deaf"}})["instances"][0]["id"];
    auto r = vmd_->post("/v1/instances/" + id + "/reboot?wait=true", {{"timeout_s", 1}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "running");
    EXPECT_EQ(r.json()["boots"], 2) << "booted again after the reset";
    EXPECT_NE(vmd_->log().find("instance " + id +
                               ": the guest did not reboot on Ctrl-Alt-Del in time; resetting it"),
              std::string::npos)
        << vmd_->log();

    vmd_->import_image("plain", "console=ttyS0");
    const std::string obliging = run({{"image", "plain"}})["instances"][0]["id"];
    r = vmd_->post("/v1/instances/" + obliging + "/reboot?wait=true", {{"timeout_s", 30}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["boots"], 2);
    EXPECT_EQ(vmd_->log().find("instance " + obliging + ": the guest did not reboot"),
              std::string::npos)
        << vmd_->log();
}

TEST_F(VmdLifecycle, EachVmmsCgroupHasItsLimits) {
    vmd_->import_image("plain", "console=ttyS0");
    const auto made = run({{"image", "plain"}, {"vcpus", 2}, {"memory_mib", 128}});
    const std::string id = made["instances"][0]["id"];
    ASSERT_EQ(vmd_->cgroup_procs(id).size(), 1u);

    // Where the host keeps a controller from cgroup v2, vmd says so and
    // runs without that limit; every other limit must be set.
    const auto health = vmd_->get("/v1/health").json();
    const auto missing = health["cgroup_controllers_missing"].get<std::vector<std::string>>();
    const auto has = [&](const std::string& c) {
        return std::find(missing.begin(), missing.end(), c) == missing.end();
    };
    const auto read = [&](const std::string& file) {
        std::ifstream in(vmd_->cgroup_root() + "/" + id + "/" + file);
        std::string value;
        in >> value;
        return value;
    };
    if (has("memory")) {
        EXPECT_EQ(read("memory.max"), std::to_string((128 + 64) << 20)) << "guest + vmm overhead";
    }
    if (has("cpu")) {
        EXPECT_EQ(read("cpu.weight"), "200") << "100 per vCPU";
    }
    if (has("pids")) {
        EXPECT_EQ(read("pids.max"), "66") << "64 + one per vCPU";
    }
    if (missing.size() == 3) {
        GTEST_SKIP() << "this host offers none of memory, cpu, pids to cgroup v2 (they are "
                        "bound to cgroup v1): no limit to check";
    }
}

TEST_F(VmdLifecycle, EphemeralRootIsTheImageWithAnOverlayInTheInstanceDirectory) {
    vmd_->import_image("plain", "console=ttyS0");
    const std::string id = run({{"image", "plain"}})["instances"][0]["id"];
    std::ifstream config(vmd_->state_dir() + "/instances/" + id + "/vmm.json");
    const auto j = nlohmann::json::parse(config);
    ASSERT_TRUE(j["disk"].is_array());
    const std::string root = j["disk"][0];
    EXPECT_NE(root.find("/images/"), std::string::npos) << root;
    EXPECT_NE(root.find(",ephemeral"), std::string::npos) << root;
    std::ifstream log(vmd_->state_dir() + "/instances/" + id + "/vmm.log");
    std::string text((std::istreambuf_iterator<char>(log)), {});
    EXPECT_NE(text.find("TMPDIR=" + vmd_->state_dir() + "/instances/" + id), std::string::npos)
        << text;
}

TEST_F(VmdLifecycle, AStopTheGuestIgnoresTimesOutAndForceEndsIt) {
    vmd_->import_image("deaf", "fake.power_button=ignore");
    const std::string id = run({{"image", "deaf"}})["instances"][0]["id"];
    auto r = vmd_->post("/v1/instances/" + id + "/stop?wait=true", {{"timeout_s", 1}});
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.json()["error"].get<std::string>().find("stop timed out after 1 s"),
              std::string::npos)
        << r.body;
    auto i = vmd_->get("/v1/instances/" + id).json();
    EXPECT_EQ(i["state"], "running") << "a failed stop leaves the instance running";
    EXPECT_NE(i["last_error"].get<std::string>().find("ignored the ACPI power button"),
              std::string::npos);
    EXPECT_EQ(vmd_->cgroup_procs(id).size(), 1u);

    r = vmd_->post("/v1/instances/" + id + "/stop?wait=true", {{"timeout_s", 1}, {"force", true}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "stopped");
    EXPECT_TRUE(r.json()["last_error"].is_null());
    EXPECT_TRUE(vmd_->cgroups().empty());
}

TEST_F(VmdLifecycle, AForcedStopKillsAVmmThatIgnoresSigterm) {
    vmd_->import_image("stubborn", "fake.power_button=ignore fake.sigterm=ignore");
    const std::string id = run({{"image", "stubborn"}})["instances"][0]["id"];
    const auto start = std::chrono::steady_clock::now();
    auto r =
        vmd_->post("/v1/instances/" + id + "/stop?wait=true", {{"timeout_s", 1}, {"force", true}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "stopped");
    // Power button, 1 s; SIGTERM, 1 s (--kill-grace); SIGKILL.
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1900ms);
    EXPECT_NE(vmd_->log().find("SIGKILL"), std::string::npos);
}

TEST_F(VmdLifecycle, TerminateSucceedsWhereTheGuestIgnoresThePowerButton) {
    vmd_->import_image("deaf", "fake.power_button=ignore");
    const std::string id = run({{"image", "deaf"}})["instances"][0]["id"];
    auto r = vmd_->post("/v1/instances/" + id + "/terminate?wait=true", {{"timeout_s", 1}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["state"], "terminated");
    EXPECT_TRUE(vmd_->cgroups().empty());
}

TEST_F(VmdLifecycle, NoReadyWithinTheBootTimeoutFails) {
    vmd_->import_image("mute", "fake.ready_ms=never");
    const auto r = vmd_->post("/v1/instances?wait=true",
                              {{"image", "mute"}, {"boot_timeout_s", 1}, {"name", "mute"}});
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.json()["error"].get<std::string>().find("not ready within 1 s"), std::string::npos)
        << r.body;
    const auto i = vmd_->get("/v1/instances/mute").json();
    EXPECT_EQ(i["state"], "failed");
    EXPECT_NE(i["reason"].get<std::string>().find("not ready within 1 s"), std::string::npos);
    // The vmm was killed, its cgroup removed; the console stays readable.
    for (int n = 0; n < 100 && !vmd_->cgroups().empty(); ++n) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(vmd_->cgroups().empty());
    EXPECT_NE(vmd_->get("/v1/instances/mute/console").body.find("fake vmm: boot 1"),
              std::string::npos);
    // The subscriber may start it again (it fails again) or terminate it.
    auto again = vmd_->post("/v1/instances/mute/start?wait=true", nlohmann::json::object());
    EXPECT_EQ(again.status, 409) << again.body;
    EXPECT_EQ(vmd_->post("/v1/instances/mute/terminate?wait=true", nlohmann::json::object()).status,
              200);
}

TEST_F(VmdLifecycle, AKernelPanicFailsWithItsReason) {
    vmd_->import_image("panicky", "fake.panic_ms=30");
    const auto r = vmd_->post("/v1/instances?wait=true", {{"image", "panicky"}});
    EXPECT_EQ(r.status, 409) << r.body;
    const std::string id = r.json()["instances"][0]["id"];
    const auto i = vmd_->wait_state(id, "failed");
    EXPECT_EQ(i["reason"], "guest kernel panic");
    EXPECT_NE(vmd_->get("/v1/instances/" + id + "/console").body.find("fake vmm: boot 1"),
              std::string::npos);
}

TEST_F(VmdLifecycle, AVmmExitFailsWithTheStatusAndItsLastWords) {
    vmd_->import_image("broken",
                       "fake.exit_ms=30 fake.exit_status=6 fake.exit_message=KVM_RUN_went_wrong");
    const auto r = vmd_->post("/v1/instances?wait=true", {{"image", "broken"}});
    EXPECT_EQ(r.status, 409) << r.body;
    const std::string id = r.json()["instances"][0]["id"];
    const auto i = vmd_->wait_state(id, "failed");
    const std::string reason = i["reason"];
    EXPECT_NE(reason.find("KVM could not run the guest (status 6)"), std::string::npos) << reason;
    EXPECT_NE(reason.find("KVM_RUN_went_wrong"), std::string::npos) << reason;
}

TEST_F(VmdLifecycle, AGarbageKernelFailsWithTheVmmsMessage) {
    // The image names a kernel file that is not there for the vmm: it exits 2.
    vmd_->import_image("nokernel", "console=ttyS0");
    unlink((vmd_->dir() + "/kernel").c_str());
    const auto r = vmd_->post("/v1/instances?wait=true", {{"image", "nokernel"}});
    EXPECT_EQ(r.status, 409) << r.body;
    const std::string id = r.json()["instances"][0]["id"];
    const std::string reason = vmd_->wait_state(id, "failed")["reason"];
    EXPECT_NE(reason.find("status 2"), std::string::npos) << reason;
    EXPECT_NE(reason.find("cannot open kernel"), std::string::npos) << reason;
}

TEST_F(VmdLifecycle, DiskErrorsShowOnTheInstance) {
    vmd_->import_image("flaky", "fake.disk_error_ms=20");
    const std::string id = run({{"image", "flaky"}})["instances"][0]["id"];
    nlohmann::json i;
    for (int n = 0; n < 200; ++n) {
        i = vmd_->get("/v1/instances/" + id).json();
        if (!i["disk_errors"].empty()) {
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_EQ(i["disk_errors"].size(), 1u) << i.dump();
    EXPECT_EQ(i["disk_errors"][0]["disk"], "root");
    EXPECT_EQ(i["disk_errors"][0]["op"], "write");
    EXPECT_EQ(i["state"], "running") << "a disk error changes no state";
}

TEST_F(VmdLifecycle, ClientTokensMakeRunIdempotent) {
    vmd_->import_image("plain", "console=ttyS0");
    const nlohmann::json request{{"image", "plain"}, {"count", 2}, {"client_token", "tok-1"}};
    const auto first = vmd_->post("/v1/instances", request);
    EXPECT_EQ(first.status, 201) << first.body;
    const auto again = vmd_->post("/v1/instances", request);
    EXPECT_EQ(again.status, 200) << again.body;
    ASSERT_EQ(again.json()["instances"].size(), 2u);
    EXPECT_EQ(again.json()["instances"][0]["id"], first.json()["instances"][0]["id"]);
    EXPECT_EQ(again.json()["instances"][1]["id"], first.json()["instances"][1]["id"]);
    auto other = request;
    other["count"] = 3;
    const auto mismatch = vmd_->post("/v1/instances", other);
    EXPECT_EQ(mismatch.status, 409) << mismatch.body;
    EXPECT_NE(mismatch.body.find("IdempotentParameterMismatch"), std::string::npos);
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 2u);
    // A retry whose volume the first run has attached meanwhile gets the
    // same instance, not a conflict over its own volume.
    ASSERT_EQ(vmd_->post("/v1/volumes", {{"name", "data"}, {"size_bytes", 1 << 20}}).status, 201);
    const nlohmann::json with_volume{
        {"image", "plain"}, {"volumes", {"data"}}, {"client_token", "tok-2"}};
    const auto attached = vmd_->post("/v1/instances", with_volume);
    ASSERT_EQ(attached.status, 201) << attached.body;
    const auto retried = vmd_->post("/v1/instances", with_volume);
    EXPECT_EQ(retried.status, 200) << retried.body;
    EXPECT_EQ(retried.json()["instances"][0]["id"], attached.json()["instances"][0]["id"]);
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 3u);
    // Another uid's token of the same text is its own (calling as that
    // uid takes root).
    if (geteuid() == 0) {
        EXPECT_EQ(vmd_->post("/v1/instances", request, 65534).status, 404)
            << "uid 65534 has no image 'plain'";
    }
}

TEST_F(VmdLifecycle, RunIsAllOrNothing) {
    vmd_->terminate();
    Vmd::Options small;
    small.max_memory_mib = 1024;
    ASSERT_TRUE(vmd_->start(small)) << vmd_->log();
    vmd_->import_image("plain", "console=ttyS0");
    auto r = vmd_->post("/v1/instances", {{"image", "plain"}, {"count", 4}, {"memory_mib", 256}});
    EXPECT_EQ(r.status, 409) << r.body;
    const std::string error = r.json()["error"];
    EXPECT_NE(error.find("not enough memory"), std::string::npos) << error;
    EXPECT_NE(error.find("need 1280 MiB"), std::string::npos) << error;
    EXPECT_NE(error.find("short by 256 MiB"), std::string::npos) << error;
    EXPECT_TRUE(vmd_->get("/v1/instances").json().empty()) << "nothing was created";
    EXPECT_TRUE(vmd_->cgroups().empty());
    r = vmd_->post("/v1/instances?wait=true",
                   {{"image", "plain"}, {"count", 3}, {"memory_mib", 256}});
    EXPECT_EQ(r.status, 201) << r.body;
    // Full now: one more does not fit, and a stopped instance frees its share.
    r = vmd_->post("/v1/instances", {{"image", "plain"}, {"memory_mib", 128}});
    EXPECT_EQ(r.status, 409) << r.body;
    const std::string first = vmd_->get("/v1/instances").json()[0]["id"];
    EXPECT_EQ(
        vmd_->post("/v1/instances/" + first + "/stop?wait=true", nlohmann::json::object()).status,
        200);
    r = vmd_->post("/v1/instances", {{"image", "plain"}, {"memory_mib", 128}});
    EXPECT_EQ(r.status, 201) << r.body;
    r = vmd_->post("/v1/instances/" + first + "/start", nlohmann::json::object());
    EXPECT_EQ(r.status, 409) << "its memory went to the new one: " << r.body;
}

TEST_F(VmdLifecycle, WaitTimesOutOrSaysWhenTheStateCannotCome) {
    vmd_->import_image("mute", "fake.ready_ms=never");
    vmd_->import_image("deaf", "fake.power_button=ignore");
    const std::string mute =
        vmd_->post("/v1/instances", {{"image", "mute"}}).json()["instances"][0]["id"];
    auto r = vmd_->get("/v1/instances/" + mute + "/wait?state=running&timeout_s=1");
    EXPECT_EQ(r.status, 408) << r.body;
    EXPECT_NE(r.json()["error"].get<std::string>().find("still starting"), std::string::npos);

    const std::string deaf = run({{"image", "deaf"}})["instances"][0]["id"];
    EXPECT_EQ(vmd_->post("/v1/instances/" + deaf + "/stop", {{"timeout_s", 1}}).status, 202);
    r = vmd_->get("/v1/instances/" + deaf + "/wait?state=stopped&timeout_s=10");
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.body.find("stop timed out"), std::string::npos) << r.body;
    r = vmd_->get("/v1/instances/" + deaf + "/wait?state=running");
    EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(VmdLifecycle, PersistentRootIsABootVolumeThatSurvivesStop) {
    vmd_->import_image("plain", "console=ttyS0", 8 << 20);
    const auto i =
        run({{"image", "plain"}, {"persistent_root", true}, {"name", "db"}})["instances"][0];
    const std::string id = i["id"];
    ASSERT_TRUE(i["persistent"].get<bool>());
    const std::string vol = i["boot_volume"];
    auto v = vmd_->get("/v1/volumes/" + vol).json();
    EXPECT_EQ(v["boot"], true);
    EXPECT_EQ(v["state"], "in-use");
    EXPECT_EQ(v["instance"], id);
    EXPECT_EQ(v["size_bytes"], 8 << 20);
    const std::string file = vmd_->state_dir() + "/volumes/" + vol + ".raw";
    std::ifstream in(file);
    std::string head(11, '\0');
    in.read(head.data(), 11);
    EXPECT_EQ(head, "image plain") << "the boot volume is a copy of the image";

    EXPECT_EQ(vmd_->post("/v1/instances/db/stop?wait=true", nlohmann::json::object()).status, 200);
    EXPECT_EQ(access(file.c_str(), F_OK), 0) << "a stop keeps the boot volume";
    auto r = vmd_->post("/v1/volumes/" + vol + "/detach", nlohmann::json::object());
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_EQ(vmd_->post("/v1/instances/db/start?wait=true", nlohmann::json::object()).status, 200);
    EXPECT_EQ(vmd_->post("/v1/instances/db/terminate?wait=true", nlohmann::json::object()).status,
              200);
    EXPECT_NE(access(file.c_str(), F_OK), 0) << "terminate deletes the instance's boot volume";
    EXPECT_EQ(vmd_->get("/v1/volumes/" + vol).status, 404);

    // keep_root keeps it, as a volume of its own.
    const auto kept = run({{"image", "plain"}, {"persistent_root", true}})["instances"][0];
    const std::string kept_vol = kept["boot_volume"];
    r = vmd_->post("/v1/instances/" + kept["id"].get<std::string>() + "/terminate?wait=true",
                   {{"keep_root", true}});
    EXPECT_EQ(r.status, 200) << r.body;
    v = vmd_->get("/v1/volumes/" + kept_vol).json();
    EXPECT_EQ(v["state"], "available") << v.dump();
    EXPECT_EQ(v["boot"], false);
    EXPECT_EQ(vmd_->request("DELETE", "/v1/volumes/" + kept_vol).status, 200);
}

TEST_F(VmdLifecycle, VolumesAttachToStoppedInstancesOnly) {
    vmd_->import_image("plain", "console=ttyS0");
    auto r = vmd_->post("/v1/volumes", {{"name", "data"}, {"size_bytes", 16 << 20}});
    ASSERT_EQ(r.status, 201) << r.body;
    const std::string vol = r.json()["id"];
    struct stat st {};
    ASSERT_EQ(stat((vmd_->state_dir() + "/volumes/" + vol + ".raw").c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 16 << 20);
    EXPECT_LT(st.st_blocks * 512, 1 << 20) << "a new volume is sparse";

    const std::string id = run({{"image", "plain"}, {"volumes", {"data"}}})["instances"][0]["id"];
    EXPECT_EQ(vmd_->get("/v1/instances/" + id).json()["volumes"], nlohmann::json::array({vol}));
    std::ifstream config(vmd_->state_dir() + "/instances/" + id + "/vmm.json");
    const auto j = nlohmann::json::parse(config);
    EXPECT_NE(j["disk"][1].get<std::string>().find(vol + ".raw,id=" + vol), std::string::npos)
        << j.dump();
    EXPECT_EQ(vmd_->request("DELETE", "/v1/volumes/data").status, 409);
    r = vmd_->post("/v1/volumes/data/detach", nlohmann::json::object());
    EXPECT_EQ(r.status, 409) << "not while it runs: " << r.body;
    EXPECT_EQ(
        vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object()).status,
        200);
    EXPECT_EQ(vmd_->post("/v1/volumes/data/detach", nlohmann::json::object()).status, 200);
    EXPECT_EQ(vmd_->get("/v1/volumes/data").json()["state"], "available");
    EXPECT_EQ(vmd_->post("/v1/volumes/data/attach", {{"instance", id}}).status, 200);
    EXPECT_EQ(
        vmd_->post("/v1/instances/" + id + "/terminate?wait=true", nlohmann::json::object()).status,
        200);
    EXPECT_EQ(vmd_->get("/v1/volumes/data").json()["state"], "available")
        << "terminate releases, never deletes, a data volume";
    EXPECT_EQ(vmd_->request("DELETE", "/v1/volumes/data").status, 200);
    EXPECT_NE(access((vmd_->state_dir() + "/volumes/" + vol + ".raw").c_str(), F_OK), 0);
}

TEST_F(VmdLifecycle, ImageDeleteIsRefusedWhileAnInstanceUsesIt) {
    vmd_->import_image("plain", "console=ttyS0");
    const std::string id = run({{"image", "plain"}})["instances"][0]["id"];
    auto r = vmd_->request("DELETE", "/v1/images/plain");
    EXPECT_EQ(r.status, 409) << r.body;
    EXPECT_NE(r.body.find(id), std::string::npos);
    EXPECT_EQ(
        vmd_->post("/v1/instances/" + id + "/terminate?wait=true", nlohmann::json::object()).status,
        200);
    r = vmd_->request("DELETE", "/v1/images/plain");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(vmd_->get("/v1/images").json().empty());
}

TEST_F(VmdLifecycle, TheConsoleLogIsCapped) {
    vmd_->terminate();
    Vmd::Options options;
    options.extra_args = {"--console-max-bytes", "65536"};
    ASSERT_TRUE(vmd_->start(options));
    vmd_->import_image("chatty", "fake.console_bytes=100000");
    const std::string id = run({{"image", "chatty"}})["instances"][0]["id"];
    // A restart trims it at the start's marker; housekeeping while it runs.
    EXPECT_EQ(
        vmd_->post("/v1/instances/" + id + "/reboot?wait=true", nlohmann::json::object()).status,
        200);
    const std::string path = vmd_->state_dir() + "/instances/" + id + "/console.log";
    struct stat st {};
    for (int n = 0; n < 100; ++n) {
        stat(path.c_str(), &st);
        if (st.st_size <= 65536) {
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_LE(st.st_size, 65536);
    const auto console = vmd_->get("/v1/instances/" + id + "/console");
    const std::int64_t next = std::stoll(console.headers.at("X-Console-Offset"));
    EXPECT_GT(next, 200000) << "offsets count every byte ever written";
    EXPECT_EQ(vmd_->get("/v1/instances/" + id + "/console?offset=" + std::to_string(next)).body,
              "");
}

}  // namespace
}  // namespace vmd_test
