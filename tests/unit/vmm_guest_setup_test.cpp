// BootFiles: every boot of a VM boots the kernel and initrd it started with.

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "base/error.h"
#include "vmm/guest_setup.h"

namespace vmm {
namespace {

class VmmBootFiles : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = "/tmp/vmm-boot-files-" + std::to_string(getpid());
        ASSERT_EQ(system(("rm -rf " + dir_ + " && mkdir -p " + dir_).c_str()), 0);
        config_.kernel = dir_ + "/bzImage";
        config_.initrd = dir_ + "/initrd";
        write(config_.kernel, "kernel, first build");
        write(config_.initrd, "initrd, first build");
    }
    void TearDown() override { [[maybe_unused]] int rc = system(("rm -rf " + dir_).c_str()); }
    static void write(const std::string& path, const std::string& text) {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    }
    static std::string text(const boot::KernelImage& image) {
        return std::string(image.bytes.begin(), image.bytes.end());
    }
    std::string dir_;
    VmConfig config_;
};

// The usual way to update a file (a new one renamed over it, or the old
// one removed) changes no boot of a VM that is running.
TEST_F(VmmBootFiles, AReplacedOrRemovedFileChangesNoLaterBoot) {
    const BootFiles files(config_);
    EXPECT_EQ(text(files.kernel()), "kernel, first build");
    write(dir_ + "/new", "kernel, second build");
    ASSERT_EQ(rename((dir_ + "/new").c_str(), config_.kernel.c_str()), 0);
    ASSERT_EQ(unlink(config_.initrd.c_str()), 0);
    EXPECT_EQ(text(files.kernel()), "kernel, first build") << "the reboot boots the same kernel";
    ASSERT_TRUE(files.initrd().has_value());
    EXPECT_EQ(text(*files.initrd()), "initrd, first build");
}

// A file rewritten in place: the next boot would boot other bytes; it fails
// instead, naming the file.
TEST_F(VmmBootFiles, AFileRewrittenInPlaceFailsTheBootInsteadOfChangingIt) {
    const BootFiles files(config_);
    EXPECT_EQ(text(*files.initrd()), "initrd, first build");
    write(config_.initrd, "initrd, other build");  // same size, other bytes
    try {
        files.initrd();
        ADD_FAILURE() << "booted other bytes";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find(config_.initrd), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("rewritten in place"), std::string::npos) << e.what();
    }
    EXPECT_EQ(text(files.kernel()), "kernel, first build") << "the kernel is untouched";
}

TEST_F(VmmBootFiles, AMissingFileIsNamedAtTheStart) {
    config_.initrd = dir_ + "/missing";
    try {
        BootFiles files(config_);
        ADD_FAILURE() << "no error for a missing initrd";
    } catch (const base::InvalidInput& e) {
        EXPECT_NE(std::string(e.what()).find(config_.initrd), std::string::npos) << e.what();
    }
    config_.initrd = dir_;
    EXPECT_THROW(BootFiles{config_}, base::InvalidInput) << "a directory";
}

}  // namespace
}  // namespace vmm
