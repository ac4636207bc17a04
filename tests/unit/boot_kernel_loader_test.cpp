#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "boot/boot_params.h"
#include "boot/bzimage.h"
#include "boot/kernel_loader.h"
#include "tests/unit/boot_test_images.h"
#include "x86/layout.h"

namespace boot {
namespace {

using test_images::make_bzimage;
using test_images::make_elf;
using test_images::throws_with;
using test_images::vmlinux_like;

constexpr std::uint64_t kMiB = 1 << 20;

KernelImage image(std::string name, std::vector<std::uint8_t> bytes) {
    return KernelImage{std::move(name), std::move(bytes)};
}

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/boot-test-XXXXXX";
        path_ = ::mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string write(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
        const std::string p = path_ + "/" + name;
        std::ofstream(p, std::ios::binary)
            .write(reinterpret_cast<const char*>(bytes.data()),
                   static_cast<std::streamsize>(bytes.size()));
        return p;
    }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

TEST(BootKernelLoader, BzImageBootsThroughTheLinux64Protocol) {
    base::GuestMemory mem(128 * kMiB);
    const auto k = load_kernel(mem, image("bz", make_bzimage()), std::nullopt, "console=ttyS0");
    EXPECT_EQ(k.format, KernelFormat::BzImage);
    EXPECT_EQ(k.mode, BootMode::Linux64);
    EXPECT_EQ(k.entry, layout::kHighMem + 0x200);
    EXPECT_EQ(k.regs.rip, k.entry);
    EXPECT_EQ(k.regs.rsi, layout::kZeroPage);
    EXPECT_EQ(k.regs.rbx, 0u);
    EXPECT_EQ(k.boot_params, layout::kZeroPage);
    EXPECT_EQ(k.protocol_version, 0x020Fu);
    EXPECT_EQ(k.kernel_start, layout::kHighMem);
}

TEST(BootKernelLoader, ElfWithPvhNoteBootsThroughPvh) {
    base::GuestMemory mem(128 * kMiB);
    const std::vector<std::uint8_t> initrd(4096, 7);
    LoadOptions opts;
    opts.rsdp_addr = 0xE0000;
    const auto k = load_kernel(mem, image("vmlinux", make_elf(vmlinux_like(true))),
                               image("initrd", initrd), "console=hvc0", opts);
    EXPECT_EQ(k.format, KernelFormat::Elf);
    EXPECT_EQ(k.mode, BootMode::Pvh);
    EXPECT_EQ(k.entry, 0x100'0400u);
    EXPECT_EQ(k.regs.rip, 0x100'0400u);
    EXPECT_EQ(k.regs.rbx, layout::kPvhStartInfo);
    EXPECT_EQ(k.regs.rsi, 0u);
    ASSERT_TRUE(k.initrd.has_value());
    const auto info = mem.read_obj<HvmStartInfo>(layout::kPvhStartInfo).value();
    EXPECT_EQ(info.magic, kHvmStartMagic);
    EXPECT_EQ(info.rsdp_paddr, 0xE0000u);
    EXPECT_EQ(info.nr_modules, 1u);
    EXPECT_EQ(mem.read_obj<HvmModlistEntry>(info.modlist_paddr)->paddr, k.initrd->addr);
}

TEST(BootKernelLoader, ElfCanBeForcedOntoLinux64) {
    base::GuestMemory mem(128 * kMiB);
    LoadOptions opts;
    opts.prefer_pvh = false;
    const auto k =
        load_kernel(mem, image("vmlinux", make_elf(vmlinux_like(true))), std::nullopt, "", opts);
    EXPECT_EQ(k.mode, BootMode::Linux64);
    EXPECT_EQ(k.entry, 0x100'0000u);
    EXPECT_EQ(k.regs.rsi, layout::kZeroPage);
    const auto bp = mem.read_obj<BootParams>(layout::kZeroPage).value();
    EXPECT_EQ(bp.hdr.header, kHdrSMagic);
    EXPECT_EQ(bp.hdr.version, 0x020Fu);
    EXPECT_EQ(bp.hdr.cmd_line_ptr, layout::kCmdline);
}

TEST(BootKernelLoader, ElfWithoutNoteBootsThroughLinux64) {
    base::GuestMemory mem(128 * kMiB);
    const std::vector<std::uint8_t> initrd(10000, 7);
    const auto k = load_kernel(mem, image("vmlinux", make_elf(vmlinux_like(false))),
                               image("initrd", initrd), "");
    EXPECT_EQ(k.mode, BootMode::Linux64);
    EXPECT_EQ(k.kernel_end, 0x120'5000u);
    ASSERT_TRUE(k.initrd.has_value());
    const auto bp = mem.read_obj<BootParams>(layout::kZeroPage).value();
    EXPECT_EQ(bp.hdr.ramdisk_image, k.initrd->addr);
    EXPECT_EQ(bp.hdr.ramdisk_size, initrd.size());
    EXPECT_GE(k.initrd->addr, k.kernel_end);
}

TEST(BootKernelLoader, RejectsFilesThatAreNeitherFormat) {
    base::GuestMemory mem(64 * kMiB);
    EXPECT_TRUE(throws_with(
        [&] {
            load_kernel(mem, image("/images/readme.txt", std::vector<std::uint8_t>(4096, 'a')),
                        std::nullopt, "");
        },
        "/images/readme.txt is not a bzImage"));
}

TEST(BootKernelLoader, RejectsEmptyInitrd) {
    base::GuestMemory mem(64 * kMiB);
    EXPECT_TRUE(throws_with(
        [&] { load_kernel(mem, image("bz", make_bzimage()), image("/i.cpio", {}), ""); },
        "initrd /i.cpio is empty"));
}

TEST(BootKernelLoader, ReadsFilesFromDisk) {
    TempDir dir;
    const std::string kernel = dir.write("bzImage", make_bzimage());
    const std::string initrd = dir.write("initrd", std::vector<std::uint8_t>(5000, 3));
    base::GuestMemory mem(64 * kMiB);
    const auto k = load_kernel(mem, kernel, initrd, "quiet");
    EXPECT_EQ(k.format, KernelFormat::BzImage);
    ASSERT_TRUE(k.initrd.has_value());
    EXPECT_EQ(k.initrd->size, 5000u);
    EXPECT_EQ(KernelImage::from_file(kernel).bytes, make_bzimage());
}

TEST(BootKernelLoader, MissingFileIsNamed) {
    base::GuestMemory mem(64 * kMiB);
    EXPECT_TRUE(throws_with(
        [&] { load_kernel(mem, std::string("/nonexistent/bzImage"), std::nullopt, ""); },
        "cannot read /nonexistent/bzImage: No such file or directory"));
    TempDir dir;
    const std::string kernel = dir.write("bzImage", make_bzimage());
    EXPECT_TRUE(
        throws_with([&] { load_kernel(mem, kernel, std::string("/nonexistent/initrd"), ""); },
                    "cannot read /nonexistent/initrd"));
}

TEST(BootKernelLoader, DirectoryIsNotAKernel) {
    TempDir dir;
    EXPECT_TRUE(throws_with([&] { KernelImage::from_file(dir.path()); }, "not a regular file"));
}

TEST(BootKernelLoader, OversizedFileIsRejected) {
    TempDir dir;
    const std::string p = dir.write("big", std::vector<std::uint8_t>(3 * kMiB, 0));
    EXPECT_TRUE(throws_with([&] { KernelImage::from_file(p, 2 * kMiB); },
                            "it has 3 MiB, more than the 2 MiB"));
}

// ---- the real guest kernel, when one has been built ---------------------------

std::optional<std::string> real_kernel_file(const char* name) {
    const char* dir = std::getenv("VMM_GUEST_KERNEL_DIR");
    if (dir == nullptr) {
        return std::nullopt;
    }
    const std::string p = std::string(dir) + "/" + name;
    return std::filesystem::is_regular_file(p) ? std::optional(p) : std::nullopt;
}

TEST(BootRealKernel, LoadsTheBzImage) {
    const auto path = real_kernel_file("bzImage");
    if (!path) {
        GTEST_SKIP() << "set VMM_GUEST_KERNEL_DIR to a directory with bzImage";
    }
    base::GuestMemory mem(256 * kMiB);
    const auto k = load_kernel(mem, *path, std::nullopt, "console=ttyS0 reboot=k panic=1");
    EXPECT_EQ(k.format, KernelFormat::BzImage);
    EXPECT_EQ(k.mode, BootMode::Linux64);
    EXPECT_EQ(k.entry, 0x100200u);
    EXPECT_GE(k.protocol_version, kMinBzImageProtocol);
    const auto bp = mem.read_obj<BootParams>(layout::kZeroPage).value();
    EXPECT_EQ(bp.hdr.version, k.protocol_version);
    EXPECT_EQ(bp.hdr.header, kHdrSMagic);
    EXPECT_NE(bp.hdr.xloadflags & kXlfKernel64, 0);
    EXPECT_GT(bp.hdr.init_size, 0u);
    EXPECT_LE(k.kernel_end, 256 * kMiB);
}

TEST(BootRealKernel, LoadsTheVmlinux) {
    const auto path = real_kernel_file("vmlinux");
    if (!path) {
        GTEST_SKIP() << "set VMM_GUEST_KERNEL_DIR to a directory with vmlinux";
    }
    base::GuestMemory mem(256 * kMiB);
    const auto k = load_kernel(mem, *path, std::nullopt, "console=ttyS0");
    EXPECT_EQ(k.format, KernelFormat::Elf);
    EXPECT_GE(k.entry, k.kernel_start);
    EXPECT_LT(k.entry, k.kernel_end);
    EXPECT_GE(k.kernel_start, layout::kHighMem);
    if (k.mode == BootMode::Pvh) {
        EXPECT_EQ(k.regs.rbx, layout::kPvhStartInfo);
        EXPECT_EQ(mem.read_obj<HvmStartInfo>(layout::kPvhStartInfo)->magic, kHvmStartMagic);
    } else {
        EXPECT_EQ(k.regs.rsi, layout::kZeroPage);
    }
    LoadOptions linux64;
    linux64.prefer_pvh = false;
    const auto l = load_kernel(mem, *path, std::nullopt, "console=ttyS0", linux64);
    EXPECT_EQ(l.mode, BootMode::Linux64);
    EXPECT_EQ(l.protocol_version, kProtocolSynthesized);
    EXPECT_GE(l.entry, l.kernel_start);
    EXPECT_LT(l.entry, l.kernel_end);
}

}  // namespace
}  // namespace boot
