// The platform devices as the machine wires them, without KVM: the serial
// console's output must never stall the vCPU that writes it, nor the VMM's
// exit, whatever its reader does.

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "devices/serial.h"
#include "tests/unit/stalled_reader.h"
#include "vmm/platform_devices.h"
#include "x86/layout.h"

namespace vmm {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

PlatformCallbacks quiet_callbacks() {
    return {
        .irq = [](std::uint32_t, bool) { return true; },
        .reset = [](const char*) {},
        .poweroff = [] {},
        .panic = [] {},
        .progress = [](std::uint8_t, Clock::time_point) {},
    };
}

// A guest printing 1 MiB while the console's reader has stopped (a full
// stdout pipe): every THR write returns at once, the excess is dropped and
// counted in the metrics, and the devices go away without waiting for it.
TEST(VmmPlatformDevices, AStoppedConsoleReaderStallsNoVcpuAndNoExit) {
    testing::StalledReader reader;
    ASSERT_TRUE(reader.ok());
    VmConfig config;
    config.serial.kind = SerialConfig::Kind::kFile;
    config.serial.path = reader.path();
    auto devices = std::make_unique<PlatformDevices>(config, quiet_callbacks());
    // A blocked write never ends; the limit only has to be longer than the
    // slowest build (ThreadSanitizer) takes for the loop.
    EXPECT_TRUE(testing::finishes_within(60s, reader, [&] {
        const std::uint8_t byte = 'x';
        for (int i = 0; i < (1 << 20); ++i) {
            devices->pio.write(layout::kCom1 + devices::Serial::kData, {&byte, 1});
        }
    })) << "the vCPU's THR write waited for the console's reader";
    const auto m = devices->metrics();
    EXPECT_EQ(m["serial"]["tx_bytes"], 1 << 20);
    EXPECT_GT(m["console"]["dropped_bytes"].get<std::uint64_t>(), 512u * 1024);
    const auto end = Clock::now();
    EXPECT_TRUE(testing::finishes_within(60s, reader, [&] { devices.reset(); }))
        << "the exit waited for the console's reader";
    EXPECT_LT(Clock::now() - end, PlatformDevices::kConsoleFlushTimeout + 1500ms);
}

TEST(VmmPlatformDevices, ConsoleOutputReachesItsFile) {
    const std::string path = "/tmp/vmm-console-test-" + std::to_string(getpid());
    unlink(path.c_str());
    VmConfig config;
    config.serial.kind = SerialConfig::Kind::kFile;
    config.serial.path = path;
    {
        PlatformDevices devices(config, quiet_callbacks());
        for (char ch : std::string("hello\n")) {
            const auto byte = static_cast<std::uint8_t>(ch);
            devices.pio.write(layout::kCom1 + devices::Serial::kData, {&byte, 1});
        }
    }
    std::FILE* f = std::fopen(path.c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buf[16] = {};
    EXPECT_EQ(std::fread(buf, 1, sizeof buf, f), 6u);
    std::fclose(f);
    EXPECT_STREQ(buf, "hello\n");
    unlink(path.c_str());
}

}  // namespace
}  // namespace vmm
