#include "boot/kernel_loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/fd.h"
#include "base/hex.h"
#include "boot/bzimage.h"
#include "boot/elf_kernel.h"
#include "boot/pvh.h"
#include "boot/zero_page.h"
#include "x86/layout.h"

namespace boot {

using base::Fd;

namespace {

[[noreturn]] void unreadable(const std::string& path, const std::string& why) {
    throw base::InvalidInput("cannot read " + path + ": " + why);
}

LoadedKernel load_elf(base::GuestMemory& mem, const KernelImage& kernel,
                      const std::optional<KernelImage>& initrd, std::string_view cmdline,
                      const LoadOptions& options) {
    const ElfKernel elf = load_elf_kernel(mem, kernel.bytes, kernel.name);
    const SetupHeader hdr = synthetic_setup_header();

    LoadedKernel out{};
    out.format = KernelFormat::Elf;
    out.kernel_start = elf.kernel_start;
    out.kernel_end = elf.kernel_end;
    out.protocol_version = hdr.version;
    if (initrd) {
        out.initrd = load_initrd(mem, initrd->bytes, elf.kernel_end, hdr.initrd_addr_max);
    }
    const BootConfig config{cmdline, out.initrd, options.rsdp_addr};
    if (elf.pvh_entry && options.prefer_pvh) {
        out.mode = BootMode::Pvh;
        out.entry = *elf.pvh_entry;
        out.boot_params = build_pvh_start_info(mem, config);
        out.regs = {out.entry, 0, out.boot_params};
    } else {
        out.mode = BootMode::Linux64;
        out.entry = elf.entry;
        out.boot_params = build_zero_page(mem, hdr, config);
        out.regs = {out.entry, out.boot_params, 0};
    }
    return out;
}

LoadedKernel load_bz(base::GuestMemory& mem, const KernelImage& kernel,
                     const std::optional<KernelImage>& initrd, std::string_view cmdline,
                     const LoadOptions& options) {
    std::optional<std::span<const std::uint8_t>> initrd_bytes;
    if (initrd) {
        initrd_bytes = initrd->bytes;
    }
    const BzImageLoad bz =
        load_bzimage(mem, kernel.bytes, kernel.name, cmdline, initrd_bytes, options.rsdp_addr);
    LoadedKernel out{};
    out.format = KernelFormat::BzImage;
    out.mode = BootMode::Linux64;
    out.entry = bz.entry;
    out.boot_params = bz.zero_page;
    out.regs = {bz.entry, bz.zero_page, 0};
    out.kernel_start = layout::kHighMem;
    out.kernel_end = bz.kernel_end;
    out.protocol_version = bz.header.version;
    out.initrd = bz.initrd;
    return out;
}

}  // namespace

KernelImage KernelImage::from_file(const std::string& path, std::uint64_t max_bytes) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        unreadable(path, std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        unreadable(path, std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        unreadable(path, "not a regular file");
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
        unreadable(path, "it has " + base::mib(static_cast<std::uint64_t>(st.st_size)) +
                             ", more than the " + base::mib(max_bytes) +
                             " a kernel or initrd may have");
    }
    KernelImage image{path, std::vector<std::uint8_t>(static_cast<std::size_t>(st.st_size))};
    std::size_t done = 0;
    while (done < image.bytes.size()) {
        const ssize_t n = ::read(fd.get(), image.bytes.data() + done, image.bytes.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            unreadable(path, std::strerror(errno));
        }
        if (n == 0) {
            unreadable(path, "the file shrank while it was read");
        }
        done += static_cast<std::size_t>(n);
    }
    return image;
}

LoadedKernel load_kernel(base::GuestMemory& mem, const KernelImage& kernel,
                         const std::optional<KernelImage>& initrd, std::string_view cmdline,
                         const LoadOptions& options) {
    if (initrd && initrd->bytes.empty()) {
        throw base::InvalidInput("initrd " + initrd->name +
                                 " is empty; pass a cpio archive or leave the initrd out");
    }
    if (has_elf_magic(kernel.bytes)) {
        return load_elf(mem, kernel, initrd, cmdline, options);
    }
    // Anything else must be a bzImage; its parser says what is wrong if not.
    return load_bz(mem, kernel, initrd, cmdline, options);
}

LoadedKernel load_kernel(base::GuestMemory& mem, const std::string& kernel_path,
                         const std::optional<std::string>& initrd_path, std::string_view cmdline,
                         const LoadOptions& options) {
    const KernelImage kernel = KernelImage::from_file(kernel_path);
    std::optional<KernelImage> initrd;
    if (initrd_path) {
        initrd = KernelImage::from_file(*initrd_path);
    }
    return load_kernel(mem, kernel, initrd, cmdline, options);
}

}  // namespace boot
