// An instance's network and credentials as vmd will give them, with real
// guests: a bridge and a tap made by net/, a NoCloud seed made by
// supervisor/seed/ (the subscriber's generated key, host keys, the leased
// address, a user-data script), and an SSH login with Debian's client. Two
// guests read the same seed: the project's test image (guest/init.cpp) and
// a real Debian 12 cloud-init image (scripts/build-cloud-image,
// VMM_CLOUD_IMAGE_DIR), whose host key the client checks against the seed's.
// A boot is judged by the login, not by the console: cloud-init falls back
// silently when it cannot read the seed.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "net/bridge.h"
#include "net/mac.h"
#include "net/persistent_tap.h"
#include "supervisor/seed/host_keys.h"
#include "supervisor/seed/run_tool.h"
#include "supervisor/seed/seed_image.h"
#include "tests/integration/vmm_process.h"

namespace {

using namespace std::chrono_literals;
using testing_support::GuestArtifacts;
using testing_support::VmmProcess;

constexpr const char* kBridge = "sd-br0";
constexpr const char* kTap = "sdt-1";
constexpr const char* kAddress = "198.18.0.2";
constexpr const char* kInstance = "i-5eed00000001";
constexpr const char* kHostname = "seeded-1";

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

class SeedBoot : public ::testing::Test {
  protected:
    void SetUp() override {
        a_ = GuestArtifacts::from_env();
        if (a_.vmm.empty() || access(a_.vmm.c_str(), X_OK) != 0) {
            GTEST_SKIP() << "build/bin/vmm or the guest artefacts are missing (run make test)";
        }
        dir_ = "/tmp/seed-boot-" + std::to_string(getpid());
        std::filesystem::create_directories(dir_);
        setenv("TMPDIR", "/tmp", 1);  // where ephemeral overlays go
        net::ensure_bridge(links_, {kBridge, net::Ipv4Cidr::parse("198.18.0.0/24"),
                                    *net::Ipv4Address::parse("198.18.0.1")});
        net::create_tap(links_, {kTap, kBridge, 0, {}});
        key_ = make_client_key("id_subscriber");
    }
    void TearDown() override {
        if (dir_.empty()) {
            return;
        }
        net::delete_tap(links_, kTap);
        net::remove_bridge(links_, kBridge);
        std::filesystem::remove_all(dir_);
    }

    // A fresh ed25519 key pair in the scratch directory; its private key's path.
    std::string make_client_key(const std::string& name) {
        const std::string path = dir_ + "/" + name;
        seed::run_tool_checked(
            {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "subscriber@test", "-f", path},
            "openssh-client", 60s);
        return path;
    }

    // The seed of this test's instance, written to the scratch directory;
    // known_hosts_ lists its host keys.
    std::string make_seed(const std::string& user_data) {
        seed::InstanceSeed s;
        s.instance_id = kInstance;
        s.hostname = kHostname;
        s.ssh_authorized_keys = {trimmed(read_text(key_ + ".pub"))};
        s.user_data = user_data;
        s.network = seed::NetworkSettings{{*net::Ipv4Address::parse(kAddress), 24},
                                          *net::Ipv4Address::parse("198.18.0.1"),
                                          {*net::Ipv4Address::parse("198.18.0.1")},
                                          net::instance_mac(kInstance)};
        s.host_keys = seed::generate_host_keys(std::string("root@") + kInstance);
        known_hosts_ = dir_ + "/known_hosts";
        std::ofstream(known_hosts_) << seed::known_hosts(kAddress, s.host_keys);
        const std::string image = dir_ + "/seed.img";
        seed::write_seed_image(seed::render_seed(s), image);
        return image;
    }

    std::string net_arg() const {
        return std::string("tap=") + kTap + ",mac=" + net::format_mac(net::instance_mac(kInstance));
    }

    // Debian's ssh client as `vmctl ssh` will run it: this key only, no
    // config of the host's, the host key checked against `known_hosts`
    // (or not checked at all when it is empty: the test image's dropbear
    // makes its own).
    seed::ToolResult ssh(const std::string& user, const std::string& key,
                         const std::string& known_hosts, const std::string& command) {
        std::vector<std::string> argv{"ssh",
                                      "-F",
                                      "/dev/null",
                                      "-i",
                                      key,
                                      "-o",
                                      "IdentitiesOnly=yes",
                                      "-o",
                                      "BatchMode=yes",
                                      "-o",
                                      "ConnectTimeout=20",
                                      "-o",
                                      "LogLevel=ERROR",
                                      "-o",
                                      "GlobalKnownHostsFile=/dev/null"};
        if (known_hosts.empty()) {
            argv.insert(argv.end(),
                        {"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"});
        } else {
            argv.insert(argv.end(), {"-o", "StrictHostKeyChecking=yes", "-o",
                                     "UserKnownHostsFile=" + known_hosts});
        }
        argv.insert(argv.end(), {user + "@" + kAddress, command});
        return seed::run_tool(argv, "openssh-client", 90s);
    }

    // Retries `command` over SSH until it succeeds or `timeout` passes.
    std::optional<std::string> ssh_until_ok(VmmProcess& vm, const std::string& user,
                                            const std::string& known_hosts,
                                            const std::string& command,
                                            std::chrono::seconds timeout) {
        const auto started = std::chrono::steady_clock::now();
        const auto deadline = started + timeout;
        auto next_note = started + 60s;
        while (std::chrono::steady_clock::now() < deadline) {
            // A line a minute: run-tests takes a silent sandbox for a frozen one.
            if (std::chrono::steady_clock::now() >= next_note) {
                next_note += 60s;
                std::cout << "[ waiting  ] no ssh login yet after "
                          << std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count()
                          << " s of " << timeout.count() << " s" << std::endl;
            }
            const seed::ToolResult r = ssh(user, key_, known_hosts, command);
            if (r.status == 0) {
                return r.output;
            }
            last_ssh_output_ = r.output;
            if (vm.wait_exit(0ms)) {
                return std::nullopt;
            }
            std::this_thread::sleep_for(3s);
        }
        return std::nullopt;
    }

    static bool shell(VmmProcess& vm, const std::string& command, const std::string& expect,
                      std::chrono::milliseconds timeout = 60s) {
        const std::size_t from = vm.output().size();
        vm.type(command + "\n");
        return vm.wait_output(expect, timeout, from);
    }

    GuestArtifacts a_;
    std::string dir_;
    net::RouteSocket links_;
    std::string key_;
    std::string known_hosts_;
    std::string last_ssh_output_;
};

TEST_F(SeedBoot, TestImageTakesAddressKeysAndAScriptThatRunsOncePerInstance) {
    // The ephemeral root keeps its writes across the in-process reboot, so
    // the script's once-per-instance marker is seen by the second boot.
    const std::string seed = make_seed("#!/bin/sh\necho ran >> /var/log/script-runs\n");
    const std::string root = dir_ + "/root.ext4";
    ASSERT_EQ(std::system(("cp --sparse=always " + a_.rootfs + " " + root).c_str()), 0);
    VmmProcess vm(a_, {"--kernel", a_.bzimage, "--memory", "256", "--cmdline",
                       "console=ttyS0 quiet root=/dev/vda rw", "--id", kInstance, "--disk",
                       "path=" + root + ",ephemeral", "--disk", "path=" + seed + ",readonly",
                       "--net", net_arg()});
    ASSERT_TRUE(vm.wait_event("ready", 180s)) << vm.output();
    EXPECT_TRUE(vm.wait_output(std::string("eth0 ") + kAddress + "/24", 0ms)) << vm.output();

    const auto host = ssh_until_ok(vm, "root", "", "hostname", 120s);
    ASSERT_TRUE(host) << last_ssh_output_ << "\nconsole:\n" << vm.output();
    EXPECT_EQ(trimmed(*host), kHostname);
    const auto runs = ssh_until_ok(vm, "root", "", "cat /var/log/script-runs", 60s);
    EXPECT_EQ(runs, "ran\n") << last_ssh_output_;

    const std::string stranger = make_client_key("id_stranger");
    const seed::ToolResult refused = ssh("root", stranger, "", "hostname");
    EXPECT_NE(refused.status, 0) << "a key the seed did not name logs in";

    vm.type("reboot\n");
    const auto deadline = std::chrono::steady_clock::now() + 180s;
    bool second_boot = false;
    while (!second_boot && std::chrono::steady_clock::now() < deadline) {
        for (const auto& e : vm.events()) {
            second_boot = second_boot || (e["event"] == "ready" && e["boot"] == 2);
        }
        std::this_thread::sleep_for(200ms);
    }
    ASSERT_TRUE(second_boot) << vm.output();
    EXPECT_TRUE(shell(vm, "wc -l < /var/log/script-runs; echo rc=$?", "1\r\nrc=0"))
        << "the script ran again on the same instance:\n"
        << vm.output();
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(60s), 0) << vm.output();
}

TEST_F(SeedBoot, RealCloudInitImageLogsInWithTheSeedsKeysAndRunsItsScript) {
    const char* cloud = std::getenv("VMM_CLOUD_IMAGE_DIR");
    if (cloud == nullptr || *cloud == '\0') {
        GTEST_SKIP() << "VMM_CLOUD_IMAGE_DIR is not set: build the real cloud-init guest once, "
                        "as root, with scripts/build-cloud-image (it downloads Debian "
                        "packages; the tests never do)";
    }
    const std::string image_dir = cloud;
    const std::string user = trimmed(read_text(image_dir + "/default-user"));
    ASSERT_FALSE(user.empty()) << image_dir << "/default-user";
    const std::string seed = make_seed("#!/bin/sh\necho ran-by-cloud-init > /run/script-ran\n");

    const auto start = std::chrono::steady_clock::now();
    VmmProcess vm(a_, {"--kernel", image_dir + "/vmlinuz", "--initrd", image_dir + "/initrd.img",
                       "--memory", "1024", "--cmdline", "root=/dev/vda ro console=ttyS0", "--id",
                       kInstance, "--disk", "path=" + image_dir + "/disk.raw,ephemeral", "--disk",
                       "path=" + seed + ",readonly", "--net", net_arg()});
    // The first login proves the seed was read: the key, the address and
    // the host key all come from it.
    const auto host = ssh_until_ok(vm, user, known_hosts_, "hostname", 1200s);
    ASSERT_TRUE(host) << "no SSH login; last ssh said: " << last_ssh_output_ << "\nconsole:\n"
                      << vm.output();
    const auto login_s =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    std::cout << "[ figures  ] cloud-init guest: vmm start to first SSH login " << login_s.count()
              << " s\n";
    EXPECT_EQ(trimmed(*host), kHostname);

    // The user-data script runs in cloud-init's last stage, maybe after sshd is up.
    const auto ran = ssh_until_ok(vm, user, known_hosts_, "cat /run/script-ran", 300s);
    EXPECT_EQ(ran, "ran-by-cloud-init\n") << last_ssh_output_ << "\nconsole:\n" << vm.output();

    const std::string stranger = make_client_key("id_stranger");
    const seed::ToolResult refused = ssh(user, stranger, known_hosts_, "hostname");
    EXPECT_NE(refused.status, 0) << "a key the seed did not name logs in";
    EXPECT_NE(refused.output.find("Permission denied"), std::string::npos) << refused.output;

    // The client really checks the host key: another key for the address fails.
    const std::string wrong_hosts = dir_ + "/wrong_known_hosts";
    std::ofstream(wrong_hosts) << seed::known_hosts(kAddress, seed::generate_host_keys("other"));
    const seed::ToolResult spoofed = ssh(user, key_, wrong_hosts, "hostname");
    EXPECT_NE(spoofed.status, 0);
    EXPECT_NE(spoofed.output.find("Host key verification failed"), std::string::npos)
        << spoofed.output;

    ssh(user, key_, known_hosts_, "sudo poweroff");
    const auto status = vm.wait_exit(300s);
    EXPECT_TRUE(status.has_value()) << "the guest did not power off:\n" << vm.output();
    std::cout << "[ figures  ] cloud-init guest: vmm start to power-off "
              << std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                                  start)
                     .count()
              << " s\n";
}

}  // namespace
