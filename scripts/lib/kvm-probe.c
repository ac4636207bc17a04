/* kvm-probe: does /dev/kvm here run guests at hardware speed?
 *
 * Opens /dev/kvm, checks API version 12, creates a VM with one vCPU and runs
 * 16-bit code that spins through 1M iterations of `loop` and then writes to
 * a port. Hardware virtualization does that in about a millisecond; a
 * /dev/kvm that emulates instructions takes near a second. Prints the time
 * and exits 0 when fast enough, 1 when slow, 2 when /dev/kvm does not work.
 * Built and cached by scripts/kvm-sandbox. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(void) {
    /* mov bx,16; outer: mov cx,0xffff; inner: loop inner; dec bx; jnz outer;
       mov dx,0x3f8; out dx,al; hlt */
    static const unsigned char code[] = {0xBB, 0x10, 0x00, 0xB9, 0xFF, 0xFF, 0xE2, 0xFE,
                                         0x4B, 0x75, 0xF8, 0xBA, 0xF8, 0x03, 0xEE, 0xF4};
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0 || ioctl(kvm, KVM_GET_API_VERSION, 0) != 12) {
        puts("kvm-probe: /dev/kvm missing or not API version 12");
        return 2;
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    void *mem = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (vm < 0 || mem == MAP_FAILED) {
        puts("kvm-probe: cannot create a VM");
        return 2;
    }
    memcpy((char *)mem + 0x1000, code, sizeof code);
    struct kvm_userspace_memory_region region = {0, 0, 0, 0x10000, (unsigned long)mem};
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 || vcpu < 0 || size <= 0) {
        puts("kvm-probe: cannot set up the vCPU");
        return 2;
    }
    struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    struct kvm_sregs sregs;
    struct kvm_regs regs;
    memset(&regs, 0, sizeof regs);
    if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        puts("kvm-probe: cannot read vCPU state");
        return 2;
    }
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    sregs.cr0 &= ~0x60000000UL; /* caches on */
    regs.rip = 0x1000;
    regs.rflags = 2;
    ioctl(vcpu, KVM_SET_SREGS, &sregs);
    ioctl(vcpu, KVM_SET_REGS, &regs);
    double start = now();
    int rc = ioctl(vcpu, KVM_RUN, 0);
    double elapsed = now() - start;
    if (rc < 0 || run->exit_reason != KVM_EXIT_IO) {
        puts("kvm-probe: the probe guest did not run");
        return 2;
    }
    printf("kvm-probe: 1M guest loop iterations in %.1f ms\n", elapsed * 1e3);
    return elapsed < 0.05 ? 0 : 1;
}
