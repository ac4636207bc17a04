// vmctl: the subscriber's command line for vmd. See `vmctl --help` and docs/vmd.md.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "supervisor/vmctl/cli.h"
#include "supervisor/vmctl/unix_socket_transport.h"

namespace {

int run_program(const std::vector<std::string>& args) {
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("vmctl: fork");
        return 1;
    }
    if (pid == 0) {
        std::vector<char*> argv;
        for (const auto& a : args) {
            argv.push_back(const_cast<char*>(a.c_str()));
        }
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "vmctl: cannot run %s: %s (install Debian's openssh-client)\n",
                     argv[0], std::strerror(errno));
        _exit(127);
    }
    // The terminal's Ctrl-C goes to the child; vmctl waits for it.
    signal(SIGINT, SIG_IGN);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
    const char* socket = std::getenv("VMCTL_SOCKET");
    const char* home = std::getenv("HOME");
    std::error_code ignored;
    vmctl::Environment env{
        std::cout,
        std::cerr,
        [](const std::string& path) { return std::make_unique<vmctl::UnixSocketTransport>(path); },
        socket == nullptr ? "" : socket,
        std::filesystem::current_path(ignored),
        isatty(STDERR_FILENO) == 1,
        [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); },
        home == nullptr ? "" : home,
        run_program};
    return vmctl::run_vmctl(std::vector<std::string>(argv + 1, argv + argc), env);
}
