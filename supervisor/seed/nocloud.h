#pragma once
// The three files of a NoCloud seed (cloud-init's datasource for a local
// disk labelled "cidata"), as pure functions of the instance:
//
//  meta-data       instance-id (stable per instance: a new one makes
//                  cloud-init treat the boot as a new instance's, re-run its
//                  per-instance modules and make new host keys) and
//                  local-hostname;
//  user-data       #cloud-config with the subscriber's SSH keys
//                  (ssh_authorized_keys) and the host keys vmd generated
//                  (ssh_keys), merged with the subscriber's own user-data: a
//                  #cloud-config is merged into one document; a script or
//                  any other cloud-init format becomes a part of a MIME
//                  multipart message beside ours, so it still runs;
//  network-config  version 2: the NIC matched by name pattern ("e*", never
//                  a fixed name) and MAC, the leased address, gateway and DNS.
//
// The project's test image reads the same files (guest/init.cpp).

#include <optional>
#include <string>
#include <vector>

#include "net/ipv4.h"
#include "net/mac.h"

namespace seed {

// An SSH host key of the instance, made in advance (host_keys.h) so that a
// client can check it instead of trusting the first connection.
struct HostKey {
    std::string type;         // "ed25519", "ecdsa" or "rsa"
    std::string private_key;  // OpenSSH PEM text
    std::string public_key;   // one line: "ssh-ed25519 AAAA... comment"
    std::string fingerprint;  // "SHA256:..." as ssh prints it
};

struct NetworkSettings {
    net::Ipv4Interface address;  // the leased address with the network's prefix length
    net::Ipv4Address gateway;
    std::vector<net::Ipv4Address> dns;
    std::optional<net::MacAddress> mac;  // the NIC's, when known: matched too
};

struct InstanceSeed {
    std::string instance_id;
    std::string hostname;
    std::vector<std::string> ssh_authorized_keys;  // the subscriber's public keys
    std::string user_data;                         // the subscriber's own; may be empty
    std::optional<NetworkSettings> network;        // none: the guest is left to itself
    std::vector<HostKey> host_keys;
};

struct SeedFiles {
    std::string meta_data;
    std::string user_data;
    std::string network_config;  // empty when the instance has no network settings
};

// Throws InvalidInput naming what is wrong: an instance id or hostname that
// is not a plain name, an SSH key that is not one line "TYPE BASE64
// [COMMENT]", a host key of an unknown type, user-data in a format cloud-init
// would not run (gzip, unknown first line) or a #cloud-config that does not
// parse as a YAML mapping.
SeedFiles render_seed(const InstanceSeed& instance);

std::string meta_data(const InstanceSeed& instance);
std::string user_data(const InstanceSeed& instance);
std::string network_config(const NetworkSettings& network);

// The cloud-config pattern that selects the NIC: every Ethernet name the
// kernel or udev gives (eth0, ens3, enp0s2, ...).
inline constexpr const char* kNicNamePattern = "e*";

}  // namespace seed
