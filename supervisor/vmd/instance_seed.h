#pragma once
// Each instance's credentials as a NoCloud seed (docs/seed.md): its SSH host
// keys, generated once and kept in its directory (mode 0600), and the seed
// image written at each start from the run request's keys and user-data,
// the instance's name and its leased address, attached read-only.

#include <string>
#include <vector>

#include "supervisor/seed/nocloud.h"
#include "supervisor/store/credentials.h"
#include "supervisor/store/records.h"
#include "supervisor/vmd/instance_network.h"
#include "supervisor/vmd/layout.h"

namespace supervisor::vmd {

// Throws InvalidInput (a 400) saying why, when the keys or the user-data
// would not make a seed (render_seed's checks).
void check_credentials(const std::vector<std::string>& ssh_keys, const std::string& user_data);

// The instance's host keys, made on the first call and kept in its
// directory. Throws HostError when ssh-keygen fails.
std::vector<seed::HostKey> ensure_host_keys(const Layout& layout, const std::string& instance_id);
// Its host keys' public lines, none before its first start.
std::vector<std::string> host_public_keys(const Layout& layout, const std::string& instance_id);

// Writes the seed image for this start; returns its path. Throws base::Error.
std::string write_instance_seed(const Layout& layout, const store::InstanceRecord& r,
                                const store::CredentialsRecord& credentials,
                                const InstanceNetwork& network);

// The guest's host name: the instance's name when it is one, else its id.
std::string guest_hostname(const store::InstanceRecord& r);

}  // namespace supervisor::vmd
