// vmm: one VM per process on raw KVM. See vmm --help and docs/vmm.md.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <thread>

#include "base/error.h"
#include "vmm/api_server.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "vmm/events.h"
#include "vmm/machine.h"
#include "vmm/named_thread.h"
#include "vmm/thread_stacks.h"

#ifndef VMM_VERSION
#define VMM_VERSION "0.1.0"
#endif

namespace {

// SIGTERM/SIGINT are taken by sigwait on a thread of their own, so they can
// end the VM in an orderly way (never from inside a signal handler).
class SignalWatcher {
  public:
    explicit SignalWatcher(vmm::Machine& machine) : machine_(machine) {
        thread_ = vmm::start_named_thread("vmm-signals", [this] {
            sigset_t set = watched();
            int sig = 0;
            while (sigwait(&set, &sig) == 0 && sig != SIGUSR2) {
                machine_.terminate(sig == SIGTERM ? "terminated by SIGTERM"
                                                  : "interrupted by SIGINT");
            }
        });
    }
    ~SignalWatcher() {
        pthread_kill(thread_.native_handle(), SIGUSR2);
        thread_.join();
    }
    static sigset_t watched() {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGUSR2);
        return set;
    }

  private:
    vmm::Machine& machine_;
    std::thread thread_;
};

int run_vm(const vmm::VmConfig& config) {
    vmm::EventLog events(config.events, config.id);
    vmm::Machine machine(config, events);
    SignalWatcher signals(machine);
    std::unique_ptr<vmm::ApiServer> api;
    if (!config.api_socket.empty()) {
        api = std::make_unique<vmm::ApiServer>(config.api_socket, machine);
    }
    std::unique_ptr<vmm::ConsoleInput> console;
    if (config.serial.kind == vmm::SerialConfig::Kind::kStdio) {
        console = std::make_unique<vmm::ConsoleInput>(
            STDIN_FILENO, [&machine](std::span<const std::uint8_t> bytes) {
                return machine.feed_console(bytes);
            });
    }
    return machine.run();
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    // Blocked in every thread; SignalWatcher takes them with sigwait.
    sigset_t set = SignalWatcher::watched();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    // Every error of the user's or the host's arrives here as a base::Error
    // (base/error.h); anything else is a bug of ours.
    try {
        const vmm::CommandLine cl =
            vmm::parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
        if (cl.action == vmm::CommandLine::Action::kHelp) {
            std::fputs(vmm::usage_text(), stdout);
            return 0;
        }
        if (cl.action == vmm::CommandLine::Action::kVersion) {
            std::printf("vmm %s\n", VMM_VERSION);
            return 0;
        }
        vmm::set_thread_stack_size();  // before the first thread starts
        return run_vm(cl.config);
    } catch (const base::InvalidInput& e) {
        std::fprintf(stderr, "vmm: %s\n", e.what());
        return vmm::kExitInvalidInput;
    } catch (const base::HostError& e) {
        std::fprintf(stderr, "vmm: %s\n", e.what());
        return vmm::kExitHostError;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "vmm: out of memory while setting up the VM\n");
        return vmm::kExitHostError;
    } catch (const std::exception& e) {
        // InternalError, or a library exception that was not converted where
        // it arose (base/error.h): a bug of ours either way.
        std::fprintf(stderr, "vmm: internal error (a bug in the vmm, please report it): %s\n",
                     e.what());
        return vmm::kExitHostError;
    }
}
