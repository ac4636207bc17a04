// Reboots of a distribution kernel and the reboot-loop rule, with real guests.
//
// The stock guest is Debian's own kernel (CONFIG_EFI, virtio as modules) with
// the initramfs of scripts/build-stock-guest ($VMM_STOCK_GUEST_DIR): its init
// counts its boots on a small disk the test gives it (memory is cleared at
// every reboot) and reboots with `reboot -f` until stockguest.boots=N, then
// powers off. No `reboot=` option: the kernel picks its own method, which on
// this hardware-reduced ACPI machine ends in a jump to the reset vector.
//
// The reboot loop is a kernel that triple-faults at its first instruction: a
// boot lasts milliseconds, so the rule's limit is reached at once.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/integration/vmm_process.h"
#include "tests/unit/boot_test_images.h"

namespace {

using namespace std::chrono_literals;
using testing_support::GuestArtifacts;
using testing_support::http_unix;
using testing_support::VmmProcess;

// A stock-kernel boot takes 10-40 s in the emulated sandbox.
constexpr auto kStockBootTimeout = 150s;
constexpr auto kLoopTimeout = 120s;

std::vector<nlohmann::json> events_named(VmmProcess& vm, const std::string& name) {
    std::vector<nlohmann::json> found;
    for (const auto& e : vm.events()) {
        if (e["event"] == name) {
            found.push_back(e);
        }
    }
    return found;
}

// Waits until `vm` has sent `count` events named `name`; false at the timeout
// or when the VMM exits first.
bool wait_events(VmmProcess& vm, const std::string& name, std::size_t count,
                 std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (events_named(vm, name).size() < count) {
        if (std::chrono::steady_clock::now() >= deadline || vm.wait_exit(200ms).has_value()) {
            return events_named(vm, name).size() >= count;
        }
    }
    return true;
}

class VmmReboot : public ::testing::Test {
  protected:
    void SetUp() override {
        a_ = GuestArtifacts::from_env();
        if (a_.vmm.empty() || access(a_.vmm.c_str(), X_OK) != 0) {
            GTEST_SKIP() << "build/bin/vmm or the guest artefacts are missing (run make test)";
        }
        const char* dir = std::getenv("VMM_STOCK_GUEST_DIR");
        stock_dir_ = dir == nullptr ? "" : dir;
        dir_ = "/tmp/vmm-reboot-" + std::to_string(getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override {
        if (!dir_.empty()) {
            std::filesystem::remove_all(dir_);
        }
    }
    // Skips the test when scripts/build-stock-guest's output was not given.
    bool have_stock_guest() const {
        return !stock_dir_.empty() && access((stock_dir_ + "/vmlinuz").c_str(), R_OK) == 0 &&
               access((stock_dir_ + "/initramfs.cpio.gz").c_str(), R_OK) == 0;
    }
    // A zeroed 1 MiB disk for the guest's boot counter.
    std::string counter_disk() {
        const std::string path = dir_ + "/counter.img";
        std::ofstream(path, std::ios::binary).put('\0');
        std::filesystem::resize_file(path, 1 << 20);
        return path;
    }
    static int count_on(const std::string& disk) {
        std::ifstream in(disk, std::ios::binary);
        std::string text(16, '\0');
        in.read(text.data(), 16);
        return std::atoi(text.c_str());
    }
    std::vector<std::string> stock_args(const std::string& disk, const std::string& guest_args,
                                        const std::string& vcpus = "1") {
        return {"--kernel",  stock_dir_ + "/vmlinuz",
                "--initrd",  stock_dir_ + "/initramfs.cpio.gz",
                "--memory",  "256",
                "--vcpus",   vcpus,
                "--disk",    "path=" + disk,
                "--cmdline", "console=ttyS0 quiet " + guest_args};
    }
    // A PVH kernel whose first instruction (ud2) faults with the empty boot
    // IDT: a triple fault, that is a reset, at once.
    std::string triple_fault_kernel() {
        using namespace boot::test_images;
        ElfSpec spec;
        spec.entry = 0x100'0000;
        spec.segments.push_back({PT_LOAD, 0x100'0000, 0, {0x0F, 0x0B, 0xF4}, 0, 0x1000});
        spec.note_section = xen_pvh_note(0x100'0000);
        const std::vector<std::uint8_t> elf = make_elf(spec);
        const std::string path = dir_ + "/triple-fault.elf";
        std::ofstream(path, std::ios::binary)
            .write(reinterpret_cast<const char*>(elf.data()), static_cast<long>(elf.size()));
        return path;
    }

    GuestArtifacts a_;
    std::string stock_dir_;
    std::string dir_;
};

// Issue 12 §1: the default reboot of a distribution kernel (EFI method,
// falling back to a real-mode jump to F000:FFF0) reboots the VM in process.
// Two vCPUs: the reboot runs on one while the other is stopped.
TEST_F(VmmReboot, StockKernelRebootsWithPlainRebootF) {
    if (!have_stock_guest()) {
        GTEST_SKIP() << "VMM_STOCK_GUEST_DIR (scripts/build-stock-guest) not given";
    }
    const std::string disk = counter_disk();
    VmmProcess vm(a_, stock_args(disk, "stockguest.boots=2", "2"));
    ASSERT_TRUE(wait_events(vm, "rebooting", 1, kStockBootTimeout)) << vm.output();
    EXPECT_EQ(vm.wait_exit(kStockBootTimeout), 0) << vm.output();
    EXPECT_NE(vm.output().find("stock-guest: boot 1 of 2"), std::string::npos) << vm.output();
    EXPECT_NE(vm.output().find("(type default: efi)"), std::string::npos)
        << "the kernel chose its EFI method, which ends at the reset vector:\n"
        << vm.output();
    EXPECT_NE(vm.output().find("stock-guest: boot 2 of 2"), std::string::npos) << vm.output();
    EXPECT_EQ(count_on(disk), 2) << "the guest counted two boots";
    EXPECT_EQ(events_named(vm, "starting").size(), 2u);
    const auto rebooting = events_named(vm, "rebooting");
    ASSERT_EQ(rebooting.size(), 1u);
    EXPECT_EQ(rebooting[0].value("detail", ""),
              "the guest reset the machine through the ACPI reset register")
        << "the reset code at F000:FFF0 writes the ACPI reset register";
    const auto exit = vm.wait_event("exit", 1s);
    ASSERT_TRUE(exit);
    EXPECT_EQ(exit->value("status", -1), 0);
}

// Every other way Linux reboots an x86 machine (the default, EFI's, is
// StockKernelRebootsWithPlainRebootF's), one per boot, in one process, then
// a power-off: four quick reboots in a row are no reboot loop.
TEST_F(VmmReboot, StockKernelRebootsInProcessByEveryMethodThenPowersOff) {
    if (!have_stock_guest()) {
        GTEST_SKIP() << "VMM_STOCK_GUEST_DIR (scripts/build-stock-guest) not given";
    }
    const std::string disk = counter_disk();
    VmmProcess vm(a_, stock_args(disk,
                                 "stockguest.boots=5 "
                                 "stockguest.types=acpi,kbd,pci,triple"));
    for (std::size_t reboot = 1; reboot <= 4; ++reboot) {
        ASSERT_TRUE(wait_events(vm, "rebooting", reboot, kStockBootTimeout))
            << "reboot " << reboot << " did not happen\n"
            << vm.output();
    }
    EXPECT_EQ(vm.wait_exit(kStockBootTimeout), 0) << vm.output();
    for (int boot = 1; boot <= 5; ++boot) {
        EXPECT_NE(vm.output().find("stock-guest: boot " + std::to_string(boot) + " of 5"),
                  std::string::npos)
            << vm.output();
    }
    EXPECT_EQ(count_on(disk), 5);
    EXPECT_EQ(events_named(vm, "starting").size(), 5u);
    const std::vector<std::string> want = {
        "the guest reset the machine through the ACPI reset register",  // reboot=acpi
        "the guest reset the machine through the i8042 reset pulse",    // reboot=kbd
        "the guest reset the machine through the reset control register (port 0xCF9)",  // pci
        "triple fault on vCPU 0",                                                       // triple
    };
    const auto rebooting = events_named(vm, "rebooting");
    ASSERT_EQ(rebooting.size(), want.size()) << vm.output();
    for (std::size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(rebooting[i].value("detail", ""), want[i]) << "reboot " << i + 1;
    }
    EXPECT_TRUE(vm.wait_event("poweroff", 1s));
}

// Issue 12 §1, second defect: a guest that resets within milliseconds, again
// and again, is still ended with status 5, after the default 10 boots.
TEST_F(VmmReboot, FastRebootLoopEndsWithStatus5) {
    VmmProcess vm(a_, {"--kernel", triple_fault_kernel(), "--memory", "64"});
    EXPECT_EQ(vm.wait_exit(kLoopTimeout), 5) << vm.output();
    EXPECT_EQ(events_named(vm, "starting").size(), 10u);
    EXPECT_EQ(events_named(vm, "rebooting").size(), 9u);
    const auto loop = vm.wait_event("reboot-loop", 1s);
    ASSERT_TRUE(loop);
    EXPECT_EQ(loop->value("boots", 0), 10);
    EXPECT_EQ(loop->value("within_s", 0), 60);
    EXPECT_NE(vm.output().find("reboot loop"), std::string::npos) << vm.output();
}

TEST_F(VmmReboot, RebootLoopLimitIsConfigurableAndCanBeTurnedOff) {
    const std::string kernel = triple_fault_kernel();
    {
        VmmProcess vm(a_, {"--kernel", kernel, "--memory", "64", "--reboot-loop", "3/5"});
        EXPECT_EQ(vm.wait_exit(kLoopTimeout), 5) << vm.output();
        EXPECT_EQ(events_named(vm, "starting").size(), 3u);
    }
    VmmProcess vm(a_, {"--kernel", kernel, "--memory", "64", "--reboot-loop", "off"});
    EXPECT_TRUE(wait_events(vm, "starting", 25, kLoopTimeout)) << vm.output();
    EXPECT_FALSE(vm.wait_exit(0ms).has_value()) << "off: it reboots on and on";
    // ~VmmProcess kills it.
}

// The owner's reboot through the API is no sign of a loop: with a limit of
// one quick boot, two API reboots leave the VM running, and the guest's own
// quick reboot then ends it.
TEST_F(VmmReboot, TheOwnersRebootsDoNotCountTheGuestsDo) {
    const std::string api = a_.socket_dir + "/owner-reboot-" + std::to_string(getpid()) + ".sock";
    VmmProcess vm(a_,
                  {"--kernel", a_.bzimage, "--initrd", a_.initramfs, "--memory", "256", "--cmdline",
                   "console=ttyS0 quiet", "--api-sock", api, "--reboot-loop", "1/600"});
    for (std::size_t boot = 1; boot <= 3; ++boot) {
        ASSERT_TRUE(wait_events(vm, "ready", boot, kStockBootTimeout)) << vm.output();
        if (boot < 3) {
            const auto [status, body] =
                http_unix(api, "PUT", "/vm/actions", R"({"action": "reboot"})");
            ASSERT_EQ(status, 202) << body;
        }
    }
    vm.type("reboot\n");
    EXPECT_EQ(vm.wait_exit(kStockBootTimeout), 5) << vm.output();
    EXPECT_EQ(events_named(vm, "starting").size(), 3u);
    EXPECT_TRUE(vm.wait_event("reboot-loop", 1s));
}

}  // namespace
