#pragma once
// The VMM's settings, from the command line or a JSON file with the same
// keys. Parsing fails with InvalidInput naming the option and the problem.

#include <array>
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

// --disk path=FILE[,id=NAME][,readonly][,ephemeral][,direct]
struct DiskConfig {
    std::string path;
    std::string id;  // the guest sees it as the disk's serial; default diskN
    bool read_only = false;
    bool ephemeral = false;  // writes go to a private overlay, gone at exit
    bool direct = false;     // O_DIRECT: bypass the host page cache
};

// --net tap=NAME[,mac=MAC][,id=NAME]
struct NetConfig {
    std::string tap;
    std::optional<std::array<std::uint8_t, 6>> mac;  // default: derived from VM id and index
    std::string id;                                  // default netN
};

// --reboot-loop BOOTS/SECONDS or off: when the VMM stops rebooting a guest
// (vmm/reboot_loop.h has the rule).
struct RebootLoopLimit {
    unsigned boots = 10;          // quick boots in a row; 0: off
    std::uint32_t within_s = 60;  // a boot is quick when it resets sooner
    bool enabled() const { return boots > 0; }
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
    RebootLoopLimit reboot_loop;
    std::string id = "vm";
    std::vector<DiskConfig> disks;
    std::vector<NetConfig> nets;
};

// The MAC a --net without mac= gets: locally administered, unicast, stable
// for a VM id and interface index.
std::array<std::uint8_t, 6> default_mac(const std::string& vm_id, std::size_t index);
std::string format_mac(const std::array<std::uint8_t, 6>& mac);

// What the command line asked for: run a VM, or print help/version.
struct CommandLine {
    enum class Action { kRun, kHelp, kVersion } action = Action::kRun;
    VmConfig config;
};

// Parses argv (without argv[0]). Throws InvalidInput.
CommandLine parse_command_line(const std::vector<std::string>& args);

// Parses the JSON text of a --config file into `config` (keys as the long
// options: "kernel", "initrd", "cmdline", "vcpus", "memory", "serial",
// "api-sock", "events", "no-reboot", "reboot-loop", "id"; "disk" and "net" take a string in
// the option's syntax or an array of them). Throws InvalidInput.
void apply_json_config(const std::string& json_text, const std::string& origin, VmConfig& config);

// Checks values against each other and the host limits that are known
// without KVM; throws InvalidInput.
void validate(const VmConfig& config);

const char* usage_text();

}  // namespace vmm
