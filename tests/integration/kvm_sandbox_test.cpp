// Proves the sandbox: /dev/kvm works and runs guest code through the real KVM
// API. A one-vCPU VM executes a few bytes of 16-bit real-mode code that write
// to an I/O port and halt; the test checks the bytes and the exits it saw.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "base/fd.h"

namespace {

using base::Fd;

TEST(KvmSandbox, DevKvmOpensWithApiVersion12) {
    Fd kvm(open("/dev/kvm", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(kvm.valid()) << "open /dev/kvm: " << std::strerror(errno);
    EXPECT_EQ(ioctl(kvm.get(), KVM_GET_API_VERSION, 0), KVM_API_VERSION);
    EXPECT_EQ(KVM_API_VERSION, 12);
}

TEST(KvmSandbox, RealModeGuestWritesToAPortAndHalts) {
    Fd kvm(open("/dev/kvm", O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(kvm.valid());
    Fd vm(ioctl(kvm.get(), KVM_CREATE_VM, 0));
    ASSERT_TRUE(vm.valid()) << "KVM_CREATE_VM: " << std::strerror(errno);

    // mov dx, 0x3f8; mov al, 'O'; out dx, al; mov al, 'K'; out dx, al;
    // add al, bl (bl = 3: 'K' + 3 = 'N'); out dx, al; hlt
    const std::array<std::uint8_t, 16> code{0xBA, 0xF8, 0x03, 0xB0, 'O',  0xEE, 0xB0, 'K',
                                            0xEE, 0x00, 0xD8, 0xEE, 0xF4, 0xF4, 0xF4, 0xF4};
    const std::size_t mem_size = 0x1000;
    void* mem = mmap(nullptr, mem_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    std::memcpy(mem, code.data(), code.size());
    kvm_userspace_memory_region region{};
    region.slot = 0;
    region.guest_phys_addr = 0x1000;
    region.memory_size = mem_size;
    region.userspace_addr = reinterpret_cast<std::uint64_t>(mem);
    ASSERT_EQ(ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region), 0) << std::strerror(errno);

    Fd vcpu(ioctl(vm.get(), KVM_CREATE_VCPU, 0));
    ASSERT_TRUE(vcpu.valid()) << "KVM_CREATE_VCPU: " << std::strerror(errno);
    const int run_size = ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    ASSERT_GT(run_size, 0);
    auto* run = static_cast<kvm_run*>(mmap(nullptr, static_cast<std::size_t>(run_size),
                                           PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.get(), 0));
    ASSERT_NE(run, MAP_FAILED);

    kvm_sregs sregs{};
    ASSERT_EQ(ioctl(vcpu.get(), KVM_GET_SREGS, &sregs), 0);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ASSERT_EQ(ioctl(vcpu.get(), KVM_SET_SREGS, &sregs), 0);
    kvm_regs regs{};
    regs.rip = 0x1000;
    regs.rbx = 3;
    regs.rflags = 0x2;
    ASSERT_EQ(ioctl(vcpu.get(), KVM_SET_REGS, &regs), 0);

    std::string port_bytes;
    std::vector<std::uint32_t> exits;
    for (int i = 0; i < 16; ++i) {
        ASSERT_EQ(ioctl(vcpu.get(), KVM_RUN, 0), 0) << "KVM_RUN: " << std::strerror(errno);
        exits.push_back(run->exit_reason);
        if (run->exit_reason == KVM_EXIT_IO) {
            ASSERT_EQ(run->io.direction, KVM_EXIT_IO_OUT);
            ASSERT_EQ(run->io.port, 0x3F8);
            ASSERT_EQ(run->io.size, 1);
            port_bytes += reinterpret_cast<const char*>(run)[run->io.data_offset];
            continue;
        }
        break;
    }
    EXPECT_EQ(port_bytes, "OKN");
    const std::vector<std::uint32_t> expected{KVM_EXIT_IO, KVM_EXIT_IO, KVM_EXIT_IO, KVM_EXIT_HLT};
    EXPECT_EQ(exits, expected);
    kvm_regs after{};
    ASSERT_EQ(ioctl(vcpu.get(), KVM_GET_REGS, &after), 0);
    EXPECT_EQ(after.rip, 0x1000u + 13) << "the vCPU stops just past the hlt";

    munmap(run, static_cast<std::size_t>(run_size));
    munmap(mem, mem_size);
}

TEST(KvmSandbox, TunAndCgroupsAreAvailable) {
    Fd tun(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    EXPECT_TRUE(tun.valid()) << "open /dev/net/tun: " << std::strerror(errno);
    Fd controllers(open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY | O_CLOEXEC));
    EXPECT_TRUE(controllers.valid()) << "cgroup2 is not mounted at /sys/fs/cgroup";
}

}  // namespace
