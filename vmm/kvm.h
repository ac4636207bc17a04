#pragma once
// Thin RAII wrappers over the KVM ioctls: the system (/dev/kvm), one VM and
// its vCPUs. Setup calls throw HostError naming the ioctl (base/error.h);
// KVM_RUN returns its result, since a guest's exit is not an error of ours.

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/fd.h"
#include "x86/cpuid.h"

namespace vmm {

using x86::CpuidEntries;

class Kvm {
  public:
    // Opens /dev/kvm, checks API version 12 and every capability the VMM
    // uses; throws HostError naming what is missing.
    Kvm();

    int fd() const { return fd_.get(); }
    int check_extension(long capability) const;
    int max_vcpus() const;
    std::size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
    const CpuidEntries& supported_cpuid() const { return supported_cpuid_; }

  private:
    base::Fd fd_;
    std::size_t vcpu_mmap_size_ = 0;
    CpuidEntries supported_cpuid_;
};

class VmFd {
  public:
    explicit VmFd(const Kvm& kvm);

    int fd() const { return fd_.get(); }
    // In-kernel PIC/IOAPIC/LAPIC and PIT; the TSS and identity map below 4 GiB.
    void create_platform();
    void set_memory_region(std::uint32_t slot, std::uint64_t guest_addr, std::uint64_t size,
                           void* host);
    // Drives an in-kernel IOAPIC/PIC input; returns false on failure (run time).
    bool set_irq_line(std::uint32_t gsi, bool high) const;
    // A 4-byte guest write of `datamatch` to MMIO `addr` signals `eventfd`
    // inside KVM, without an exit to the VMM (virtio queue notifications).
    void add_ioeventfd(std::uint64_t addr, std::uint32_t datamatch, int eventfd);
    // Every guest write of exactly `len` bytes to I/O port `port` signals
    // `eventfd` inside KVM, without an exit to the VMM: for writes the VMM
    // would drop anyway.
    void add_pio_write_sink(std::uint16_t port, std::uint32_t len, int eventfd);
    // Each signal of `eventfd` raises an edge on `gsi` inside KVM.
    void add_irqfd(int eventfd, std::uint32_t gsi);

  private:
    base::Fd fd_;
};

class VcpuFd {
  public:
    VcpuFd(const Kvm& kvm, const VmFd& vm, unsigned index);
    ~VcpuFd();
    VcpuFd(const VcpuFd&) = delete;
    VcpuFd& operator=(const VcpuFd&) = delete;

    int fd() const { return fd_.get(); }
    unsigned index() const { return index_; }
    kvm_run* run_state() const { return run_; }
    // Bytes mapped at run_state(): kvm_run plus the port I/O data page.
    std::size_t run_size() const { return run_size_; }

    // Runs the vCPU until an exit; returns 0 or -errno (EINTR after a kick).
    int run();

    kvm_regs get_regs() const;
    void set_regs(const kvm_regs& regs);
    kvm_sregs get_sregs() const;
    void set_sregs(const kvm_sregs& sregs);
    void set_fpu(const kvm_fpu& fpu);
    void set_cpuid(const CpuidEntries& cpuid);
    void set_msrs(const std::vector<kvm_msr_entry>& msrs);
    kvm_lapic_state get_lapic() const;
    void set_lapic(const kvm_lapic_state& lapic);

  private:
    base::Fd fd_;
    unsigned index_;
    kvm_run* run_ = nullptr;
    std::size_t run_size_ = 0;
};

}  // namespace vmm
