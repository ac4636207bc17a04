#include "supervisor/seed/host_keys.h"

#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"
#include "supervisor/seed/run_tool.h"

namespace seed {

namespace {

using namespace std::chrono_literals;

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw base::HostError("cannot read " + path);
    }
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string first_line(const std::string& text) {
    return text.substr(0, text.find('\n'));
}

// A private directory removed with everything in it.
class TempDir {
  public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "seed-keys.XXXXXX");
        if (mkdtemp(pattern.data()) == nullptr) {
            base::throw_errno("cannot make a temporary directory for host keys");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

}  // namespace

std::vector<HostKey> generate_host_keys(const std::string& comment,
                                        const std::vector<std::string>& types) {
    TempDir dir;
    std::vector<HostKey> keys;
    for (const std::string& type : types) {
        if (type != "ed25519" && type != "ecdsa" && type != "rsa") {
            throw base::InvalidInput("host key type '" + type +
                                     "' is not one of ed25519, ecdsa, rsa");
        }
        const std::string file = dir.path() + "/ssh_host_" + type + "_key";
        run_tool_checked({"ssh-keygen", "-q", "-t", type, "-N", "", "-C", comment, "-f", file},
                         "openssh-client", 60s);
        HostKey key;
        key.type = type;
        key.private_key = read_text(file);
        key.public_key = first_line(read_text(file + ".pub"));
        // "256 SHA256:... comment (ED25519)"
        const std::string listed = first_line(
            run_tool_checked({"ssh-keygen", "-l", "-f", file + ".pub"}, "openssh-client", 60s));
        const std::size_t start = listed.find(' ');
        const std::size_t end = listed.find(' ', start + 1);
        if (start == std::string::npos || end == std::string::npos) {
            throw base::HostError("ssh-keygen -l printed no fingerprint: " + listed);
        }
        key.fingerprint = listed.substr(start + 1, end - start - 1);
        keys.push_back(std::move(key));
    }
    return keys;
}

std::string known_hosts(const std::string& host, const std::vector<HostKey>& keys) {
    std::string lines;
    for (const HostKey& key : keys) {
        // The key type and blob, without the comment.
        const std::size_t sp = key.public_key.find(' ');
        const std::size_t end = key.public_key.find(' ', sp + 1);
        lines += host + " " + key.public_key.substr(0, end) + "\n";
    }
    return lines;
}

}  // namespace seed
