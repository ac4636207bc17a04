#pragma once
// vmctl's whole command line (docs/vmd.md, "vmctl"), runnable against any
// Transport so that the unit tests can give it canned answers.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "supervisor/vmctl/api_client.h"

namespace vmctl {

inline constexpr const char* kDefaultSocket = "/run/vmm-platform/vmd.sock";

// Everything vmctl takes from the world outside its arguments.
struct Environment {
    std::ostream& out;
    std::ostream& err;
    // A transport to vmd's socket at this path.
    std::function<std::unique_ptr<Transport>(const std::string&)> connect;
    std::string socket_variable;   // VMCTL_SOCKET; empty when unset
    std::filesystem::path cwd;     // relative paths given to vmd are made absolute here
    bool err_is_terminal = false;  // draw progress bars on `err`
    std::function<void(std::chrono::milliseconds)> sleep;
    std::string home;  // HOME, where `run` looks for default SSH keys; empty: none
    // Runs a program (argv[0] looked up in PATH) with vmctl's terminal;
    // returns its exit status (`vmctl ssh`).
    std::function<int(const std::vector<std::string>&)> run_program = {};
};

// Runs vmctl with `args` (without the program name); returns the exit
// status: 0 done, 1 refused or failed (the reason on `err`), 2 a usage error.
int run_vmctl(const std::vector<std::string>& args, Environment& env);

}  // namespace vmctl
