#pragma once
// The stack size of every thread the VMM starts after main() sets it.
//
// glibc gives each new thread a stack of RLIMIT_STACK (usually 8 MiB). Only
// the pages a thread touches are resident, but on a host with transparent
// huge pages "always", khugepaged may fold any 2 MiB-aligned stretch of such
// a stack that has one page touched into a 2 MiB page: each vCPU, I/O, API
// and console thread then costs 2 MiB instead of tens of KiB. A stack of
// kThreadStackBytes (smaller than 2 MiB) holds no aligned 2 MiB stretch, and
// is still far deeper than any of the VMM's threads goes.

#include <cstddef>

namespace vmm {

inline constexpr std::size_t kThreadStackBytes = std::size_t{1} << 20;

// Makes `bytes` the stack size of threads created from now on (std::thread
// included). Throws HostError when the C library refuses.
void set_thread_stack_size(std::size_t bytes = kThreadStackBytes);

// The stack size the calling thread was created with (for tests and logs).
std::size_t current_thread_stack_size();

}  // namespace vmm
