#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "base/error.h"
#include "storage/disk.h"
#include "storage/overlay_disk.h"
#include "storage/raw_disk.h"
#include "storage_test_files.h"

namespace storage {
namespace {

using test_files::TempDir;
using test_files::write_file;

class OpenDiskTest : public ::testing::Test {
  protected:
    // open_disk must throw InvalidInput whose message names `named`.
    void expect_invalid(const DiskOptions& o, const std::string& named) {
        try {
            open_disk(ring_, o);
            ADD_FAILURE() << "no exception for " << o.path;
        } catch (const base::InvalidInput& e) {
            EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
        }
    }
    DiskOptions options(const std::string& path, bool ephemeral = false) {
        DiskOptions o;
        o.path = path;
        o.ephemeral = ephemeral;
        o.overlay_dir = dir_.path();
        return o;
    }

    TempDir dir_;
    base::IoRing ring_;
};

TEST_F(OpenDiskTest, MissingFile) {
    const std::string path = dir_.file("nope.img");
    expect_invalid(options(path), path);
    expect_invalid(options(path, true), path);
    DiskOptions ro = options(path);
    ro.read_only = true;
    expect_invalid(ro, path);
}

TEST_F(OpenDiskTest, Directory) {
    expect_invalid(options(dir_.path()), dir_.path());
    expect_invalid(options(dir_.path(), true), dir_.path());
}

TEST_F(OpenDiskTest, SizeNotAMultipleOf512) {
    const std::string path = dir_.file("odd.img");
    write_file(path, std::vector<std::uint8_t>(1000));
    expect_invalid(options(path), path);
    expect_invalid(options(path, true), path);
}

TEST_F(OpenDiskTest, EmptyFile) {
    const std::string path = dir_.file("empty.img");
    write_file(path, {});
    expect_invalid(options(path), path);
}

TEST_F(OpenDiskTest, NotAFileOrBlockDevice) {
    expect_invalid(options("/dev/null"), "/dev/null");
}

TEST_F(OpenDiskTest, NoPath) {
    EXPECT_THROW(open_disk(ring_, DiskOptions{}), base::InvalidInput);
}

TEST_F(OpenDiskTest, UnusableOverlayDirectory) {
    const std::string path = dir_.file("base.img");
    write_file(path, std::vector<std::uint8_t>(4096));
    DiskOptions o = options(path, true);
    o.overlay_dir = dir_.file("missing-dir");
    expect_invalid(o, o.overlay_dir);
}

TEST_F(OpenDiskTest, PicksTheBackend) {
    const std::string path = dir_.file("base.img");
    write_file(path, std::vector<std::uint8_t>(8192));
    {
        auto d = open_disk(ring_, options(path));
        EXPECT_NE(dynamic_cast<RawDisk*>(d.get()), nullptr);
        EXPECT_FALSE(d->read_only());
    }
    {
        auto d = open_disk(ring_, options(path, true));
        EXPECT_NE(dynamic_cast<OverlayDisk*>(d.get()), nullptr);
        EXPECT_FALSE(d->read_only());
        EXPECT_EQ(d->size(), 8192u);
    }
    {
        DiskOptions o = options(path, true);
        o.read_only = true;
        auto d = open_disk(ring_, o);
        EXPECT_NE(dynamic_cast<RawDisk*>(d.get()), nullptr);
        EXPECT_TRUE(d->read_only());
    }
}

TEST_F(OpenDiskTest, EphemeralUsersShareTheBaseButExcludeAWriter) {
    const std::string path = dir_.file("base.img");
    write_file(path, std::vector<std::uint8_t>(8192));
    auto a = open_disk(ring_, options(path, true));
    auto b = open_disk(ring_, options(path, true));
    expect_invalid(options(path), "in use by another VM");
    a.reset();
    b.reset();
    auto writer = open_disk(ring_, options(path));
    expect_invalid(options(path, true), path);
}

TEST_F(OpenDiskTest, OverlayDefaultsToTmpdir) {
    const std::string path = dir_.file("base.img");
    write_file(path, std::vector<std::uint8_t>(8192));
    TempDir tmp;
    const char* old = std::getenv("TMPDIR");
    const std::string saved = old ? old : "";
    ::setenv("TMPDIR", tmp.path().c_str(), 1);
    DiskOptions o = options(path, true);
    o.overlay_dir.clear();
    EXPECT_NO_THROW(open_disk(ring_, o));
    ::setenv("TMPDIR", (tmp.path() + "/missing").c_str(), 1);
    expect_invalid(o, tmp.path() + "/missing");
    if (old) {
        ::setenv("TMPDIR", saved.c_str(), 1);
    } else {
        ::unsetenv("TMPDIR");
    }
}

}  // namespace
}  // namespace storage
