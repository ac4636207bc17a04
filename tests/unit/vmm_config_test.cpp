#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "vmm/config.h"
#include "vmm/error.h"

namespace vmm {
namespace {

CommandLine parse(std::vector<std::string> args) {
    return parse_command_line(args);
}

std::string error_of(std::vector<std::string> args) {
    try {
        parse(args);
    } catch (const InvalidInput& e) {
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
    EXPECT_THROW(apply_json_config("{", "t.json", c), InvalidInput);
    EXPECT_THROW(apply_json_config("[1]", "t.json", c), InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"vcpus": -1})", "t.json", c), InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"vcpus": [1]})", "t.json", c), InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"no-reboot": "yes"})", "t.json", c), InvalidInput);
    EXPECT_THROW(apply_json_config(R"({"colour": "red"})", "t.json", c), InvalidInput);
}

}  // namespace
}  // namespace vmm
