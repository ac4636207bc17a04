#pragma once
// The project's one error rule:
//
//  * Host setup and user input (command-line options, config files, kernel and
//    image files, ioctls while building the VM, requests to a daemon) fail by
//    throwing a base::Error: InvalidInput (the user can fix it: exit status 2,
//    an HTTP 4xx), HostError (the host refused: exit status 1, an HTTP 5xx) or
//    InternalError (our own invariant broke: a bug, exit status 1). Nothing
//    else is thrown on purpose, and nothing calls exit() deep inside: main()
//    or a request handler catches, maps and reports with one line.
//  * Anything the guest drives at run time (register accesses, virtqueues,
//    guest memory reads and writes, requests) fails by returning a value:
//    std::optional, bool or a status enum. Such code never throws: a hostile
//    guest costs a counter, a log line and an error status, never the VMM.

#include <stdexcept>
#include <string>

namespace base {

class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Something the user gave us is wrong: a flag, a file, a size.
class InvalidInput : public Error {
  public:
    using Error::Error;
};

// The host refused something we needed: a syscall or ioctl.
class HostError : public Error {
  public:
    using Error::Error;
};

// A broken invariant of our own code (a bug), never the user's or the guest's doing.
class InternalError : public Error {
  public:
    using Error::Error;
};

// Throws HostError "what: strerror(errno)"; call right after a failed syscall.
[[noreturn]] void throw_errno(const std::string& what);

}  // namespace base
