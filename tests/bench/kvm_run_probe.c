// kvm_run_probe: an LD_PRELOAD library that notes when a process first enters
// a guest. It wraps ioctl() and, at the first KVM_RUN of the process (from any
// thread), writes CLOCK_MONOTONIC in nanoseconds, as decimal digits and a
// newline, to the file named by $KVM_RUN_PROBE_FILE. Nothing else is counted.
//
//   gcc -O2 -shared -fPIC -o kvm_run_probe.so kvm_run_probe.c -ldl
//   KVM_RUN_PROBE_FILE=/tmp/t LD_PRELOAD=$PWD/kvm_run_probe.so build/bin/vmm ...
//
// CLOCK_MONOTONIC is system-wide, so the launcher's clock_gettime() before it
// spawns the VMM and this value are on the same time line. The hot path (every
// ioctl) is one load of a flag and the forwarded call; the first KVM_RUN takes
// the clock and does open/write/close only: no malloc, no stdio, no locks.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);

static ioctl_fn real_ioctl;
static const char* probe_path;
static int recorded;  // set once, by whichever thread gets there first

static void probe_init(void) {
    if (__atomic_load_n(&real_ioctl, __ATOMIC_ACQUIRE) == NULL) {
        ioctl_fn f = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
        __atomic_store_n(&real_ioctl, f, __ATOMIC_RELEASE);
    }
}

__attribute__((constructor)) static void probe_constructor(void) {
    probe_path = getenv("KVM_RUN_PROBE_FILE");
    probe_init();
}

static void record_first_run(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (probe_path == NULL || probe_path[0] == '\0') {
        return;
    }
    unsigned long long ns =
        (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
    char buf[32];
    int i = sizeof buf;
    buf[--i] = '\n';
    do {
        buf[--i] = (char)('0' + ns % 10);
        ns /= 10;
    } while (ns != 0 && i > 0);
    int fd = open(probe_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return;
    }
    ssize_t n = write(fd, buf + i, sizeof buf - (size_t)i);
    (void)n;
    close(fd);
}

int ioctl(int fd, unsigned long request, ...) {
    // Every ioctl argument is one word (an int or a pointer): forward it as such.
    va_list ap;
    va_start(ap, request);
    void* arg = va_arg(ap, void*);
    va_end(ap);

    if (request == KVM_RUN && !__atomic_load_n(&recorded, __ATOMIC_RELAXED) &&
        !__atomic_exchange_n(&recorded, 1, __ATOMIC_ACQ_REL)) {
        record_first_run();
    }
    ioctl_fn f = __atomic_load_n(&real_ioctl, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        // Called before our constructor ran (another library's constructor).
        probe_init();
        f = __atomic_load_n(&real_ioctl, __ATOMIC_ACQUIRE);
        if (f == NULL) {
            return (int)syscall(SYS_ioctl, fd, request, arg);
        }
    }
    return f(fd, request, arg);
}
