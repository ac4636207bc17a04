// libFuzzer target: the vmm's settings (vmm/config.h) from the command line
// and from a --config JSON file. Input:
//   byte 0 even: the rest is a config file's text, applied to the defaults
//                and validated (apply_json_config, then validate)
//   byte 0 odd:  byte 1 is an argument count n; then n NUL-terminated
//                arguments for parse_command_line; the rest is the text of
//                the file every --config argument names
//
// Invariants: base::InvalidInput is the only exception that escapes
// (base/error.h: user input fails by throwing InvalidInput, exit status 2);
// a configuration that parses is one the vmm can start with: a kernel, CPUs
// and memory in range, device ids unique and well-formed, unicast MACs
// written as the user wrote them, at most the devices the machine has.

#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "tests/fuzz/fuzz_input.h"
#include "vmm/config.h"
#include "x86/layout.h"

namespace {

using fuzz::check;

bool good_id(const std::string& id, std::size_t max) {
    if (id.empty() || id.size() > max) {
        return false;
    }
    for (char c : id) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
            return false;
        }
    }
    return true;
}

// "02:ab:..." as typed: six pairs of hex digits, colons between.
bool canonical_mac(const std::string& text) {
    if (text.size() != 17) {
        return false;
    }
    for (std::size_t i = 0; i < text.size(); ++i) {
        const bool ok =
            i % 3 == 2 ? text[i] == ':' : std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
        if (!ok) {
            return false;
        }
    }
    return true;
}

// The mac= values in --net values (as argv strings or JSON strings).
void collect_macs(const std::string& net_value, std::vector<std::string>& macs) {
    std::size_t start = 0;
    while (start <= net_value.size()) {
        const std::size_t comma = std::min(net_value.find(',', start), net_value.size());
        const std::string field = net_value.substr(start, comma - start);
        if (field.rfind("mac=", 0) == 0) {
            macs.push_back(field.substr(4));
        }
        start = comma + 1;
    }
}

void check_config(const vmm::VmConfig& c, const std::vector<std::string>& macs_typed) {
    check(!c.kernel.empty(), "a config without a kernel passed");
    check(c.vcpus >= 1 && c.vcpus <= 254, "vcpus out of range passed");
    check(c.memory_mib >= 16 && c.memory_mib <= (1u << 20), "memory out of range passed");
    check(c.cmdline.find('\0') == std::string::npos, "a command line with a NUL passed");
    check(good_id(c.id, 64), "a bad VM id passed");
    check(c.disks.size() + c.nets.size() + 1 <= layout::kMaxVirtioDevices,
          "more devices than the machine has passed");
    std::set<std::string> ids;
    for (const auto& d : c.disks) {
        check(!d.path.empty(), "a disk without a path passed");
        check(!(d.read_only && d.ephemeral), "a read-only ephemeral disk passed");
        check(d.id.empty() || (good_id(d.id, 20) && ids.insert(d.id).second),
              "a bad or repeated disk id passed");
    }
    for (const auto& n : c.nets) {
        check(!n.tap.empty(), "a network card without a tap passed");
        check(n.id.empty() || (good_id(n.id, 20) && ids.insert(n.id).second),
              "a bad or repeated network card id passed");
        check(!n.mac || ((*n.mac)[0] & 1) == 0, "a multicast MAC passed");
    }
    if (c.serial.kind == vmm::SerialConfig::Kind::kFile) {
        check(!c.serial.path.empty(), "--serial file: without a path passed");
    }
    for (const std::string& mac : macs_typed) {
        check(canonical_mac(mac), "a MAC that is not six hex pairs passed");
    }
}

// A file holding `text`, named by a path through /proc/self/fd.
struct MemFile {
    explicit MemFile(const std::string& text) : fd(memfd_create("fuzz-config", MFD_CLOEXEC)) {
        check(fd.valid(), "memfd_create failed");
        check(::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()),
              "cannot write the config file");
        path = "/proc/self/fd/" + std::to_string(fd.get());
    }
    base::Fd fd;
    std::string path;
};

void json_config(fuzz::Input& in) {
    const auto rest = in.rest();
    const std::string text(rest.begin(), rest.end());
    vmm::VmConfig config;
    config.kernel = "/k";  // the file may leave it out
    std::vector<std::string> macs;
    try {
        vmm::apply_json_config(text, "fuzz.json", config);
        vmm::validate(config);
    } catch (const base::InvalidInput& e) {
        if (fuzz::verbose()) {
            std::fprintf(stderr, "refused: %s\n", e.what());
        }
        return;
    }
    if (fuzz::verbose()) {
        std::fprintf(stderr, "parsed: kernel %s, %zu disks, %zu nets\n", config.kernel.c_str(),
                     config.disks.size(), config.nets.size());
    }
    const auto j = nlohmann::json::parse(text);
    if (j.contains("net")) {
        for (const auto& v : j["net"].is_array() ? j["net"] : nlohmann::json::array({j["net"]})) {
            collect_macs(v.get<std::string>(), macs);
        }
    }
    check_config(config, macs);
}

void command_line(fuzz::Input& in) {
    const unsigned count = in.u8() % 24;
    std::vector<std::string> args;
    for (unsigned i = 0; i < count && !in.empty(); ++i) {
        std::string arg;
        while (!in.empty()) {
            const char c = static_cast<char>(in.u8());
            if (c == '\0') {
                break;
            }
            arg += c;
        }
        args.push_back(arg);
    }
    const auto rest = in.rest();
    const MemFile file(std::string(rest.begin(), rest.end()));
    // Walked as parse_command_line walks them: every --config gets the
    // input's file (never one of the host's), every --net's mac= is noted.
    std::vector<std::string> macs;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i].rfind("--", 0) != 0 || args[i] == "--no-reboot") {
            continue;
        }
        const std::size_t eq = args[i].find('=');
        const std::string name = args[i].substr(2, eq == std::string::npos ? eq : eq - 2);
        std::string* value = eq != std::string::npos ? nullptr
                             : i + 1 < args.size()   ? &args[++i]
                                                     : nullptr;
        if (name == "config") {
            if (value != nullptr) {
                *value = file.path;
            } else {
                args[i] = "--config=" + file.path;
            }
        } else if (name == "net") {
            collect_macs(value != nullptr ? *value : args[i].substr(eq + 1), macs);
        }
    }
    vmm::CommandLine cl;
    try {
        cl = vmm::parse_command_line(args);
    } catch (const base::InvalidInput& e) {
        if (fuzz::verbose()) {
            std::fprintf(stderr, "refused: %s\n", e.what());
        }
        return;
    }
    if (fuzz::verbose()) {
        std::fprintf(stderr, "parsed: action %d, kernel %s, id %s, %zu disks, %zu nets\n",
                     static_cast<int>(cl.action), cl.config.kernel.c_str(), cl.config.id.c_str(),
                     cl.config.disks.size(), cl.config.nets.size());
    }
    if (cl.action == vmm::CommandLine::Action::kRun) {
        // MACs from the file are not collected: they are checked by the JSON mode.
        check_config(cl.config, macs);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::Input in(data, size);
    if ((in.u8() & 1) == 0) {
        json_config(in);
    } else {
        command_line(in);
    }
    return 0;
}
