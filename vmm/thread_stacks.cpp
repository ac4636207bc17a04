#include "vmm/thread_stacks.h"

#include <pthread.h>

#include <cerrno>
#include <string>

#include "base/error.h"

namespace vmm {

void set_thread_stack_size(std::size_t bytes) {
    pthread_attr_t attr;
    int err = pthread_attr_init(&attr);
    if (err == 0) {
        err = pthread_attr_setstacksize(&attr, bytes);
        if (err == 0) {
            err = pthread_setattr_default_np(&attr);
        }
        pthread_attr_destroy(&attr);
    }
    if (err != 0) {
        errno = err;
        base::throw_errno("setting the threads' stack size to " + std::to_string(bytes) + " bytes");
    }
}

std::size_t current_thread_stack_size() {
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) {
        return 0;
    }
    std::size_t size = 0;
    pthread_attr_getstacksize(&attr, &size);
    pthread_attr_destroy(&attr);
    return size;
}

}  // namespace vmm
