// vmd killed with SIGKILL at chosen steps (the VMD_TEST_CRASH_AT hook makes
// each crash land at an exact point) and with instances running, then
// started again: every instance is right, running vmms are adopted (same
// process), ended ones concluded from their events, and nothing is leaked.

#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "tests/supervisor/vmd_harness.h"

namespace vmd_test {
namespace {

class VmdCrash : public VmdTest {
  protected:
    Vmd::Options crash_at(const std::string& point) {
        Vmd::Options o;
        o.env["VMD_TEST_CRASH_AT"] = point;
        o.extra_args = {"--kill-grace", "1"};
        return o;
    }
    Vmd::Options normal() {
        Vmd::Options o;
        o.extra_args = {"--kill-grace", "1"};
        return o;
    }
    // Sends a request that makes vmd crash: no answer, and vmd dies of SIGKILL.
    void expect_crash(const std::string& path, const nlohmann::json& body) {
        const auto r = vmd_->post(path, body);
        EXPECT_EQ(r.status, 0) << "vmd answered instead of crashing: " << r.body;
        EXPECT_EQ(vmd_->wait_exit(10s), 128 + SIGKILL);
    }
    // The same for a crash at the vmm's spawn, which comes once the start's
    // seed is made on a worker: after a run's answer.
    void expect_crash_at_spawn(const std::string& path, const nlohmann::json& body) {
        const auto r = vmd_->post(path, body);
        EXPECT_TRUE(r.status == 0 || r.status == 201) << r.status << ": " << r.body;
        EXPECT_EQ(vmd_->wait_exit(10s), 128 + SIGKILL);
    }
    nlohmann::json instance(const std::string& id) {
        return vmd_->get("/v1/instances/" + id).json();
    }
    std::string vmm_socket(const std::string& id) { return vmd_->dir() + "/vm/" + id + ".sock"; }
};

// A vmm action called straight on its API socket, behind vmd's back.
int vmm_action(const std::string& socket, const std::string& action) {
    httplib::Client c(socket);
    c.set_address_family(AF_UNIX);
    c.set_connection_timeout(2, 0);
    auto res = c.Put("/vm/actions", nlohmann::json{{"action", action}}.dump(), "application/json");
    return res ? res->status : 0;
}

TEST_F(VmdCrash, CrashAfterRunCommittedResumesAndTheTokenGivesTheSameInstances) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("plain", "console=ttyS0");
    vmd_->terminate();
    ASSERT_TRUE(vmd_->start(crash_at("run-committed")));
    const nlohmann::json request{{"image", "plain"}, {"count", 3}, {"client_token", "again"}};
    expect_crash("/v1/instances", request);
    EXPECT_TRUE(vmd_->cgroups().empty()) << "nothing was spawned before the crash";

    ASSERT_TRUE(vmd_->start(normal())) << vmd_->log();
    const auto list = vmd_->get("/v1/instances").json();
    ASSERT_EQ(list.size(), 3u) << "the committed run survives: " << list.dump();
    for (const auto& i : list) {
        vmd_->wait_state(i["id"], "running");
    }
    // The client retries with its token: the same three, no more.
    const auto retry = vmd_->post("/v1/instances", request);
    EXPECT_EQ(retry.status, 200) << retry.body;
    std::set<std::string> ids, again;
    for (const auto& i : list) {
        ids.insert(i["id"].get<std::string>());
    }
    const auto retried = retry.json();
    for (const auto& i : retried["instances"]) {
        again.insert(i["id"].get<std::string>());
    }
    EXPECT_EQ(ids, again);
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 3u);
    EXPECT_EQ(vmd_->cgroups().size(), 3u);
}

TEST_F(VmdCrash, CrashBetweenSpawnAndCommitAdoptsTheVmmInsteadOfStartingASecond) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("slow", "fake.ready_ms=500");
    vmd_->terminate();
    ASSERT_TRUE(vmd_->start(crash_at("spawned-before-commit")));
    expect_crash_at_spawn("/v1/instances", {{"image", "slow"}, {"name", "one"}});
    const auto groups = vmd_->cgroups();
    ASSERT_EQ(groups.size(), 1u);
    const auto pids = vmd_->cgroup_procs(groups[0]);
    ASSERT_EQ(pids.size(), 1u) << "the vmm was spawned before the crash";

    ASSERT_TRUE(vmd_->start(normal())) << vmd_->log();
    const auto i = vmd_->wait_state("one", "running");
    EXPECT_EQ(i["id"], groups[0]);
    EXPECT_EQ(vmd_->cgroup_procs(groups[0]), pids) << "the same vmm, adopted; no second one";
    EXPECT_NE(vmd_->log().find("adopted vmm pid " + std::to_string(pids[0])), std::string::npos);
}

TEST_F(VmdCrash, InstancesRunOnWhileVmdIsDownAndAreAdoptedOrConcluded) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("plain", "console=ttyS0");
    vmd_->import_image("deaf", "fake.power_button=ignore");
    const auto run =
        vmd_->post("/v1/instances?wait=true", {{"image", "plain"}, {"count", 4}, {"name", "web"}});
    ASSERT_EQ(run.status, 201) << run.body;
    std::vector<std::string> ids;
    const auto made = run.json();
    for (const auto& i : made["instances"]) {
        ids.push_back(i["id"]);
    }
    const std::string stopped = ids[3];
    ASSERT_EQ(
        vmd_->post("/v1/instances/" + stopped + "/stop?wait=true", nlohmann::json::object()).status,
        200);
    std::map<std::string, std::vector<pid_t>> pids;
    for (int n = 0; n < 3; ++n) {
        pids[ids[n]] = vmd_->cgroup_procs(ids[n]);
        ASSERT_EQ(pids[ids[n]].size(), 1u);
    }

    vmd_->kill9();
    // While vmd is down: web-1 runs on, web-2's guest powers off, web-3's
    // vmm is killed (it writes no exit event).
    EXPECT_EQ(vmm_action(vmm_socket(ids[1]), "power-button"), 202);
    kill(pids[ids[2]][0], SIGKILL);
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(kill(pids[ids[0]][0], 0), 0) << "an instance runs on while vmd is down";

    ASSERT_TRUE(vmd_->start(normal())) << vmd_->log();
    EXPECT_EQ(instance(ids[0])["state"], "running");
    EXPECT_EQ(vmd_->cgroup_procs(ids[0]), pids[ids[0]]) << "adopted, not restarted";
    EXPECT_EQ(vmd_->wait_state(ids[1], "stopped")["reason"], nullptr);
    const auto killed = vmd_->wait_state(ids[2], "failed");
    EXPECT_NE(killed["reason"].get<std::string>().find("signal unknown"), std::string::npos)
        << killed.dump();
    EXPECT_EQ(instance(stopped)["state"], "stopped");

    // Nothing of the ended ones is left: cgroups and sockets of running ones only.
    EXPECT_EQ(vmd_->cgroups(), std::vector<std::string>{ids[0]});
    EXPECT_EQ(vmd_->vmm_sockets(), std::vector<std::string>{ids[0] + ".sock"});

    // The adopted vmm is fully driven: its exit is seen through its pidfd.
    auto r = vmd_->post("/v1/instances/" + ids[0] + "/stop?wait=true", nlohmann::json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(vmd_->cgroups().empty());
    EXPECT_TRUE(vmd_->vmm_sockets().empty());

    // A second vmd on the same state directory refuses and says why.
    const auto [status, output] = vmd_->run_second(10s);
    EXPECT_EQ(status, 1) << output;
    EXPECT_NE(output.find("another vmd (pid " + std::to_string(vmd_->pid()) + ") is using"),
              std::string::npos)
        << output;
    EXPECT_EQ(vmd_->get("/v1/health").status, 200) << "the first one serves on";
}

TEST_F(VmdCrash, ACrashDuringAStopResumesItsDeadline) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("deaf", "fake.power_button=ignore");
    const std::string id =
        vmd_->post("/v1/instances?wait=true", {{"image", "deaf"}}).json()["instances"][0]["id"];
    const auto stopped_at = std::chrono::steady_clock::now();
    EXPECT_EQ(vmd_->post("/v1/instances/" + id + "/stop", {{"timeout_s", 3}}).status, 202);
    vmd_->kill9();
    ASSERT_TRUE(vmd_->start(normal()));
    // Still stopping, unless the restart took longer than the stop's
    // deadline (an emulated host): then it has already run out, as it must.
    if (std::chrono::steady_clock::now() - stopped_at < 2500ms) {
        EXPECT_EQ(instance(id)["state"], "stopping");
    }
    const auto i = vmd_->wait_state(id, "running", 15s);
    EXPECT_GE(std::chrono::steady_clock::now() - stopped_at, 3s) << "not before its deadline";
    EXPECT_NE(i["last_error"].get<std::string>().find("stop timed out after 3 s"),
              std::string::npos);
    // And a forced stop across a crash ends in stopped.
    EXPECT_EQ(
        vmd_->post("/v1/instances/" + id + "/stop", {{"timeout_s", 1}, {"force", true}}).status,
        202);
    vmd_->kill9();
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->wait_state(id, "stopped", 10s);
    EXPECT_TRUE(vmd_->cgroups().empty());
}

TEST_F(VmdCrash, ACrashDuringTerminateFinishesIt) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("plain", "console=ttyS0");
    const std::string id =
        vmd_->post("/v1/instances?wait=true", {{"image", "plain"}, {"persistent_root", true}})
            .json()["instances"][0]["id"];
    const std::string vol = instance(id)["boot_volume"];
    vmd_->terminate();
    ASSERT_TRUE(vmd_->start(crash_at("terminate-committed")));
    expect_crash("/v1/instances/" + id + "/terminate", nlohmann::json::object());
    ASSERT_TRUE(vmd_->start(normal())) << vmd_->log();
    vmd_->wait_state(id, "terminated");
    EXPECT_TRUE(vmd_->cgroups().empty());
    EXPECT_EQ(vmd_->get("/v1/volumes/" + vol).status, 404);
    EXPECT_NE(access((vmd_->state_dir() + "/volumes/" + vol + ".raw").c_str(), F_OK), 0);
}

TEST_F(VmdCrash, ACrashDuringTheBootVolumeCopyRedoesIt) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("big", "console=ttyS0", 32 << 20);
    vmd_->terminate();
    ASSERT_TRUE(vmd_->start(crash_at("boot-volume-copy-halfway")));
    const auto r = vmd_->post("/v1/instances", {{"image", "big"}, {"persistent_root", true}});
    EXPECT_EQ(r.status, 201) << "the run answers before the copy: " << r.body;
    const std::string id = r.json()["instances"][0]["id"];
    EXPECT_EQ(vmd_->wait_exit(10s), 128 + SIGKILL);
    ASSERT_TRUE(vmd_->start(normal())) << vmd_->log();
    const auto i = vmd_->wait_state(id, "running");
    const auto v = vmd_->get("/v1/volumes/" + i["boot_volume"].get<std::string>()).json();
    EXPECT_EQ(v["state"], "in-use");
    std::ifstream in(vmd_->state_dir() + "/volumes/" + v["id"].get<std::string>() + ".raw");
    std::string head(9, '\0');
    in.read(head.data(), 9);
    EXPECT_EQ(head, "image big");
}

TEST_F(VmdCrash, ACrashDuringAnImportFailsItAndRemovesItsFiles) {
    ASSERT_TRUE(vmd_->start(crash_at("image-copy")));
    write_raw_file(vmd_->dir() + "/big.raw", 64 << 20, "big");
    const auto r = vmd_->post("/v1/images", {{"name", "big"}, {"path", vmd_->dir() + "/big.raw"}});
    EXPECT_EQ(vmd_->wait_exit(10s), 128 + SIGKILL) << r.body;
    ASSERT_TRUE(vmd_->start(normal())) << vmd_->log();
    const auto images = vmd_->get("/v1/images").json();
    ASSERT_EQ(images.size(), 1u);
    EXPECT_EQ(images[0]["state"], "failed");
    EXPECT_NE(images[0]["reason"].get<std::string>().find("import it again"), std::string::npos);
    EXPECT_NE(
        access((vmd_->state_dir() + "/images/" + images[0]["id"].get<std::string>()).c_str(), F_OK),
        0);
    EXPECT_EQ(vmd_->request("DELETE", "/v1/images/big").status, 200);
}

TEST_F(VmdCrash, LeftoversOfUnknownOrEndedInstancesAreRemovedAtStart) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("plain", "console=ttyS0");
    const std::string id =
        vmd_->post("/v1/instances?wait=true", {{"image", "plain"}}).json()["instances"][0]["id"];
    ASSERT_EQ(
        vmd_->post("/v1/instances/" + id + "/stop?wait=true", nlohmann::json::object()).status,
        200);
    vmd_->kill9();
    // What a crash at the wrong moment could leave: an empty cgroup, the
    // vmm's socket and config.
    ASSERT_EQ(mkdir((vmd_->cgroup_root() + "/" + id).c_str(), 0755), 0);
    ASSERT_EQ(mkdir((vmd_->cgroup_root() + "/stray").c_str(), 0755), 0);
    write_raw_file(vmd_->dir() + "/vm/" + id + ".sock", 0, "");
    write_raw_file(vmd_->state_dir() + "/instances/" + id + "/vmm.json", 2, "{}");
    ASSERT_TRUE(vmd_->start(normal()));
    EXPECT_TRUE(vmd_->cgroups().empty());
    EXPECT_TRUE(vmd_->vmm_sockets().empty());
    EXPECT_NE(access((vmd_->state_dir() + "/instances/" + id + "/vmm.json").c_str(), F_OK), 0);
}

TEST_F(VmdCrash, SigtermStopsVmdAndLeavesTheInstancesRunning) {
    ASSERT_TRUE(vmd_->start(normal()));
    vmd_->import_image("plain", "console=ttyS0");
    const std::string id =
        vmd_->post("/v1/instances?wait=true", {{"image", "plain"}}).json()["instances"][0]["id"];
    const auto pids = vmd_->cgroup_procs(id);
    EXPECT_EQ(vmd_->terminate(), 0);
    EXPECT_NE(access(vmd_->socket().c_str(), F_OK), 0) << "vmd removes its socket";
    EXPECT_EQ(vmd_->cgroup_procs(id), pids);
    ASSERT_TRUE(vmd_->start(normal()));
    EXPECT_EQ(instance(id)["state"], "running");
    EXPECT_EQ(vmd_->cgroup_procs(id), pids);
}

}  // namespace
}  // namespace vmd_test
