#include "vmm/config.h"

#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "net/mac.h"
#include "x86/layout.h"

namespace vmm {

namespace {

constexpr unsigned kMaxVcpus = 254;                  // APIC ids up to 254; 255 is broadcast
constexpr std::uint64_t kMaxMemoryMib = 1ull << 20;  // 1 TiB

std::uint64_t parse_unsigned(const std::string& option, const std::string& value, std::uint64_t min,
                             std::uint64_t max) {
    if (value.empty() || value.find_first_not_of("0123456789") != std::string::npos ||
        value.size() > 12) {
        throw base::InvalidInput(option + " wants a whole number, not '" + value + "'");
    }
    std::uint64_t n = 0;
    std::from_chars(value.data(), value.data() + value.size(), n);  // 12 digits: no overflow
    if (n < min || n > max) {
        throw base::InvalidInput(option + " " + value + " is out of range " + std::to_string(min) +
                                 ".." + std::to_string(max));
    }
    return n;
}

SerialConfig parse_serial(const std::string& value) {
    SerialConfig s;
    if (value == "stdio") {
        s.kind = SerialConfig::Kind::kStdio;
    } else if (value == "none") {
        s.kind = SerialConfig::Kind::kNone;
    } else if (value.rfind("file:", 0) == 0 && value.size() > 5) {
        s.kind = SerialConfig::Kind::kFile;
        s.path = value.substr(5);
    } else {
        throw base::InvalidInput("--serial wants stdio, none or file:PATH, not '" + value + "'");
    }
    return s;
}

EventsConfig parse_events(const std::string& value) {
    EventsConfig e;
    if (value.empty()) {
        throw base::InvalidInput("--events wants a file descriptor number or a path");
    }
    if (value.find_first_not_of("0123456789") == std::string::npos) {
        e.kind = EventsConfig::Kind::kFd;
        e.fd = static_cast<int>(parse_unsigned("--events", value, 0, 1 << 20));
    } else {
        e.kind = EventsConfig::Kind::kPath;
        e.path = value;
    }
    return e;
}

constexpr unsigned kMaxRebootLoopBoots = 1000;
constexpr std::uint64_t kMaxRebootLoopSeconds = 24 * 3600;

// "BOOTS/SECONDS" (5/30) or "off".
RebootLoopLimit parse_reboot_loop(const std::string& value) {
    RebootLoopLimit limit;
    if (value == "off") {
        limit.boots = 0;
        return limit;
    }
    const std::size_t slash = value.find('/');
    if (slash == std::string::npos) {
        throw base::InvalidInput("--reboot-loop wants BOOTS/SECONDS (e.g. 10/60) or off, not '" +
                                 value + "'");
    }
    limit.boots = static_cast<unsigned>(
        parse_unsigned("--reboot-loop boots", value.substr(0, slash), 1, kMaxRebootLoopBoots));
    limit.within_s = static_cast<std::uint32_t>(
        parse_unsigned("--reboot-loop seconds", value.substr(slash + 1), 1, kMaxRebootLoopSeconds));
    return limit;
}

// "a=b,c,d=e" -> {{"a","b"},{"c",""},{"d","e"}}, in order.
std::vector<std::pair<std::string, std::string>> split_fields(const std::string& option,
                                                              const std::string& value) {
    std::vector<std::pair<std::string, std::string>> fields;
    std::size_t start = 0;
    while (start <= value.size()) {
        const std::size_t comma = std::min(value.find(',', start), value.size());
        const std::string field = value.substr(start, comma - start);
        if (field.empty()) {
            throw base::InvalidInput(option + " '" + value + "' has an empty field");
        }
        const std::size_t eq = field.find('=');
        if (eq == std::string::npos) {
            fields.emplace_back(field, "");
        } else {
            fields.emplace_back(field.substr(0, eq), field.substr(eq + 1));
        }
        start = comma + 1;
    }
    return fields;
}

void check_device_id(const std::string& option, const std::string& id) {
    if (id.empty() || id.size() > 20 ||
        id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") !=
            std::string::npos) {
        throw base::InvalidInput(option + " id '" + id +
                                 "' must be 1-20 letters, digits, '-', '_' or '.'");
    }
}

DiskConfig parse_disk(const std::string& value) {
    DiskConfig d;
    for (const auto& [key, v] : split_fields("--disk", value)) {
        const bool flag = v.empty();
        if (key == "path" && !v.empty()) {
            d.path = v;
        } else if (key == "id") {
            check_device_id("--disk", v);
            d.id = v;
        } else if (key == "readonly" && flag) {
            d.read_only = true;
        } else if (key == "ephemeral" && flag) {
            d.ephemeral = true;
        } else if (key == "direct" && flag) {
            d.direct = true;
        } else {
            throw base::InvalidInput("--disk: unknown or malformed field '" + key +
                                     (flag ? "" : "=" + v) +
                                     "' (path=FILE[,id=NAME][,readonly][,ephemeral][,direct])");
        }
    }
    if (d.path.empty()) {
        throw base::InvalidInput("--disk '" + value + "' has no path=FILE");
    }
    if (d.read_only && d.ephemeral) {
        throw base::InvalidInput("--disk " + d.path +
                                 ": readonly and ephemeral exclude each other");
    }
    return d;
}

std::array<std::uint8_t, 6> parse_mac(const std::string& text) {
    // Six pairs of hex digits with colons between (sscanf's %x alone would
    // take a sign, spaces or a 0x prefix too).
    bool well_formed = text.size() == 17;
    for (std::size_t i = 0; well_formed && i < text.size(); ++i) {
        well_formed =
            i % 3 == 2 ? text[i] == ':' : std::isxdigit(static_cast<unsigned char>(text[i]));
    }
    if (!well_formed) {
        throw base::InvalidInput("--net mac '" + text + "' is not of the form 02:00:00:00:00:01");
    }
    std::array<std::uint8_t, 6> mac{};
    for (std::size_t i = 0; i < 6; ++i) {
        mac[i] = static_cast<std::uint8_t>(std::stoul(text.substr(3 * i, 2), nullptr, 16));
    }
    if (mac[0] & 1) {
        throw base::InvalidInput("--net mac " + text + " is a multicast address");
    }
    return mac;
}

NetConfig parse_net(const std::string& value) {
    NetConfig n;
    for (const auto& [key, v] : split_fields("--net", value)) {
        if (key == "tap" && !v.empty()) {
            n.tap = v;
        } else if (key == "mac" && !v.empty()) {
            n.mac = parse_mac(v);
        } else if (key == "id") {
            check_device_id("--net", v);
            n.id = v;
        } else {
            throw base::InvalidInput("--net: unknown or malformed field '" + key +
                                     "' (tap=NAME[,mac=MAC][,id=NAME])");
        }
    }
    if (n.tap.empty()) {
        throw base::InvalidInput("--net '" + value + "' has no tap=NAME");
    }
    return n;
}

// Applies one setting by its long-option name; shared by argv and JSON.
void apply_option(VmConfig& c, const std::string& name, const std::string& value) {
    if (name == "kernel") {
        c.kernel = value;
    } else if (name == "initrd") {
        c.initrd = value;
    } else if (name == "cmdline") {
        c.cmdline = value;
    } else if (name == "vcpus") {
        c.vcpus = static_cast<unsigned>(parse_unsigned("--vcpus", value, 1, kMaxVcpus));
    } else if (name == "memory") {
        c.memory_mib = parse_unsigned("--memory", value, 16, kMaxMemoryMib);
    } else if (name == "serial") {
        c.serial = parse_serial(value);
    } else if (name == "api-sock") {
        c.api_socket = value;
    } else if (name == "events") {
        c.events = parse_events(value);
    } else if (name == "reboot-loop") {
        c.reboot_loop = parse_reboot_loop(value);
    } else if (name == "disk") {
        c.disks.push_back(parse_disk(value));
    } else if (name == "net") {
        c.nets.push_back(parse_net(value));
    } else if (name == "id") {
        if (value.empty() || value.size() > 64 ||
            value.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789-_.") != std::string::npos) {
            throw base::InvalidInput("--id wants 1-64 letters, digits, '-', '_' or '.', not '" +
                                     value + "'");
        }
        c.id = value;
    } else {
        throw base::InvalidInput("unknown option --" + name + " (see vmm --help)");
    }
}

std::string read_text_file(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        throw base::InvalidInput("cannot read config file " + path + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        throw base::InvalidInput("config file " + path + " is not a regular file");
    }
    std::ifstream in(path, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.is_open() || in.bad()) {
        throw base::InvalidInput("cannot read config file " + path);
    }
    return text;
}

}  // namespace

const char* usage_text() {
    return "usage: vmm --kernel PATH [options]\n"
           "\n"
           "  --kernel PATH        Linux bzImage or ELF vmlinux (PVH entry when present)\n"
           "  --initrd PATH        initial ramdisk\n"
           "  --cmdline STR        kernel command line (default: console=ttyS0)\n"
           "  --vcpus N            virtual CPUs (default 1)\n"
           "  --memory MiB         guest memory in MiB (default 256)\n"
           "  --serial KIND        stdio (default), file:PATH or none\n"
           "  --api-sock PATH      HTTP/JSON control API on this Unix socket\n"
           "  --events FD|PATH     lifecycle events as JSON lines\n"
           "  --no-reboot          exit when the guest asks to reboot\n"
           "  --reboot-loop B/S    exit (status 5) after B boots in a row that each\n"
           "                       reset within S seconds (default 10/60), or off\n"
           "  --id NAME            the VM's name in events and logs\n"
           "  --disk path=FILE[,id=NAME][,readonly][,ephemeral][,direct]\n"
           "                       a virtio-blk disk (repeatable); ephemeral: writes go to\n"
           "                       a private overlay and vanish when vmm exits\n"
           "  --net tap=NAME[,mac=MAC][,id=NAME]\n"
           "                       a virtio-net card on an existing tap (repeatable)\n"
           "  --config FILE.json   the same settings as a JSON object\n"
           "  --help, --version\n"
           "\n"
           "exit status: 0 guest powered off, 1 host error, 2 invalid input,\n"
           "3 guest kernel panic, 4 reboot requested with --no-reboot,\n"
           "5 reboot loop (see --reboot-loop), 6 KVM error or unhandled exit,\n"
           "7 killed through the API or by SIGTERM/SIGINT\n";
}

CommandLine parse_command_line(const std::vector<std::string>& args) {
    CommandLine cl;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg == "--help" || arg == "-h") {
            cl.action = CommandLine::Action::kHelp;
            return cl;
        }
        if (arg == "--version") {
            cl.action = CommandLine::Action::kVersion;
            return cl;
        }
        if (arg.rfind("--", 0) != 0) {
            throw base::InvalidInput("unexpected argument '" + arg + "' (see vmm --help)");
        }
        std::string name = arg.substr(2);
        std::string value;
        const auto eq = name.find('=');
        const bool inline_value = eq != std::string::npos;
        if (inline_value) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        if (name == "no-reboot") {
            if (inline_value) {
                throw base::InvalidInput("--no-reboot takes no value");
            }
            cl.config.no_reboot = true;
            continue;
        }
        if (!inline_value) {
            if (i + 1 >= args.size()) {
                throw base::InvalidInput("--" + name + " needs a value (see vmm --help)");
            }
            value = args[++i];
        }
        if (name == "config") {
            apply_json_config(read_text_file(value), value, cl.config);
        } else {
            apply_option(cl.config, name, value);
        }
    }
    validate(cl.config);
    return cl;
}

void apply_json_config(const std::string& json_text, const std::string& origin, VmConfig& config) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(json_text);
    } catch (const nlohmann::json::exception& e) {
        // parse_error, and out_of_range for a number like 1e999
        throw base::InvalidInput("config " + origin + " is not valid JSON: " + e.what());
    }
    if (!j.is_object()) {
        throw base::InvalidInput("config " + origin + " must be a JSON object");
    }
    for (const auto& [key, value] : j.items()) {
        if (key == "no-reboot") {
            if (!value.is_boolean()) {
                throw base::InvalidInput("config " + origin + ": no-reboot must be true or false");
            }
            config.no_reboot = value.get<bool>();
        } else if ((key == "disk" || key == "net") && value.is_array()) {
            for (const auto& item : value) {
                if (!item.is_string()) {
                    throw base::InvalidInput("config " + origin + ": " + key +
                                             " must hold strings like the command-line option");
                }
                apply_option(config, key, item.get<std::string>());
            }
        } else if (value.is_string()) {
            apply_option(config, key, value.get<std::string>());
        } else if (value.is_number_unsigned()) {
            apply_option(config, key, std::to_string(value.get<std::uint64_t>()));
        } else {
            throw base::InvalidInput("config " + origin + ": " + key +
                                     " must be a string or a non-negative number");
        }
    }
}

void validate(const VmConfig& config) {
    if (config.kernel.empty()) {
        throw base::InvalidInput("no kernel given: pass --kernel PATH (see vmm --help)");
    }
    if (config.cmdline.find('\0') != std::string::npos) {
        throw base::InvalidInput("--cmdline contains a NUL byte");
    }
    // One virtio window and interrupt each: the disks, the cards and the RNG.
    if (config.disks.size() + config.nets.size() + 1 > layout::kMaxVirtioDevices) {
        throw base::InvalidInput("too many devices: at most " +
                                 std::to_string(layout::kMaxVirtioDevices - 1) +
                                 " disks and network cards together");
    }
    std::vector<std::string> ids;
    for (const DiskConfig& d : config.disks) {
        ids.push_back(d.id);
    }
    for (const NetConfig& n : config.nets) {
        ids.push_back(n.id);
    }
    for (std::size_t i = 0; i < ids.size(); ++i) {
        for (std::size_t j = i + 1; j < ids.size(); ++j) {
            if (!ids[i].empty() && ids[i] == ids[j]) {
                throw base::InvalidInput("device id '" + ids[i] + "' is used twice");
            }
        }
    }
}

std::array<std::uint8_t, 6> default_mac(const std::string& vm_id, std::size_t index) {
    // The same derivation vmd uses for an instance's filter (net/mac.h).
    return net::instance_mac(vm_id, index);
}

std::string format_mac(const std::array<std::uint8_t, 6>& mac) {
    return net::format_mac(mac);
}

}  // namespace vmm
