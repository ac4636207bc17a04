#include "vmm/guest_setup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <string_view>

#include "base/error.h"
#include "firmware/acpi.h"
#include "firmware/reset_code.h"
#include "x86/mptable.h"

namespace vmm {

namespace {

constexpr std::uint64_t kMaxFileBytes = std::uint64_t{1} << 30;

[[noreturn]] void unreadable(const std::string& path, const std::string& why) {
    throw base::InvalidInput("cannot use " + path + " as a kernel or initrd: " + why);
}

}  // namespace

BootFiles::File BootFiles::open_file(const std::string& path) {
    File f{path, base::Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)), std::nullopt};
    if (!f.fd.valid()) {
        unreadable(path, std::strerror(errno));
    }
    struct stat st {};
    if (fstat(f.fd.get(), &st) != 0) {
        unreadable(path, std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        unreadable(path, "not a regular file");
    }
    return f;
}

BootFiles::BootFiles(const VmConfig& config) : kernel_(open_file(config.kernel)) {
    if (!config.initrd.empty()) {
        initrd_ = open_file(config.initrd);
    }
}

std::optional<boot::KernelImage> BootFiles::initrd() const {
    if (!initrd_) {
        return std::nullopt;
    }
    return read(*initrd_);
}

boot::KernelImage BootFiles::read(const File& file) {
    struct stat st {};
    if (fstat(file.fd.get(), &st) != 0) {
        unreadable(file.path, std::strerror(errno));
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > kMaxFileBytes) {
        unreadable(file.path, "it has more than the 1 GiB a kernel or initrd may have");
    }
    boot::KernelImage image{file.path, std::vector<std::uint8_t>(static_cast<std::size_t>(size))};
    std::size_t done = 0;
    while (done < image.bytes.size()) {
        const ssize_t n = pread(file.fd.get(), image.bytes.data() + done, image.bytes.size() - done,
                                static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            unreadable(file.path, std::strerror(errno));
        }
        if (n == 0) {
            break;  // shrank while read: the size check below tells
        }
        done += static_cast<std::size_t>(n);
    }
    image.bytes.resize(done);
    const std::size_t hash = std::hash<std::string_view>{}(
        std::string_view(reinterpret_cast<const char*>(image.bytes.data()), image.bytes.size()));
    if (!file.first) {
        file.first = {{done, hash}};
    } else if (file.first->first != done || file.first->second != hash) {
        throw base::HostError(
            file.path +
            " changed since the VM first booted it (it was rewritten in place): the vmm will not "
            "boot other bytes than the VM started with. Replace a kernel or initrd by renaming a "
            "new file over it (mv, install): the VMs running keep the one they opened.");
    }
    return image;
}

GuestEntry prepare_guest_memory(base::GuestMemory& memory, const VmConfig& config,
                                const BootFiles& files, const GuestDevices& devices) {
    firmware::AcpiConfig acpi;
    acpi.vcpus = config.vcpus;
    acpi.virtio = devices.virtio;
    const base::GuestAddress rsdp = firmware::write_acpi_tables(memory, acpi);
    firmware::write_reset_code(memory);  // after the tables, which clear its area
    // The MP table holds at most kMpTableMaxVcpus CPUs in its 1 KiB; larger
    // guests find their CPUs in the MADT alone (every kernel we boot has ACPI).
    if (config.vcpus <= x86::kMpTableMaxVcpus) {
        x86::write_mptable(memory, config.vcpus);
    }

    boot::LoadOptions options;
    options.rsdp_addr = rsdp;
    const boot::LoadedKernel kernel = boot::load_kernel(
        memory, files.kernel(), files.initrd(), config.cmdline + devices.cmdline_extra, options);

    GuestEntry entry;
    entry.mode =
        kernel.mode == boot::BootMode::Pvh ? GuestEntry::Mode::kPvh : GuestEntry::Mode::kLinux64;
    entry.entry = kernel.regs.rip;
    entry.boot_info = entry.mode == GuestEntry::Mode::kPvh ? kernel.regs.rbx : kernel.regs.rsi;
    return entry;
}

}  // namespace vmm
