// The VMM boots the guest kernel with the test initramfs and handles every
// way a guest's life ends. Real guests, real KVM (in the kvm-sandbox).

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "tests/integration/vmm_process.h"

namespace {

using namespace std::chrono_literals;
using testing_support::GuestArtifacts;
using testing_support::http_unix;
using testing_support::VmmProcess;

// Generous: inside the emulated sandbox every guest instruction is slow.
constexpr auto kBootTimeout = 180s;
constexpr auto kExitTimeout = 60s;
constexpr auto kShellTimeout = 30s;

class VmmBoot : public ::testing::Test {
  protected:
    void SetUp() override {
        a_ = GuestArtifacts::from_env();
        if (a_.vmm.empty() || access(a_.vmm.c_str(), X_OK) != 0) {
            GTEST_SKIP() << "build/bin/vmm or the guest artefacts are missing (run make test)";
        }
    }
    std::vector<std::string> args(std::vector<std::string> extra = {}) {
        std::vector<std::string> v{"--kernel", a_.bzimage, "--initrd",  a_.initramfs,
                                   "--memory", "256",      "--cmdline", "console=ttyS0 quiet"};
        v.insert(v.end(), extra.begin(), extra.end());
        return v;
    }
    // Types a command and waits for a marker it prints, so the answer is ours.
    static bool shell(VmmProcess& vm, const std::string& command, const std::string& expect) {
        const std::size_t from = vm.output().size();
        vm.type(command + "\n");
        return vm.wait_output(expect, kShellTimeout, from);
    }
    GuestArtifacts a_;
};

TEST_F(VmmBoot, BootsToReadyAndPowersOffWithStatus0) {
    VmmProcess vm(a_, args());
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    EXPECT_TRUE(vm.wait_event("kernel-started", 1s));
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0) << vm.output();
    const auto exit = vm.wait_event("exit", 1s);
    ASSERT_TRUE(exit);
    EXPECT_EQ((*exit)["status"], 0);
    EXPECT_TRUE(vm.wait_event("poweroff", 1s));
}

TEST_F(VmmBoot, ConsoleInputReachesAGuestShell) {
    VmmProcess vm(a_, args());
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    EXPECT_TRUE(shell(vm, "echo answer=$((6*7))", "answer=42")) << vm.output();
}

TEST_F(VmmBoot, GuestRebootHappensInTheSameProcess) {
    VmmProcess vm(a_, args());
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    const pid_t pid = vm.pid();
    vm.type("reboot\n");
    ASSERT_TRUE(vm.wait_event("rebooting", kExitTimeout)) << vm.output();
    // The second "ready" has boot 2.
    const auto deadline = std::chrono::steady_clock::now() + kBootTimeout;
    bool second_ready = false;
    while (!second_ready && std::chrono::steady_clock::now() < deadline) {
        for (const auto& e : vm.events()) {
            second_ready |= e["event"] == "ready" && e["boot"] == 2;
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(second_ready) << vm.output();
    EXPECT_EQ(vm.pid(), pid);
    EXPECT_FALSE(vm.wait_exit(0ms).has_value()) << "the VMM process lives on";
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0);
}

TEST_F(VmmBoot, NoRebootExitsWithTheRebootStatus) {
    VmmProcess vm(a_, args({"--no-reboot"}));
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    vm.type("reboot\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 4) << vm.output();
}

TEST_F(VmmBoot, KernelPanicEndsWithThePanicStatus) {
    VmmProcess vm(a_, args());
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    vm.type("echo c > /proc/sysrq-trigger\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 3) << vm.output();
    EXPECT_NE(vm.output().find("guest kernel panic"), std::string::npos);
    EXPECT_TRUE(vm.wait_event("panic", 1s));
}

TEST_F(VmmBoot, FourVcpusAreAllOnline) {
    VmmProcess vm(a_, args({"--vcpus", "4"}));
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    EXPECT_TRUE(shell(vm, "echo cpus=$(grep -c ^processor /proc/cpuinfo)", "cpus=4"))
        << vm.output();
}

TEST_F(VmmBoot, VmlinuxBootsThroughItsPvhEntry) {
    std::vector<std::string> v = args();
    v[1] = a_.vmlinux;
    VmmProcess vm(a_, v);
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0) << vm.output();
}

TEST_F(VmmBoot, RebootLoopBeforeReadyIsBounded) {
    // init reboots at once, before it could reach "ready": every boot ends
    // in a quick reboot request, and the VMM gives up after a bounded number
    // (3 here to keep the test short; the default is 10).
    VmmProcess vm(
        a_, {"--kernel", a_.bzimage, "--initrd", a_.initramfs, "--memory", "256", "--reboot-loop",
             "3/60", "--cmdline", "console=ttyS0 quiet rdinit=/sbin/reboot -- -f"});
    EXPECT_EQ(vm.wait_exit(3 * kBootTimeout), 5) << vm.output();
    const auto exit = vm.wait_event("exit", 1s);
    ASSERT_TRUE(exit);
    EXPECT_EQ((*exit)["status"], 5);
    int rebooting = 0;
    for (const auto& e : vm.events()) {
        rebooting += e["event"] == "rebooting";
    }
    EXPECT_GE(rebooting, 2) << "several boots happened before the VMM gave up";
    EXPECT_NE(vm.output().find("reboot loop"), std::string::npos) << vm.output();
}

using VmmApi = VmmBoot;

TEST_F(VmmApi, PowerButtonShutsTheGuestDownCleanly) {
    const std::string api = a_.socket_dir + "/pb.sock";
    VmmProcess vm(a_, args({"--api-sock", api}));
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    const auto [status, body] =
        http_unix(api, "PUT", "/vm/actions", R"({"action": "power-button"})");
    EXPECT_EQ(status, 202) << body;
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0) << vm.output();
    EXPECT_NE(vm.output().find("init: powering off"), std::string::npos)
        << "the guest's init shut down in order";
}

// The API's Ctrl-Alt-Del reaches the guest's init as the key chord on its
// keyboard, and the guest reboots in order: what `vmctl reboot` asks. With
// --no-reboot the reset at the end of it ends the VMM with the reboot status.
TEST_F(VmmApi, CtrlAltDelRebootsTheGuestInOrder) {
    const std::string api = a_.socket_dir + "/cad.sock";
    VmmProcess vm(a_, args({"--api-sock", api, "--no-reboot"}));
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();
    const auto [status, body] =
        http_unix(api, "PUT", "/vm/actions", R"({"action": "ctrl-alt-del"})");
    EXPECT_EQ(status, 202) << body;
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 4) << vm.output();
    EXPECT_NE(vm.output().find("init: Ctrl-Alt-Del pressed"), std::string::npos) << vm.output();
    EXPECT_NE(vm.output().find("init: rebooting"), std::string::npos)
        << "the guest's init shut down in order";
}

TEST_F(VmmApi, StatusPauseResumeAndBadRequests) {
    const std::string api = a_.socket_dir + "/pr.sock";
    VmmProcess vm(a_, args({"--api-sock", api}));
    ASSERT_TRUE(vm.wait_event("ready", kBootTimeout)) << vm.output();

    auto [code, body] = http_unix(api, "GET", "/vm");
    ASSERT_EQ(code, 200);
    auto status = nlohmann::json::parse(body);
    EXPECT_EQ(status["state"], "running");
    EXPECT_EQ(status["boot_count"], 1);
    EXPECT_FALSE(status["boots"][0]["ready_after_ms"].is_null());

    // Bad requests get 4xx while the VM runs on.
    EXPECT_EQ(http_unix(api, "PUT", "/vm/actions", "{oops").first, 400);
    EXPECT_EQ(http_unix(api, "PUT", "/vm/actions", R"({"action": "explode"})").first, 400);
    EXPECT_EQ(http_unix(api, "POST", "/vm", "{}").first, 405);
    EXPECT_EQ(http_unix(api, "GET", "/missing").first, 404);
    EXPECT_EQ(http_unix(api, "PUT", "/vm/actions", R"({"action": "resume"})").first, 409);

    ASSERT_EQ(http_unix(api, "PUT", "/vm/actions", R"({"action": "pause"})").first, 202);
    EXPECT_EQ(nlohmann::json::parse(http_unix(api, "GET", "/vm").second)["state"], "paused");
    const std::size_t before = vm.output().size();
    vm.type("echo still-$((1+1))\n");
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(vm.output().find("still-2", before), std::string::npos)
        << "paused guests answer nothing";
    ASSERT_EQ(http_unix(api, "PUT", "/vm/actions", R"({"action": "resume"})").first, 202);
    EXPECT_TRUE(vm.wait_output("still-2", kShellTimeout, before)) << vm.output();
    // The clock runs on after the pause.
    EXPECT_TRUE(shell(vm, "a=$(date +%s); sleep 2; echo delta=$(( $(date +%s) - a ))", "delta="));

    auto metrics = nlohmann::json::parse(http_unix(api, "GET", "/metrics").second);
    EXPECT_GT(metrics["vm_exits"]["io"].get<std::uint64_t>(), 0u);

    ASSERT_EQ(http_unix(api, "PUT", "/vm/actions", R"({"action": "kill"})").first, 202);
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 7);
}

TEST_F(VmmBoot, GarbageKernelIsRefusedWithStatus2) {
    const std::string garbage = a_.scratch + "/garbage-kernel";
    {
        std::ofstream out(garbage, std::ios::binary);
        std::mt19937 rng(7);
        for (int i = 0; i < 65536; ++i) {
            out.put(static_cast<char>(rng()));
        }
    }
    VmmProcess vm(a_, {"--kernel", garbage, "--memory", "64"});
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 2);
    EXPECT_NE(vm.output().find(garbage), std::string::npos)
        << "the message names the file: " << vm.output();
    unlink(garbage.c_str());
}

}  // namespace
