#include "vmm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/error.h"
#include "base/hex.h"

namespace vmm {

namespace {

// The uapi headers declare kvm_cpuid2 and kvm_msrs with __DECLARE_FLEX_ARRAY,
// an empty struct before the array. In C++ an empty struct takes a byte, so
// g++ sees sizeof(kvm_cpuid2) == 12 with the entries at offset 12, and the
// ioctl numbers (which encode the size) come out wrong: KVM answers EINVAL.
// The ABI is a header of two u32s with the entries right after it.
struct VarHeader {
    std::uint32_t count;
    std::uint32_t padding;
};
static_assert(sizeof(VarHeader) == 8);
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, VarHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, VarHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, VarHeader);

// A buffer holding the header and `count` entries of T at offset 8.
template <typename T>
std::vector<std::uint8_t> var_buffer(std::uint32_t count) {
    static_assert(alignof(T) <= sizeof(VarHeader));
    std::vector<std::uint8_t> buf(sizeof(VarHeader) + count * sizeof(T));
    VarHeader header{count, 0};
    std::memcpy(buf.data(), &header, sizeof header);
    return buf;
}

struct RequiredCap {
    long cap;
    const char* name;
};

// Every capability the VMM relies on; all are missing only on ancient hosts.
constexpr RequiredCap kRequiredCaps[] = {
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};

template <typename Arg>
void checked_ioctl(int fd, unsigned long request, Arg arg, const std::string& what) {
    if (ioctl(fd, request, arg) < 0) {
        base::throw_errno(what);
    }
}

}  // namespace

Kvm::Kvm() {
    fd_.reset(open("/dev/kvm", O_RDWR | O_CLOEXEC));
    if (!fd_.valid()) {
        const int err = errno;
        throw base::HostError(std::string("cannot open /dev/kvm: ") + std::strerror(err) +
                              (err == ENOENT ? " (no KVM here: load kvm-intel/kvm-amd or use "
                                               "scripts/kvm-sandbox)"
                                             : " (is this user in the kvm group?)"));
    }
    const int version = ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        throw base::HostError("KVM API version " + std::to_string(version) + ", need " +
                              std::to_string(KVM_API_VERSION));
    }
    std::string missing;
    for (const auto& c : kRequiredCaps) {
        if (check_extension(c.cap) <= 0) {
            missing += std::string(missing.empty() ? "" : ", ") + c.name;
        }
    }
    if (!missing.empty()) {
        throw base::HostError("this host's KVM lacks " + missing);
    }
    const int size = ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (size <= 0) {
        base::throw_errno("KVM_GET_VCPU_MMAP_SIZE");
    }
    vcpu_mmap_size_ = static_cast<std::size_t>(size);

    // KVM_GET_SUPPORTED_CPUID wants a buffer that is large enough (E2BIG otherwise).
    for (std::uint32_t n = 128; n <= 4096; n *= 2) {
        auto buf = var_buffer<kvm_cpuid_entry2>(n);
        if (ioctl(fd_.get(), kGetSupportedCpuid, buf.data()) == 0) {
            VarHeader header;
            std::memcpy(&header, buf.data(), sizeof header);
            supported_cpuid_.entries.resize(std::min(header.count, n));
            std::memcpy(supported_cpuid_.entries.data(), buf.data() + sizeof header,
                        supported_cpuid_.entries.size() * sizeof(kvm_cpuid_entry2));
            return;
        }
        if (errno != E2BIG) {
            base::throw_errno("KVM_GET_SUPPORTED_CPUID");
        }
    }
    throw base::HostError("KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

int Kvm::check_extension(long capability) const {
    return ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
}

int Kvm::max_vcpus() const {
    const int max = check_extension(KVM_CAP_MAX_VCPUS);
    return max > 0 ? max : check_extension(KVM_CAP_NR_VCPUS);
}

VmFd::VmFd(const Kvm& kvm) {
    // KVM_CREATE_VM can fail with EINTR under memory pressure: retry a little.
    for (int tries = 0; tries < 10 && !fd_.valid(); ++tries) {
        fd_.reset(ioctl(kvm.fd(), KVM_CREATE_VM, 0));
        if (!fd_.valid() && errno != EINTR) {
            base::throw_errno("KVM_CREATE_VM");
        }
    }
    if (!fd_.valid()) {
        throw base::HostError("KVM_CREATE_VM: interrupted 10 times");
    }
}

void VmFd::create_platform() {
    // The TSS (3 pages) and identity map page sit just below the BIOS area at
    // the top of 32-bit space, inside the MMIO hole, where no RAM is.
    checked_ioctl(fd_.get(), KVM_SET_TSS_ADDR, 0xFFFB'D000UL, "KVM_SET_TSS_ADDR");
    std::uint64_t identity_map = 0xFFFB'C000;
    checked_ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity_map, "KVM_SET_IDENTITY_MAP_ADDR");
    checked_ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP");
    kvm_pit_config pit{};
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    checked_ioctl(fd_.get(), KVM_CREATE_PIT2, &pit, "KVM_CREATE_PIT2");
}

void VmFd::set_memory_region(std::uint32_t slot, std::uint64_t guest_addr, std::uint64_t size,
                             void* host) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = guest_addr;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(host);
    checked_ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region, "KVM_SET_USER_MEMORY_REGION");
}

bool VmFd::set_irq_line(std::uint32_t gsi, bool high) const {
    kvm_irq_level level{};
    level.irq = gsi;
    level.level = high ? 1 : 0;
    return ioctl(fd_.get(), KVM_IRQ_LINE, &level) == 0;
}

void VmFd::add_ioeventfd(std::uint64_t addr, std::uint32_t datamatch, int eventfd) {
    kvm_ioeventfd io{};
    io.addr = addr;
    io.len = 4;
    io.datamatch = datamatch;
    io.fd = eventfd;
    io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH;
    checked_ioctl(fd_.get(), KVM_IOEVENTFD, &io, "KVM_IOEVENTFD at " + base::hex(addr));
}

void VmFd::add_pio_write_sink(std::uint16_t port, std::uint32_t len, int eventfd) {
    kvm_ioeventfd io{};
    io.addr = port;
    io.len = len;
    io.fd = eventfd;
    io.flags = KVM_IOEVENTFD_FLAG_PIO;
    checked_ioctl(fd_.get(), KVM_IOEVENTFD, &io, "KVM_IOEVENTFD at port " + base::hex(port));
}

void VmFd::add_irqfd(int eventfd, std::uint32_t gsi) {
    kvm_irqfd irq{};
    irq.fd = static_cast<std::uint32_t>(eventfd);
    irq.gsi = gsi;
    checked_ioctl(fd_.get(), KVM_IRQFD, &irq, "KVM_IRQFD for GSI " + std::to_string(gsi));
}

VcpuFd::VcpuFd(const Kvm& kvm, const VmFd& vm, unsigned index) : index_(index) {
    fd_.reset(ioctl(vm.fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(index)));
    if (!fd_.valid()) {
        base::throw_errno("KVM_CREATE_VCPU " + std::to_string(index));
    }
    run_size_ = kvm.vcpu_mmap_size();
    void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
    if (p == MAP_FAILED) {
        base::throw_errno("mmap of vCPU " + std::to_string(index) + " run state");
    }
    run_ = static_cast<kvm_run*>(p);
}

VcpuFd::~VcpuFd() {
    if (run_ != nullptr) {
        munmap(run_, run_size_);
    }
}

int VcpuFd::run() {
    return ioctl(fd_.get(), KVM_RUN, 0) < 0 ? -errno : 0;
}

kvm_regs VcpuFd::get_regs() const {
    kvm_regs regs{};
    checked_ioctl(fd_.get(), KVM_GET_REGS, &regs, "KVM_GET_REGS");
    return regs;
}

void VcpuFd::set_regs(const kvm_regs& regs) {
    checked_ioctl(fd_.get(), KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

kvm_sregs VcpuFd::get_sregs() const {
    kvm_sregs sregs{};
    checked_ioctl(fd_.get(), KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
    return sregs;
}

void VcpuFd::set_sregs(const kvm_sregs& sregs) {
    checked_ioctl(fd_.get(), KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
}

void VcpuFd::set_fpu(const kvm_fpu& fpu) {
    checked_ioctl(fd_.get(), KVM_SET_FPU, &fpu, "KVM_SET_FPU");
}

void VcpuFd::set_cpuid(const CpuidEntries& cpuid) {
    const auto n = static_cast<std::uint32_t>(cpuid.entries.size());
    auto buf = var_buffer<kvm_cpuid_entry2>(n);
    std::memcpy(buf.data() + sizeof(VarHeader), cpuid.entries.data(), n * sizeof(kvm_cpuid_entry2));
    checked_ioctl(fd_.get(), kSetCpuid2, buf.data(), "KVM_SET_CPUID2");
}

void VcpuFd::set_msrs(const std::vector<kvm_msr_entry>& msrs) {
    const auto n = static_cast<std::uint32_t>(msrs.size());
    auto buf = var_buffer<kvm_msr_entry>(n);
    std::memcpy(buf.data() + sizeof(VarHeader), msrs.data(), n * sizeof(kvm_msr_entry));
    const int set = ioctl(fd_.get(), kSetMsrs, buf.data());
    if (set < 0) {
        base::throw_errno("KVM_SET_MSRS");
    }
    if (static_cast<std::uint32_t>(set) != n) {
        throw base::HostError("KVM_SET_MSRS: MSR " +
                              base::hex(msrs[static_cast<std::size_t>(set)].index) + " refused");
    }
}

kvm_lapic_state VcpuFd::get_lapic() const {
    kvm_lapic_state lapic{};
    checked_ioctl(fd_.get(), KVM_GET_LAPIC, &lapic, "KVM_GET_LAPIC");
    return lapic;
}

void VcpuFd::set_lapic(const kvm_lapic_state& lapic) {
    checked_ioctl(fd_.get(), KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC");
}

}  // namespace vmm
