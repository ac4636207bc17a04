#pragma once
// The project's error rule, in one place:
//
//  * Host setup and user input (command-line options, config files, kernel and
//    image files, ioctls while building the VM) fail by throwing a subclass of
//    vmm::Error. Exceptions travel up to main(), which maps them to an exit
//    status and one line on stderr. Nothing calls exit() deep inside.
//  * Anything the guest drives at run time (register accesses, virtqueues,
//    guest memory reads and writes, requests) fails by returning a value:
//    std::optional, bool or a status enum. Such code never throws: a hostile
//    guest costs a counter, a log line and an error status, never the VMM.

#include <stdexcept>
#include <string>

namespace vmm {

// Something the user gave us is wrong (exit status 2): a flag, a file, a size.
class InvalidInput : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The host refused something we needed (exit status 1): a syscall or ioctl.
class HostError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws HostError "what: strerror(errno)"; call right after a failed syscall.
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace vmm
