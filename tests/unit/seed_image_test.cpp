// The seed disk and the host keys, made with the Debian tools the platform
// uses and read back with others (mtools, blkid, ssh-keygen) the way the
// guest and the SSH client will see them.

#include "supervisor/seed/seed_image.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "base/error.h"
#include "supervisor/seed/host_keys.h"
#include "supervisor/seed/run_tool.h"

namespace seed {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class SeedImageTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char pattern[] = "/tmp/seed-image-test.XXXXXX";
        ASSERT_NE(mkdtemp(pattern), nullptr);
        dir_ = pattern;
        image_ = dir_ + "/seed.img";
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string mtype(const std::string& name) {
        return run_tool_checked({"mtype", "-i", image_, "::" + name}, "mtools", 30s,
                                {{"MTOOLS_SKIP_CHECK", "1"}});
    }

    std::string dir_;
    std::string image_;
};

const SeedFiles kFiles{"instance-id: \"i-1\"\nlocal-hostname: \"web-1\"\n",
                       "#cloud-config\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAA a\"\n",
                       "version: 2\n"};

TEST_F(SeedImageTest, IsAVfatLabelledCidataHoldingTheThreeFiles) {
    write_seed_image(kFiles, image_);
    // blkid is how cloud-init finds the seed by its label.
    EXPECT_EQ(
        run_tool_checked({"blkid", "-p", "-o", "value", "-s", "LABEL", image_}, "util-linux", 30s),
        "cidata\n");
    EXPECT_EQ(
        run_tool_checked({"blkid", "-p", "-o", "value", "-s", "TYPE", image_}, "util-linux", 30s),
        "vfat\n");
    EXPECT_EQ(mtype("meta-data"), kFiles.meta_data);
    EXPECT_EQ(mtype("user-data"), kFiles.user_data);
    EXPECT_EQ(mtype("network-config"), kFiles.network_config);
    struct stat st {};
    ASSERT_EQ(stat(image_.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "it holds private host keys";
    EXPECT_FALSE(fs::exists(image_ + ".tmp"));
}

TEST_F(SeedImageTest, LeavesOutAnEmptyNetworkConfigAndReplacesAnOldImage) {
    write_seed_image(kFiles, image_);
    SeedFiles next = kFiles;
    next.meta_data = "instance-id: \"i-1\"\nlocal-hostname: \"renamed\"\n";
    next.network_config.clear();
    write_seed_image(next, image_);
    EXPECT_EQ(mtype("meta-data"), next.meta_data);
    const std::string listing = run_tool_checked({"mdir", "-b", "-i", image_, "::"}, "mtools", 30s,
                                                 {{"MTOOLS_SKIP_CHECK", "1"}});
    EXPECT_EQ(listing.find("network-config"), std::string::npos) << listing;
    EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1)
        << "no temporary files left beside it";
}

TEST_F(SeedImageTest, GrowsForLargeUserData) {
    SeedFiles big = kFiles;
    // More than the smallest image (1 MiB) holds.
    big.user_data = "#!/bin/sh\n" + std::string(900 << 10, '#') + "\n";
    big.meta_data += "# " + std::string(900 << 10, '-') + "\n";
    write_seed_image(big, image_);
    EXPECT_TRUE(mtype("user-data") == big.user_data);
    EXPECT_TRUE(mtype("meta-data") == big.meta_data);
}

TEST_F(SeedImageTest, FailsWithTheToolsWordsInADirectoryThatDoesNotExist) {
    EXPECT_THROW(write_seed_image(kFiles, dir_ + "/missing/seed.img"), base::HostError);
}

TEST(HostKeys, AreFreshKeyPairsWithTheirFingerprints) {
    const auto keys = generate_host_keys("root@i-0123456789ab", {"ed25519", "ecdsa"});
    ASSERT_EQ(keys.size(), 2u);
    EXPECT_EQ(keys[0].type, "ed25519");
    EXPECT_EQ(keys[0].private_key.rfind("-----BEGIN OPENSSH PRIVATE KEY-----\n", 0), 0u);
    EXPECT_EQ(keys[0].public_key.rfind("ssh-ed25519 AAAA", 0), 0u);
    EXPECT_NE(keys[0].public_key.find(" root@i-0123456789ab"), std::string::npos);
    EXPECT_EQ(keys[0].fingerprint.rfind("SHA256:", 0), 0u);
    EXPECT_EQ(keys[1].public_key.rfind("ecdsa-sha2-nistp256 ", 0), 0u);
    EXPECT_NE(keys[0].fingerprint, keys[1].fingerprint);
    EXPECT_NE(generate_host_keys("x")[0].public_key, generate_host_keys("x")[0].public_key)
        << "each instance gets keys of its own";

    // The private key is the public key's pair (what sshd will serve is
    // what the client will be told to expect).
    char path[] = "/tmp/host-key.XXXXXX";
    const int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, keys[0].private_key.data(), keys[0].private_key.size()),
              static_cast<ssize_t>(keys[0].private_key.size()));
    close(fd);
    const std::string derived =
        run_tool_checked({"ssh-keygen", "-y", "-f", path}, "openssh-client", 30s);
    unlink(path);
    EXPECT_EQ(derived.substr(0, derived.find(' ', derived.find(' ') + 1)),
              keys[0].public_key.substr(
                  0, keys[0].public_key.find(' ', keys[0].public_key.find(' ') + 1)));
    EXPECT_THROW(generate_host_keys("x", {"dsa"}), base::InvalidInput);
}

TEST(HostKeys, KnownHostsNameTheHostAndEachKeyWithoutItsComment) {
    const HostKey a{"ed25519", "", "ssh-ed25519 AAAAkey1 root@a", "SHA256:1"};
    const HostKey b{"ecdsa", "", "ecdsa-sha2-nistp256 AAAAkey2 root@a", "SHA256:2"};
    EXPECT_EQ(known_hosts("198.18.0.5", {a, b}),
              "198.18.0.5 ssh-ed25519 AAAAkey1\n198.18.0.5 ecdsa-sha2-nistp256 AAAAkey2\n");
}

TEST(RunTool, ReportsAMissingToolWithItsPackageAndKillsOneThatHangs) {
    try {
        run_tool({"no-such-tool-here"}, "some-package", 5s);
        FAIL();
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find("some-package"), std::string::npos) << e.what();
    }
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(run_tool({"sleep", "30"}, "coreutils", 200ms), base::HostError);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_EQ(run_tool({"sh", "-c", "echo out; echo err >&2; exit 3"}, "dash", 5s).status, 3);
    EXPECT_EQ(run_tool({"sh", "-c", "echo out; echo err >&2"}, "dash", 5s).output, "out\nerr\n");
}

}  // namespace
}  // namespace seed
