// libFuzzer target: the subscriber's user-data, merged into the seed's
// (supervisor/seed/nocloud.h). Any input either is refused with InvalidInput
// or gives user-data that still carries the platform's key: a #cloud-config
// without raw control characters that parses back as a mapping with it, or a
// MIME message that contains it.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "base/error.h"
#include "supervisor/seed/nocloud.h"

namespace {

const char* kKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ1enoga2V5 fuzz@platform";

void check(bool ok) {
    if (!ok) {
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    seed::InstanceSeed s;
    s.instance_id = "i-f";
    s.hostname = "fuzz";
    s.ssh_authorized_keys = {kKey};
    s.user_data.assign(reinterpret_cast<const char*>(data), size);
    std::string out;
    try {
        out = seed::user_data(s);
    } catch (const base::InvalidInput&) {
        return 0;
    }
    if (out.rfind("#cloud-config\n", 0) == 0) {
        // cloud-init's reader (PyYAML) refuses raw control characters.
        for (const char c : out) {
            const auto b = static_cast<unsigned char>(c);
            check(!((b < 0x20 && c != '\t' && c != '\n' && c != '\r') || b == 0x7f));
        }
        const YAML::Node config = YAML::Load(out);  // must parse: a throw is a crash
        check(config.IsMap());
        bool found = false;
        for (const auto& k : config["ssh_authorized_keys"]) {
            found = found || (k.IsScalar() && k.Scalar() == kKey);
        }
        check(found);
    } else {
        check(out.rfind("Content-Type: multipart/mixed; boundary=", 0) == 0);
        check(out.find(kKey) != std::string::npos);
    }
    return 0;
}
