#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "vmm/config.h"

namespace vmm {
namespace {

CommandLine parse(std::vector<std::string> args) {
    return parse_command_line(args);
}

std::string error_of(std::vector<std::string> args) {
    try {
        parse(args);
    } catch (const base::InvalidInput& e) {
        return e.what();
    }
    return "";
}

TEST(VmmConfig, ParsesEveryOption) {
    const auto cl =
        parse({"--kernel", "/k", "--initrd=/i", "--cmdline", "console=ttyS0 quiet", "--vcpus", "4",
               "--memory", "512", "--serial", "file:/tmp/s.log", "--api-sock", "/tmp/a.sock",
               "--events", "3", "--no-reboot", "--id", "web-1"});
    const VmConfig& c = cl.config;
    EXPECT_EQ(cl.action, CommandLine::Action::kRun);
    EXPECT_EQ(c.kernel, "/k");
    EXPECT_EQ(c.initrd, "/i");
    EXPECT_EQ(c.cmdline, "console=ttyS0 quiet");
    EXPECT_EQ(c.vcpus, 4u);
    EXPECT_EQ(c.memory_mib, 512u);
    EXPECT_EQ(c.serial.kind, SerialConfig::Kind::kFile);
    EXPECT_EQ(c.serial.path, "/tmp/s.log");
    EXPECT_EQ(c.api_socket, "/tmp/a.sock");
    EXPECT_EQ(c.events.kind, EventsConfig::Kind::kFd);
    EXPECT_EQ(c.events.fd, 3);
    EXPECT_TRUE(c.no_reboot);
    EXPECT_EQ(c.id, "web-1");
}

TEST(VmmConfig, HelpAndVersionNeedNothingElse) {
    EXPECT_EQ(parse({"--help"}).action, CommandLine::Action::kHelp);
    EXPECT_EQ(parse({"--version"}).action, CommandLine::Action::kVersion);
}

TEST(VmmConfig, RejectsBadInputWithAMessageNamingIt) {
    EXPECT_NE(error_of({}).find("no kernel"), std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--bogus", "1"}).find("unknown option --bogus"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--vcpus", "0"}).find("--vcpus 0 is out of range"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--vcpus", "4x"}).find("whole number"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--memory", "99999999999999"}).find("--memory"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel"}).find("needs a value"), std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--serial", "tcp:1"}).find("--serial"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--id", "a b"}).find("--id"), std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "stray"}).find("unexpected argument"), std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--no-reboot=1"}).find("takes no value"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--config", "/nonexistent.json"}).find("cannot read"),
              std::string::npos);
}

TEST(VmmConfig, JsonConfigHoldsTheSameSettings) {
    VmConfig c;
    apply_json_config(R"({"kernel": "/k", "vcpus": 2, "memory": "128", "no-reboot": true,
                          "serial": "none", "events": "/tmp/ev"})",
                      "test.json", c);
    EXPECT_EQ(c.kernel, "/k");
    EXPECT_EQ(c.vcpus, 2u);
    EXPECT_EQ(c.memory_mib, 128u);
    EXPECT_TRUE(c.no_reboot);
    EXPECT_EQ(c.serial.kind, SerialConfig::Kind::kNone);
    EXPECT_EQ(c.events.kind, EventsConfig::Kind::kPath);
}

TEST(VmmConfig, JsonConfigRejectsMalformedDocuments) {
    VmConfig c;
    EXPECT_THROW(apply_json_config("{", "t.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config("[1]", "t.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"vcpus": -1})", "t.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"vcpus": [1]})", "t.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"no-reboot": "yes"})", "t.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"colour": "red"})", "t.json", c), base::InvalidInput);
}

// A number JSON cannot hold in a double is no parse_error to nlohmann's
// parser but an out_of_range: it once escaped past main's InvalidInput
// handler and aborted the vmm.
TEST(VmmConfig, JsonNumbersTooLargeForADoubleAreInvalidInput) {
    VmConfig c;
    EXPECT_THROW(apply_json_config(R"({"vcpus": 1e999})", "t.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"memory": -8e774})", "t.json", c), base::InvalidInput);
}

TEST(VmmConfig, DisksAndNetsAreRepeatable) {
    const auto c = parse({"--kernel", "/k", "--disk", "path=/img/root.ext4,ephemeral", "--disk",
                          "path=/vol/data.raw,id=data,direct", "--disk", "path=/ro.img,readonly",
                          "--net", "tap=tap0", "--net", "tap=tap1,mac=02:aa:bb:cc:dd:ee,id=back"})
                       .config;
    ASSERT_EQ(c.disks.size(), 3u);
    EXPECT_EQ(c.disks[0].path, "/img/root.ext4");
    EXPECT_TRUE(c.disks[0].ephemeral);
    EXPECT_FALSE(c.disks[0].read_only);
    EXPECT_EQ(c.disks[1].id, "data");
    EXPECT_TRUE(c.disks[1].direct);
    EXPECT_TRUE(c.disks[2].read_only);
    ASSERT_EQ(c.nets.size(), 2u);
    EXPECT_EQ(c.nets[0].tap, "tap0");
    EXPECT_FALSE(c.nets[0].mac.has_value());
    ASSERT_TRUE(c.nets[1].mac.has_value());
    EXPECT_EQ(format_mac(*c.nets[1].mac), "02:aa:bb:cc:dd:ee");
    EXPECT_EQ(c.nets[1].id, "back");
}

TEST(VmmConfig, BadDiskAndNetSpecsAreNamed) {
    EXPECT_NE(error_of({"--kernel", "/k", "--disk", "id=x"}).find("no path"), std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--disk", "path=/a,bogus"}).find("bogus"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--disk", "path=/a,,readonly"}).find("empty field"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--disk", "path=/a,readonly,ephemeral"}).find("exclude"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--net", "mac=02:00:00:00:00:01"}).find("no tap"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--net", "tap=t,mac=02:00:00:00:00"}).find("mac"),
              std::string::npos);
    EXPECT_NE(
        error_of({"--kernel", "/k", "--net", "tap=t,mac=01:00:00:00:00:01"}).find("multicast"),
        std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--disk", "path=/a,id=x", "--net", "tap=t,id=x"})
                  .find("used twice"),
              std::string::npos);
    std::vector<std::string> many{"--kernel", "/k"};
    for (int i = 0; i < 8; ++i) {
        many.push_back("--disk");
        many.push_back("path=/d" + std::to_string(i));
    }
    EXPECT_NE(error_of(many).find("too many devices"), std::string::npos);
}

// sscanf's %2x took a sign, a space or a 0x prefix, so "-2:..." gave the
// guest fe:... and "02:00:00:00:00: 1" passed: a MAC is six hex pairs.
TEST(VmmConfig, MacsAreSixHexPairsAndNothingElse) {
    for (const std::string mac : {"02:00:00:00:00: 1", "-2:00:00:00:00:01", "+2:00:00:00:00:01",
                                  "0x:00:00:00:00:02", "02:00:00:00:00:0x", "02-00-00-00-00-01"}) {
        EXPECT_NE(
            error_of({"--kernel", "/k", "--net", "tap=t,mac=" + mac}).find("is not of the form"),
            std::string::npos)
            << mac;
    }
    const auto c = parse({"--kernel", "/k", "--net", "tap=t,mac=0A:bC:00:Ff:10:9e"}).config;
    ASSERT_TRUE(c.nets.at(0).mac.has_value());
    EXPECT_EQ(format_mac(*c.nets[0].mac), "0a:bc:00:ff:10:9e");
}

TEST(VmmConfig, JsonTakesDisksAsOneStringOrAnArray) {
    VmConfig c;
    apply_json_config(R"({"kernel": "/k", "disk": ["path=/a", "path=/b,readonly"],
                          "net": "tap=tap9"})",
                      "test.json", c);
    ASSERT_EQ(c.disks.size(), 2u);
    EXPECT_TRUE(c.disks[1].read_only);
    ASSERT_EQ(c.nets.size(), 1u);
    EXPECT_THROW(apply_json_config(R"({"disk": [1]})", "t.json", c), base::InvalidInput);
}

TEST(VmmConfig, DefaultMacIsStableLocalAndUnicast) {
    const auto a = default_mac("web-1", 0);
    EXPECT_EQ(a, default_mac("web-1", 0));
    EXPECT_NE(a, default_mac("web-1", 1));
    EXPECT_NE(a, default_mac("web-2", 0));
    EXPECT_EQ(a[0] & 0x03, 0x02) << "locally administered, unicast";
}

// Library exceptions are converted where they arise (base/error.h): a
// user's mistake is an InvalidInput naming it, never main's "internal error".
TEST(VmmConfig, LibraryErrorsBecomeInvalidInput) {
    VmConfig c;
    EXPECT_THROW(apply_json_config(R"({"vcpus": 1e999})", "test.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"memory": -1e999})", "test.json", c), base::InvalidInput);
    EXPECT_THROW(apply_json_config("\"\xff\"", "test.json", c), base::InvalidInput);
    EXPECT_NE(error_of({"--kernel", "/k", "--config", "/tmp"}).find("not a regular file"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--config", "/nonexistent/vm.json"})
                  .find("/nonexistent/vm.json"),
              std::string::npos);
    EXPECT_NE(error_of({"--kernel", "/k", "--vcpus", "99999999999"}).find("out of range"),
              std::string::npos);
}

}  // namespace
}  // namespace vmm
