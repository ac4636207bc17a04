/* SysV shared memory for fio in the test guest, whose kernel has no
 * CONFIG_SYSVIPC (guest/kernel.config starts from tinyconfig): fio keeps its
 * job table in a shmget() segment and gives up when shmget() fails with
 * ENOSYS. Preloaded into fio (LD_PRELOAD) by the I/O benchmark
 * (tests/bench/io_bench.py), this library serves shmget/shmat/shmdt/shmctl
 * from anonymous MAP_SHARED mappings, which fio's forked job processes
 * inherit just as they would inherit an attached segment. Only IPC_PRIVATE
 * style use (new segment, attached once) is supported; that is all fio does.
 *
 * scripts/build-guest-image compiles it into the bench initramfs as
 * /usr/lib/fio_noshm.so. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define MAX_SEGMENTS 64

static struct {
    void* addr;
    size_t size;
} segments[MAX_SEGMENTS];

int shmget(key_t key, size_t size, int flags) {
    (void)key;
    (void)flags;
    for (int id = 0; id < MAX_SEGMENTS; ++id) {
        if (segments[id].addr == NULL) {
            void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                errno = ENOMEM;
                return -1;
            }
            segments[id].addr = p;
            segments[id].size = size;
            return id;
        }
    }
    errno = ENOSPC;
    return -1;
}

void* shmat(int id, const void* where, int flags) {
    (void)where;
    (void)flags;
    if (id < 0 || id >= MAX_SEGMENTS || segments[id].addr == NULL) {
        errno = EINVAL;
        return (void*)-1;
    }
    return segments[id].addr;
}

int shmdt(const void* addr) {
    (void)addr;
    return 0; /* the mapping lives as long as the process */
}

int shmctl(int id, int cmd, struct shmid_ds* buf) {
    if (id < 0 || id >= MAX_SEGMENTS || segments[id].addr == NULL) {
        errno = EINVAL;
        return -1;
    }
    if (cmd == IPC_STAT && buf != NULL) {
        memset(buf, 0, sizeof *buf);
        buf->shm_segsz = segments[id].size;
        buf->shm_nattch = 1;
    }
    return 0;
}
