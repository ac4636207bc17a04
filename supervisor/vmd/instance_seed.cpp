#include "supervisor/vmd/instance_seed.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.h"
#include "net/mac.h"
#include "supervisor/seed/host_keys.h"
#include "supervisor/seed/seed_image.h"
#include "supervisor/vmd/context.h"
#include "supervisor/vmd/files.h"

namespace supervisor::vmd {

namespace {

std::string host_keys_file(const Layout& layout, const std::string& id) {
    return layout.instance_dir(id) + "/host_keys.json";
}

std::string seed_file(const Layout& layout, const std::string& id) {
    return layout.instance_dir(id) + "/seed.img";
}

std::vector<seed::HostKey> read_host_keys(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return {};
    }
    std::stringstream text;
    text << in.rdbuf();
    const auto j = nlohmann::json::parse(text.str(), nullptr, false);
    if (!j.is_array()) {
        throw base::HostError(path +
                              " is not a JSON array of host keys: remove it, and the "
                              "next start of the instance makes new ones");
    }
    std::vector<seed::HostKey> keys;
    for (const auto& k : j) {
        keys.push_back({k.value("type", ""), k.value("private_key", ""), k.value("public_key", ""),
                        k.value("fingerprint", "")});
    }
    return keys;
}

}  // namespace

void check_credentials(const std::vector<std::string>& ssh_keys, const std::string& user_data) {
    seed::InstanceSeed probe;
    probe.instance_id = "i-000000000000";
    probe.hostname = "check";
    probe.ssh_authorized_keys = ssh_keys;
    probe.user_data = user_data;
    seed::render_seed(probe);
}

std::vector<seed::HostKey> ensure_host_keys(const Layout& layout, const std::string& id) {
    const std::string path = host_keys_file(layout, id);
    auto keys = read_host_keys(path);
    if (!keys.empty()) {
        return keys;
    }
    keys = seed::generate_host_keys("root@" + id);
    nlohmann::json j = nlohmann::json::array();
    for (const auto& k : keys) {
        j.push_back({{"type", k.type},
                     {"private_key", k.private_key},
                     {"public_key", k.public_key},
                     {"fingerprint", k.fingerprint}});
    }
    write_file_atomically(path, j.dump(2) + "\n", 0600);
    return keys;
}

std::vector<std::string> host_public_keys(const Layout& layout, const std::string& id) {
    std::vector<std::string> lines;
    try {
        for (const auto& k : read_host_keys(host_keys_file(layout, id))) {
            lines.push_back(k.public_key);
        }
    } catch (const base::Error&) {
        // The view shows none; the next start says what is wrong.
    }
    return lines;
}

std::string guest_hostname(const store::InstanceRecord& r) {
    const std::string& name = r.name;
    const bool ok = !name.empty() && name.size() <= 63 && name.front() != '-' &&
                    name.back() != '-' && std::all_of(name.begin(), name.end(), [](char c) {
                        return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
                    });
    return ok ? name : r.id;
}

std::string write_instance_seed(const Layout& layout, const store::InstanceRecord& r,
                                const store::CredentialsRecord& credentials,
                                const InstanceNetwork& network) {
    slow_point("seed");
    seed::InstanceSeed s;
    s.instance_id = r.id;  // never changes: cloud-init's "first boot" is per instance
    s.hostname = guest_hostname(r);
    s.ssh_authorized_keys = credentials.ssh_keys;
    s.user_data = credentials.user_data.value_or("");
    s.host_keys = ensure_host_keys(layout, r.id);
    if (network.plumbing() && r.address) {
        seed::NetworkSettings n;
        n.address = network.pool().interface_of(
            net::Ipv4Address::parse_or_throw(*r.address, "the leased address"));
        n.gateway = network.pool().gateway();
        n.dns = network.dns();
        n.mac = net::parse_mac(r.mac);
        s.network = n;
    }
    const std::string path = seed_file(layout, r.id);
    seed::write_seed_image(seed::render_seed(s), path);
    return path;
}

}  // namespace supervisor::vmd
