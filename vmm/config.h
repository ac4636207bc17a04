#pragma once
// The VMM's settings, from the command line or a JSON file with the same
// keys. Parsing fails with InvalidInput naming the option and the problem.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vmm {

struct SerialConfig {
    enum class Kind { kStdio, kFile, kNone } kind = Kind::kStdio;
    std::string path;  // for kFile
};

struct EventsConfig {
    enum class Kind { kNone, kFd, kPath } kind = Kind::kNone;
    int fd = -1;
    std::string path;
};

struct VmConfig {
    std::string kernel;
    std::string initrd;
    std::string cmdline = "console=ttyS0";
    unsigned vcpus = 1;
    std::uint64_t memory_mib = 256;
    SerialConfig serial;
    std::string api_socket;
    EventsConfig events;
    bool no_reboot = false;
    std::string id = "vm";
};

// What the command line asked for: run a VM, or print help/version.
struct CommandLine {
    enum class Action { kRun, kHelp, kVersion } action = Action::kRun;
    VmConfig config;
};

// Parses argv (without argv[0]). Throws InvalidInput.
CommandLine parse_command_line(const std::vector<std::string>& args);

// Parses the JSON text of a --config file into `config` (keys as the long
// options: "kernel", "initrd", "cmdline", "vcpus", "memory", "serial",
// "api-sock", "events", "no-reboot", "id"). Throws InvalidInput.
void apply_json_config(const std::string& json_text, const std::string& origin, VmConfig& config);

// Checks values against each other and the host limits that are known
// without KVM; throws InvalidInput.
void validate(const VmConfig& config);

const char* usage_text();

}  // namespace vmm
