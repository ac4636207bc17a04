// vmctl: the subscriber's command line for vmd. See `vmctl --help` and docs/vmd.md.

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <thread>

#include "supervisor/vmctl/cli.h"
#include "supervisor/vmctl/unix_socket_transport.h"

int main(int argc, char** argv) {
    const char* socket = std::getenv("VMCTL_SOCKET");
    std::error_code ignored;
    vmctl::Environment env{
        std::cout,
        std::cerr,
        [](const std::string& path) { return std::make_unique<vmctl::UnixSocketTransport>(path); },
        socket == nullptr ? "" : socket,
        std::filesystem::current_path(ignored),
        isatty(STDERR_FILENO) == 1,
        [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); }};
    return vmctl::run_vmctl(std::vector<std::string>(argv + 1, argv + argc), env);
}
