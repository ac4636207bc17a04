// The NoCloud seed's files as cloud-init will read them: YAML that parses
// back to what was meant, the subscriber's user-data merged or kept as a
// part that still runs, and network-config v2 that matches the NIC by
// pattern. MIME messages are checked with Python's email module, the parser
// cloud-init itself uses.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "base/error.h"
#include "supervisor/seed/nocloud.h"
#include "supervisor/seed/run_tool.h"

namespace seed {
namespace {

using namespace std::chrono_literals;

const char* kKeyA = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHdhYXRldmVyIGl0IGlzIGEga2V5 alice@laptop";
const char* kKeyB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGFub3RoZXIga2V5IG9mIGJvYnM bob";
const char* kPrivate =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----\n";
const char* kHostPublic = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhvc3Qga2V5 root@i-0123456789ab";

InstanceSeed instance() {
    InstanceSeed s;
    s.instance_id = "i-0123456789ab";
    s.hostname = "web-1";
    s.ssh_authorized_keys = {kKeyA};
    s.host_keys = {{"ed25519", kPrivate, kHostPublic, "SHA256:x"}};
    s.network = NetworkSettings{{*net::Ipv4Address::parse("198.18.0.5"), 24},
                                *net::Ipv4Address::parse("198.18.0.1"),
                                {*net::Ipv4Address::parse("198.18.0.1")},
                                *net::parse_mac("02:00:00:00:00:0a")};
    return s;
}

// The cloud-config document of `text` (after its "#cloud-config" line).
YAML::Node cloud_config(const std::string& text) {
    EXPECT_EQ(text.rfind("#cloud-config\n", 0), 0u) << text;
    return YAML::Load(text);
}

// Python's email module on `message`: one line per leaf part,
// "content-type|payload".
std::string python_parts(const std::string& message) {
    char path[] = "/tmp/seed-mime.XXXXXX";
    const int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, message.data(), message.size()), static_cast<ssize_t>(message.size()));
    close(fd);
    const std::string script =
        "import email, sys\n"
        "m = email.message_from_string(open(sys.argv[1]).read())\n"
        "for p in m.walk():\n"
        "    if not p.is_multipart():\n"
        "        print(p.get_content_type() + '|' + p.get_payload().replace('\\n', '\\\\n'))\n";
    const std::string out = run_tool_checked({"python3", "-c", script, path}, "python3", 30s);
    unlink(path);
    return out;
}

TEST(SeedMetaData, NamesTheInstanceAndItsHost) {
    EXPECT_EQ(meta_data(instance()),
              "instance-id: \"i-0123456789ab\"\nlocal-hostname: \"web-1\"\n");
    // A hostname YAML 1.1 would read as a boolean stays a string.
    InstanceSeed s = instance();
    s.hostname = "yes";
    EXPECT_EQ(YAML::Load(meta_data(s))["local-hostname"].Tag(), "!");
}

TEST(SeedMetaData, RefusesNamesThatAreNotNames) {
    for (const char* bad : {"", "web_1", "-web", "web-", "we b", "a..b", "web\n1"}) {
        InstanceSeed s = instance();
        s.hostname = bad;
        EXPECT_THROW(meta_data(s), base::InvalidInput) << bad;
    }
    InstanceSeed s = instance();
    s.instance_id = "i-1\ninstance-id: other";
    EXPECT_THROW(meta_data(s), base::InvalidInput);
    s.hostname = "db.example.org";
    s.instance_id = "i-1";
    EXPECT_NO_THROW(meta_data(s));
}

TEST(SeedUserData, CarriesTheSubscribersKeysAndTheHostKeys) {
    const std::string text = user_data(instance());
    const YAML::Node c = cloud_config(text);
    ASSERT_EQ(c["ssh_authorized_keys"].size(), 1u);
    EXPECT_EQ(c["ssh_authorized_keys"][0].as<std::string>(), kKeyA);
    EXPECT_EQ(c["ssh_keys"]["ed25519_private"].as<std::string>(), kPrivate);
    EXPECT_EQ(c["ssh_keys"]["ed25519_public"].as<std::string>(), kHostPublic);
    // The key block is readable as written, and the project's init finds the
    // authorized keys as `- KEY` lines under `ssh_authorized_keys:`.
    EXPECT_NE(text.find("ed25519_private: |\n"), std::string::npos) << text;
    EXPECT_NE(text.find("ssh_authorized_keys:\n  - \"" + std::string(kKeyA) + "\"\n"),
              std::string::npos)
        << text;
}

TEST(SeedUserData, MergesTheSubscribersCloudConfigKeepingTheirs) {
    InstanceSeed s = instance();
    s.user_data =
        "#cloud-config\n"
        "# their comment\n"
        "packages: [nginx]\n"
        "ssh_authorized_keys:\n"
        "  - " +
        std::string(kKeyB) +
        "\n"
        "  - " +
        std::string(kKeyA) +
        "\n"
        "ssh_keys:\n"
        "  rsa_private: theirs\n"
        "write_files:\n"
        "  - path: /etc/motd\n"
        "    content: |\n"
        "      hello\n"
        "      world\n"
        "    permissions: '0644'\n"
        "flag: 'yes'\n"
        "runcmd:\n"
        "  - [sh, -c, 'echo hi']\n";
    const std::string text = user_data(s);
    const YAML::Node c = cloud_config(text);
    EXPECT_EQ(c["packages"][0].as<std::string>(), "nginx");
    ASSERT_EQ(c["ssh_authorized_keys"].size(), 2u) << "each key once, theirs first";
    EXPECT_EQ(c["ssh_authorized_keys"][0].as<std::string>(), kKeyB);
    EXPECT_EQ(c["ssh_authorized_keys"][1].as<std::string>(), kKeyA);
    EXPECT_FALSE(c["ssh_keys"]["rsa_private"]) << "the host keys are the platform's";
    EXPECT_EQ(c["ssh_keys"]["ed25519_public"].as<std::string>(), kHostPublic);
    EXPECT_EQ(c["write_files"][0]["content"].as<std::string>(), "hello\nworld\n");
    EXPECT_EQ(c["write_files"][0]["permissions"].Tag(), "!") << "'0644' stays a string";
    EXPECT_EQ(c["flag"].Tag(), "!") << "'yes' stays a string";
    EXPECT_EQ(c["runcmd"][0][2].as<std::string>(), "echo hi");
}

TEST(SeedUserData, RefusesACloudConfigThatIsNotAMapping) {
    InstanceSeed s = instance();
    for (const char* bad : {"#cloud-config\n- a\n- b\n", "#cloud-config\nkey: [unclosed\n",
                            "#cloud-config\nssh_authorized_keys: just-a-string\n"}) {
        s.user_data = bad;
        EXPECT_THROW(user_data(s), base::InvalidInput) << bad;
    }
    s.user_data = "#cloud-config\n";
    EXPECT_EQ(cloud_config(user_data(s))["ssh_authorized_keys"][0].as<std::string>(), kKeyA);
}

// Found by tests/fuzz/seed_user_data_fuzz.cpp: raw control bytes in the
// subscriber's #cloud-config came out in a literal block that no YAML reader
// parses back. cloud-init's reader (PyYAML) refuses raw control characters
// and bytes that are not UTF-8, so they are refused here with the place;
// escaped ones are YAML and are kept, written escaped.
TEST(SeedUserData, ACloudConfigOfUnreadableBytesIsRefusedAndEscapesStayEscaped) {
    InstanceSeed s = instance();
    const std::pair<std::string, const char*> refused[] = {
        {"#cloud-config\nkey: a\x04"
         "b\n",
         "line 2: byte 0x04"},
        {"#cloud-config\nkey: |\n  one\n  tw\x1ao\n", "line 4: byte 0x1a"},
        {"#cloud-config\nkey: caf\xc3\n", "line 2: byte 0xc3"},
        {"#cloud-config\nkey: \xff\xfe\n", "line 2: byte 0xff"},
        {"#cloud-config\n\nkey: a\x7f\n", "line 3: byte 0x7f"},
        {"#cloud-config\nkey: \xed\xa0\x80\n", "line 2: byte 0xed"},  // a surrogate
    };
    for (const auto& [bad, where] : refused) {
        s.user_data = bad;
        try {
            user_data(s);
            ADD_FAILURE() << "accepted " << ::testing::PrintToString(bad);
        } catch (const base::InvalidInput& e) {
            EXPECT_NE(std::string(e.what()).find(where), std::string::npos) << e.what();
        }
    }
    s.user_data =
        "#cloud-config\nkey: \"one\\ntw\\x1ao\"\nother: \"a\\tb\\x04\"\nname: café\n"
        "del: \"caf\\xe9\\x7f\"\n";
    const std::string text = user_data(s);
    for (const char raw : {'\x04', '\x1a', '\x7f'}) {
        EXPECT_EQ(text.find(raw), std::string::npos) << "a raw control character: " << text;
    }
    const YAML::Node c = cloud_config(text);
    EXPECT_EQ(c["del"].as<std::string>(), "caf\xc3\xa9\x7f");
    EXPECT_EQ(c["key"].as<std::string>(),
              "one\ntw\x1a"
              "o");
    EXPECT_EQ(c["other"].as<std::string>(), "a\tb\x04");
    EXPECT_EQ(c["name"].as<std::string>(), "café");
    EXPECT_EQ(c["ssh_authorized_keys"][0].as<std::string>(), kKeyA);
}

// Found by seed_user_data_fuzz: a scalar holding a CR but no line feed was
// written plain, with the CR raw, which a reader takes as a line break.
TEST(SeedUserData, AValueWithACarriageReturnStaysOneValue) {
    InstanceSeed s = instance();
    s.user_data = "#cloud-config\nkey: \"a\\rb\"\n\"c\\rd\": e\nplain: f\rg\n";
    const std::string text = user_data(s);
    EXPECT_EQ(text.find('\r'), std::string::npos) << "a raw CR: " << text;
    const YAML::Node c = cloud_config(text);
    EXPECT_EQ(c["key"].as<std::string>(), "a\rb");
    EXPECT_EQ(c["c\rd"].as<std::string>(), "e");
    EXPECT_EQ(c["plain"].as<std::string>(), "f\rg");
    EXPECT_EQ(c["ssh_authorized_keys"][0].as<std::string>(), kKeyA);
}

TEST(SeedUserData, KeepsAScriptAsAPartThatStillRuns) {
    InstanceSeed s = instance();
    s.user_data = "#!/bin/sh\necho hello > /run/marker\n";
    const std::string text = user_data(s);
    EXPECT_EQ(text.rfind("Content-Type: multipart/mixed; boundary=", 0), 0u) << text;
    const std::string parts = python_parts(text);
    EXPECT_NE(parts.find("text/cloud-config|#cloud-config\\nssh_authorized_keys:"),
              std::string::npos)
        << parts;
    EXPECT_NE(parts.find("text/x-shellscript|#!/bin/sh\\necho hello > /run/marker\\n\n"),
              std::string::npos)
        << parts;
}

TEST(SeedUserData, PicksABoundaryNoPartContains) {
    InstanceSeed s = instance();
    s.user_data = "#!/bin/sh\n# --==vmm-platform-seed==\necho ok\n";
    const std::string parts = python_parts(user_data(s));
    EXPECT_NE(parts.find("text/x-shellscript|#!/bin/sh\\n# --==vmm-platform-seed==\\necho ok"),
              std::string::npos)
        << parts;
}

TEST(SeedUserData, GivesOtherCloudInitFormatsTheirType) {
    InstanceSeed s = instance();
    s.user_data = "#cloud-boothook\n#!/bin/sh\necho early\n";
    EXPECT_NE(python_parts(user_data(s)).find("text/cloud-boothook|#cloud-boothook"),
              std::string::npos);
    s.user_data = "#include\nhttps://example.org/config\n";
    EXPECT_NE(python_parts(user_data(s)).find("text/x-include-url|#include"), std::string::npos);
}

TEST(SeedUserData, NestsTheSubscribersMultipartAndAppendsToItsLists) {
    InstanceSeed s = instance();
    s.user_data =
        "Content-Type: multipart/mixed; boundary=\"XYZ\"\n"
        "MIME-Version: 1.0\n"
        "\n"
        "--XYZ\n"
        "Content-Type: text/cloud-config\n"
        "\n"
        "#cloud-config\n"
        "packages: [git]\n"
        "--XYZ\n"
        "Content-Type: text/x-shellscript\n"
        "\n"
        "#!/bin/sh\n"
        "true\n"
        "--XYZ--\n";
    const std::string text = user_data(s);
    const std::string parts = python_parts(text);
    // Their two parts, then ours.
    const std::size_t theirs = parts.find("text/cloud-config|#cloud-config\\npackages: [git]");
    const std::size_t script = parts.find("text/x-shellscript|#!/bin/sh\\ntrue");
    const std::size_t ours = parts.find("text/cloud-config|#cloud-config\\nssh_authorized_keys");
    EXPECT_LT(theirs, script) << parts;
    EXPECT_LT(script, ours) << parts;
    EXPECT_NE(ours, std::string::npos) << parts;
    EXPECT_NE(text.find("Merge-Type: dict(recurse_array,replace)+list(append)+str()"),
              std::string::npos);
}

TEST(SeedUserData, RefusesWhatCloudInitWouldNotRun) {
    InstanceSeed s = instance();
    for (const std::string& bad :
         {std::string("echo no header\n"), std::string("\x1f\x8b\x08rest"),
          std::string("#cloud-config-extra\n"), std::string("#!/bin/sh\0x", 11)}) {
        s.user_data = bad;
        EXPECT_THROW(user_data(s), base::InvalidInput) << bad;
    }
    s.user_data = "  \n\t\n";
    EXPECT_EQ(user_data(s), user_data(instance())) << "blank user-data is none";
}

TEST(SeedUserData, RefusesKeysThatAreNotOnePublicKeyALine) {
    for (const std::string& bad :
         {std::string("ssh-ed25519"), std::string("ssh-ed25519 not*base64"),
          std::string("command=\"rm -rf /\" ssh-ed25519 AAAA"),
          std::string(kKeyA) + "\nssh-ed25519 AAAA second", std::string("-----BEGIN x")}) {
        InstanceSeed s = instance();
        s.ssh_authorized_keys = {bad};
        EXPECT_THROW(user_data(s), base::InvalidInput) << bad;
    }
    InstanceSeed s = instance();
    s.host_keys[0].type = "dsa";
    EXPECT_THROW(user_data(s), base::InvalidInput);
}

TEST(SeedNetworkConfig, MatchesTheNicByPatternAndMacWithTheLease) {
    EXPECT_EQ(network_config(*instance().network),
              "version: 2\n"
              "ethernets:\n"
              "  primary:\n"
              "    match:\n"
              "      name: \"e*\"\n"
              "      macaddress: \"02:00:00:00:00:0a\"\n"
              "    addresses:\n"
              "      - \"198.18.0.5/24\"\n"
              "    gateway4: \"198.18.0.1\"\n"
              "    nameservers:\n"
              "      addresses:\n"
              "        - \"198.18.0.1\"\n");
}

TEST(SeedNetworkConfig, LeavesOutWhatIsNotKnownAndRefusesAnUnreachableGateway) {
    NetworkSettings n = *instance().network;
    n.mac.reset();
    n.dns.clear();
    const YAML::Node c = YAML::Load(network_config(n));
    EXPECT_FALSE(c["ethernets"]["primary"]["match"]["macaddress"]);
    EXPECT_FALSE(c["ethernets"]["primary"]["nameservers"]);
    EXPECT_EQ(c["ethernets"]["primary"]["match"]["name"].as<std::string>(), "e*");
    n.gateway = *net::Ipv4Address::parse("10.0.0.1");
    EXPECT_THROW(network_config(n), base::InvalidInput);
}

TEST(SeedFilesTest, ANetworkConfigOnlyWithNetworkSettings) {
    InstanceSeed s = instance();
    EXPECT_FALSE(render_seed(s).network_config.empty());
    s.network.reset();
    EXPECT_TRUE(render_seed(s).network_config.empty());
}

}  // namespace
}  // namespace seed
