#include "supervisor/seed/nocloud.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <utility>

#include "base/error.h"

namespace seed {

namespace {

bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

void check_instance_id(const std::string& id) {
    if (id.empty() || id.size() > 64 || !std::all_of(id.begin(), id.end(), is_name_char)) {
        throw base::InvalidInput("instance id '" + id +
                                 "' must be 1 to 64 letters, digits, '.', '_' or '-'");
    }
}

// RFC 1123 host names: dot-separated labels of letters, digits and '-'.
void check_hostname(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 253;
    std::size_t start = 0;
    while (ok && start <= name.size()) {
        const std::size_t dot = std::min(name.find('.', start), name.size());
        const std::string label = name.substr(start, dot - start);
        ok = !label.empty() && label.size() <= 63 && label.front() != '-' && label.back() != '-' &&
             std::all_of(label.begin(), label.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
             });
        start = dot + 1;
    }
    if (!ok) {
        throw base::InvalidInput("hostname '" + name +
                                 "' is not a host name: labels of letters, digits and '-' "
                                 "(1 to 63 each) separated by dots");
    }
}

// One line "TYPE BASE64 [COMMENT]" as in an authorized_keys file, without options.
void check_public_key(const std::string& key, const std::string& what) {
    const std::size_t sp1 = key.find(' ');
    const std::string type = key.substr(0, sp1);
    const std::size_t sp2 = sp1 == std::string::npos ? sp1 : key.find(' ', sp1 + 1);
    const std::string blob = sp1 == std::string::npos ? "" : key.substr(sp1 + 1, sp2 - sp1 - 1);
    const bool known_type = type.rfind("ssh-", 0) == 0 || type.rfind("ecdsa-sha2-", 0) == 0 ||
                            type.rfind("sk-", 0) == 0;
    const bool base64 = !blob.empty() && std::all_of(blob.begin(), blob.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
    });
    const bool printable = std::all_of(key.begin(), key.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
    });
    if (!known_type || !base64 || !printable) {
        throw base::InvalidInput(what + " '" + key.substr(0, 40) + (key.size() > 40 ? "..." : "") +
                                 "' is not an OpenSSH public key (one line: TYPE BASE64 "
                                 "[COMMENT], as in id_ed25519.pub)");
    }
}

void check_host_key(const HostKey& key) {
    if (key.type != "ed25519" && key.type != "ecdsa" && key.type != "rsa") {
        throw base::InvalidInput("host key type '" + key.type +
                                 "' is not one cloud-init takes (ed25519, ecdsa, rsa)");
    }
    if (key.private_key.rfind("-----BEGIN ", 0) != 0) {
        throw base::InvalidInput("the " + key.type + " host key's private part is not PEM text");
    }
    check_public_key(key.public_key, "host key");
}

// Where `s` first holds something a YAML 1.1 reader (cloud-init's PyYAML)
// refuses in a stream: bytes that are not UTF-8, or a character outside its
// printable set (control characters but tab and line breaks, DEL, C1,
// surrogates, U+FFFE/FFFF).
std::optional<std::size_t> first_unreadable(const std::string& s) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    for (std::size_t i = 0; i < s.size();) {
        const unsigned char b = byte(i);
        std::size_t length = 0;
        char32_t c = 0;
        if (b < 0x80) {
            length = 1;
            c = b;
        } else if (b >= 0xc2 && b <= 0xdf) {
            length = 2;
            c = b & 0x1f;
        } else if (b >= 0xe0 && b <= 0xef) {
            length = 3;
            c = b & 0x0f;
        } else if (b >= 0xf0 && b <= 0xf4) {
            length = 4;
            c = b & 0x07;
        } else {
            return i;
        }
        if (i + length > s.size()) {
            return i;
        }
        for (std::size_t k = 1; k < length; ++k) {
            if ((byte(i + k) & 0xc0) != 0x80) {
                return i;
            }
            c = (c << 6) | (byte(i + k) & 0x3f);
        }
        const char32_t shortest = length == 1   ? 0
                                  : length == 2 ? 0x80
                                  : length == 3 ? 0x800
                                                : 0x10000;
        const bool printable = c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c <= 0x7e) ||
                               c == 0x85 || (c >= 0xa0 && c <= 0xd7ff) ||
                               (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);
        if (c < shortest || !printable) {
            return i;
        }
        i += length;
    }
    return std::nullopt;
}

// Whether a literal block (`|`) gives `text` back exactly: it must end in
// one line break (the block's default chomping keeps one), hold no CR (a
// reader turns it into a line break) and not start with a blank (the block's
// indentation would be read from it).
bool fits_literal_block(const std::string& text) {
    return text.size() >= 2 && text.back() == '\n' && text[text.size() - 2] != '\n' &&
           text.find('\r') == std::string::npos && text.front() != ' ' && text.front() != '\t';
}

// Emits `node` as it was written: multi-line strings as literal blocks
// where one gives them back exactly, a string that was quoted stays quoted
// (so "yes" stays a string for cloud-init's YAML 1.1 reader), a string with
// characters that must be escaped double-quoted, explicit tags kept.
void emit(YAML::Emitter& out, const YAML::Node& node) {
    const std::string& tag = node.Tag();
    if (!tag.empty() && tag != "?" && tag != "!") {
        out << YAML::VerbatimTag(tag);
    }
    switch (node.Type()) {
        case YAML::NodeType::Map:
            out << YAML::BeginMap;
            for (const auto& item : node) {
                out << YAML::Key;
                emit(out, item.first);
                out << YAML::Value;
                emit(out, item.second);
            }
            out << YAML::EndMap;
            break;
        case YAML::NodeType::Sequence:
            out << YAML::BeginSeq;
            for (const auto& item : node) {
                emit(out, item);
            }
            out << YAML::EndSeq;
            break;
        case YAML::NodeType::Scalar: {
            const std::string& text = node.Scalar();
            // A CR counts: written raw in a plain scalar, a reader breaks the line there.
            const bool multi_line = text.find_first_of("\r\n") != std::string::npos;
            if (first_unreadable(text)) {
                // yaml-cpp escapes control characters but writes DEL and
                // U+FFFE raw, unless it escapes everything past ASCII.
                out << YAML::EscapeNonAscii << YAML::DoubleQuoted << text;
            } else if (multi_line && !fits_literal_block(text)) {
                out << YAML::DoubleQuoted << text;
            } else if (multi_line) {
                out << YAML::Literal << text;
            } else if (tag == "!") {
                out << YAML::DoubleQuoted << text;
            } else {
                out << text;
            }
            break;
        }
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            out << YAML::Null;
            break;
    }
}

std::string to_yaml(const YAML::Node& node) {
    YAML::Emitter out;
    emit(out, node);
    if (!out.good()) {
        throw base::InternalError("cannot write seed YAML: " + out.GetLastError());
    }
    return std::string(out.c_str()) + "\n";
}

// A string of ours, always double-quoted on output: YAML 1.1 would read a
// plain yes, 123 or 12:34:56 (a MAC) as a boolean or a number.
YAML::Node text(const std::string& s) {
    YAML::Node node(s);
    node.SetTag("!");
    return node;
}

// What the platform puts in every instance's cloud-config.
YAML::Node platform_config(const InstanceSeed& instance) {
    YAML::Node config(YAML::NodeType::Map);
    if (!instance.ssh_authorized_keys.empty()) {
        YAML::Node keys(YAML::NodeType::Sequence);
        for (const auto& key : instance.ssh_authorized_keys) {
            keys.push_back(text(key));
        }
        config["ssh_authorized_keys"] = keys;
    }
    if (!instance.host_keys.empty()) {
        YAML::Node host(YAML::NodeType::Map);
        for (const HostKey& key : instance.host_keys) {
            host[key.type + "_private"] = text(key.private_key);
            host[key.type + "_public"] = text(key.public_key);
        }
        config["ssh_keys"] = host;
    }
    return config;
}

std::string cloud_config_text(const YAML::Node& config) {
    return "#cloud-config\n" + (config.size() == 0 ? std::string("{}\n") : to_yaml(config));
}

// The subscriber's #cloud-config with ours merged in: their authorized keys
// first, ours appended (each key once); the host keys are the platform's
// (vmd checks them); everything else is theirs, untouched.
std::string merge_cloud_config(const std::string& theirs_text, const InstanceSeed& instance) {
    if (const auto at = first_unreadable(theirs_text)) {
        const auto line = 1 + std::count(theirs_text.begin(), theirs_text.begin() + *at, '\n');
        char byte[8];
        std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(theirs_text[*at]));
        throw base::InvalidInput("user-data's #cloud-config, line " + std::to_string(line) +
                                 ": byte " + byte +
                                 " is a control character or not UTF-8; YAML allows neither "
                                 "(write it escaped in a double-quoted string)");
    }
    YAML::Node theirs;
    try {
        theirs = YAML::Load(theirs_text);
    } catch (const YAML::Exception& e) {
        throw base::InvalidInput(std::string("user-data's #cloud-config is not valid YAML: ") +
                                 e.what());
    }
    if (theirs.IsNull()) {
        theirs = YAML::Node(YAML::NodeType::Map);
    }
    if (!theirs.IsMap()) {
        throw base::InvalidInput("user-data's #cloud-config must be a YAML mapping (key: value)");
    }
    const YAML::Node ours = platform_config(instance);
    if (ours["ssh_authorized_keys"]) {
        const YAML::Node existing = theirs["ssh_authorized_keys"];
        YAML::Node keys(YAML::NodeType::Sequence);
        if (existing && !existing.IsNull()) {
            if (!existing.IsSequence()) {
                throw base::InvalidInput(
                    "user-data's ssh_authorized_keys must be a list of public keys");
            }
            keys = existing;
        }
        for (const auto& key : ours["ssh_authorized_keys"]) {
            const bool present = std::any_of(keys.begin(), keys.end(), [&](const YAML::Node& k) {
                return k.IsScalar() && k.Scalar() == key.Scalar();
            });
            if (!present) {
                keys.push_back(key);
            }
        }
        theirs["ssh_authorized_keys"] = keys;
    }
    if (ours["ssh_keys"]) {
        theirs["ssh_keys"] = ours["ssh_keys"];
    }
    return cloud_config_text(theirs);
}

// The MIME type cloud-init gives a part that starts this way (its own
// table, cloudinit/handlers/__init__.py); "" when it is not one it runs.
std::string content_type_of(const std::string& data) {
    static const std::pair<const char*, const char*> kStarts[] = {
        {"#!", "text/x-shellscript"},
        {"#include-once", "text/x-include-once-url"},
        {"#include", "text/x-include-url"},
        {"#cloud-boothook", "text/cloud-boothook"},
        {"#cloud-config-archive", "text/cloud-config-archive"},
        {"#cloud-config-jsonp", "text/cloud-config-jsonp"},
        {"#part-handler", "text/part-handler"},
        {"## template: jinja", "text/jinja2"},
    };
    for (const auto& [start, type] : kStarts) {
        if (data.rfind(start, 0) == 0) {
            return type;
        }
    }
    return "";
}

bool starts_with_header(const std::string& data, const std::string& header) {
    if (data.size() < header.size()) {
        return false;
    }
    return std::equal(header.begin(), header.end(), data.begin(), [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) ==
               std::tolower(static_cast<unsigned char>(b));
    });
}

bool is_cloud_config(const std::string& data) {
    if (data.rfind("#cloud-config", 0) != 0) {
        return false;
    }
    const char next = data.size() > 13 ? data[13] : '\n';
    return next == '\n' || next == '\r' || next == ' ' || next == '\t';
}

struct Part {
    std::string headers;  // without the blank line that ends them
    std::string body;
};

std::string multipart(const std::vector<Part>& parts) {
    std::string boundary = "==vmm-platform-seed==";
    for (int n = 1;; ++n) {
        const bool clash = std::any_of(parts.begin(), parts.end(), [&](const Part& p) {
            return p.body.find(boundary) != std::string::npos ||
                   p.headers.find(boundary) != std::string::npos;
        });
        if (!clash) {
            break;
        }
        boundary = "==vmm-platform-seed-" + std::to_string(n) + "==";
    }
    std::string s =
        "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\nMIME-Version: 1.0\n\n";
    for (const Part& p : parts) {
        // The line break before a boundary belongs to the boundary (RFC 2046
        // 5.1.1): one more keeps the body's own last line break.
        s += "--" + boundary + "\n" + p.headers + "\n\n" + p.body + "\n";
    }
    return s + "--" + boundary + "--\n";
}

}  // namespace

std::string meta_data(const InstanceSeed& instance) {
    check_instance_id(instance.instance_id);
    check_hostname(instance.hostname);
    YAML::Node meta(YAML::NodeType::Map);
    meta["instance-id"] = text(instance.instance_id);
    meta["local-hostname"] = text(instance.hostname);
    return to_yaml(meta);
}

std::string user_data(const InstanceSeed& instance) {
    for (const auto& key : instance.ssh_authorized_keys) {
        check_public_key(key, "SSH key");
    }
    for (const HostKey& key : instance.host_keys) {
        check_host_key(key);
    }
    const std::string& theirs = instance.user_data;
    const std::string ours = cloud_config_text(platform_config(instance));
    if (theirs.find_first_not_of(" \t\r\n") == std::string::npos) {
        return ours;
    }
    if (theirs.rfind("\x1f\x8b", 0) == 0) {
        throw base::InvalidInput("user-data is gzip-compressed: give it uncompressed");
    }
    if (theirs.find('\0') != std::string::npos) {
        throw base::InvalidInput("user-data holds a NUL byte: it must be text");
    }
    if (is_cloud_config(theirs)) {
        return merge_cloud_config(theirs, instance);
    }
    const Part platform{
        "Content-Type: text/cloud-config; charset=\"utf-8\"\n"
        "Content-Disposition: attachment; filename=\"vmm-platform.cfg\"",
        ours};
    if (starts_with_header(theirs, "Content-Type:") ||
        starts_with_header(theirs, "MIME-Version:")) {
        // A multipart message of the subscriber's: nested whole (its own
        // headers become the part's), ours after it, merged onto its
        // cloud-config parts by list append (their keys and ours) and
        // replacement of what else ours sets (the host keys).
        const std::size_t lf = theirs.find("\n\n");
        const std::size_t crlf = theirs.find("\r\n\r\n");
        const std::size_t end = std::min(lf, crlf);
        if (end == std::string::npos) {
            throw base::InvalidInput("user-data looks like a MIME message but has no body");
        }
        const Part nested{theirs.substr(0, end), theirs.substr(end + (end == lf ? 2 : 4))};
        const Part merging{
            platform.headers + "\nMerge-Type: dict(recurse_array,replace)+list(append)+str()",
            ours};
        return multipart({nested, merging});
    }
    const std::string type = content_type_of(theirs);
    if (type.empty()) {
        throw base::InvalidInput(
            "user-data must start with #cloud-config, #! (a script), #include, "
            "#cloud-boothook, #cloud-config-archive, #part-handler or '## template: jinja', "
            "or be a MIME multipart message");
    }
    return multipart({platform,
                      {"Content-Type: " + type +
                           "; charset=\"utf-8\"\n"
                           "Content-Disposition: attachment; filename=\"user-data\"",
                       theirs}});
}

std::string network_config(const NetworkSettings& network) {
    if (!network.address.network().contains(network.gateway)) {
        throw base::InvalidInput("gateway " + network.gateway.to_string() + " is not in " +
                                 network.address.network().to_string());
    }
    YAML::Node match(YAML::NodeType::Map);
    match["name"] = text(kNicNamePattern);
    if (network.mac) {
        match["macaddress"] = text(net::format_mac(*network.mac));
    }
    YAML::Node nic(YAML::NodeType::Map);
    nic["match"] = match;
    YAML::Node addresses(YAML::NodeType::Sequence);
    addresses.push_back(text(network.address.to_string()));
    nic["addresses"] = addresses;
    // gateway4 rather than a 0.0.0.0/0 route: cloud-init renders it for
    // ifupdown as a plain `gateway` line (a route would need net-tools' route).
    nic["gateway4"] = text(network.gateway.to_string());
    if (!network.dns.empty()) {
        YAML::Node dns(YAML::NodeType::Sequence);
        for (const auto& server : network.dns) {
            dns.push_back(text(server.to_string()));
        }
        nic["nameservers"]["addresses"] = dns;
    }
    YAML::Node config(YAML::NodeType::Map);
    config["version"] = 2;
    config["ethernets"]["primary"] = nic;
    return to_yaml(config);
}

SeedFiles render_seed(const InstanceSeed& instance) {
    return {meta_data(instance), user_data(instance),
            instance.network ? network_config(*instance.network) : ""};
}

}  // namespace seed
