#pragma once
// SSH host keys made for an instance before it boots (by Debian's ssh-keygen),
// handed to it in the seed (cloud-config ssh_keys) and kept by vmd, so that
// `vmctl ssh` checks the host's key instead of trusting the first connection.

#include <string>
#include <vector>

#include "supervisor/seed/nocloud.h"

namespace seed {

// One key per type ("ed25519", "ecdsa", "rsa"), with `comment` in its public
// line (e.g. "root@i-0123456789ab"). Throws HostError when ssh-keygen is
// missing or fails, InvalidInput for an unknown type.
std::vector<HostKey> generate_host_keys(const std::string& comment,
                                        const std::vector<std::string>& types = {"ed25519"});

// A known_hosts line for `host` (an address or name) with these keys, one
// key a line: what `ssh -o UserKnownHostsFile=FILE -o StrictHostKeyChecking=yes` reads.
std::string known_hosts(const std::string& host, const std::vector<HostKey>& keys);

}  // namespace seed
