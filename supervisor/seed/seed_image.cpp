#include "supervisor/seed/seed_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/fd.h"
#include "supervisor/seed/run_tool.h"

namespace seed {

namespace {

using namespace std::chrono_literals;

// mtools refuses images whose geometry it does not recognise unless told
// not to check; the image is ours, made a moment before.
const std::vector<std::pair<std::string, std::string>> kMtoolsEnv{{"MTOOLS_SKIP_CHECK", "1"}};

void write_all(int fd, const std::string& data, const std::string& what) {
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = write(fd, data.data() + done, data.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            base::throw_errno("cannot write " + what);
        }
        done += static_cast<std::size_t>(n);
    }
}

// One file put into the image: the text goes through a private temporary
// file, which mcopy reads.
void put_file(const std::string& image, const std::string& name, const std::string& text) {
    const std::string source = image + "." + name;
    base::Fd fd(open(source.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        base::throw_errno("cannot create " + source);
    }
    write_all(fd.get(), text, source);
    fd.reset();
    try {
        run_tool_checked({"mcopy", "-o", "-i", image, source, "::" + name}, "mtools", 30s,
                         kMtoolsEnv);
    } catch (...) {
        unlink(source.c_str());
        throw;
    }
    unlink(source.c_str());
}

}  // namespace

void write_seed_image(const SeedFiles& files, const std::string& path) {
    const std::string tmp = path + ".tmp";
    // Room for the files twice over and the filesystem's own structures; at
    // least 1 MiB (mkfs.vfat's FAT12 needs a few hundred KiB).
    const std::size_t content =
        files.meta_data.size() + files.user_data.size() + files.network_config.size();
    const std::size_t kib = std::max<std::size_t>(1024, (2 * content) / 1024 + 512);
    {
        unlink(tmp.c_str());
        base::Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd.valid() || ftruncate(fd.get(), static_cast<off_t>(kib) * 1024) != 0) {
            base::throw_errno("cannot create the seed image " + tmp);
        }
    }
    try {
        run_tool_checked({"mkfs.vfat", "-n", kSeedLabel, tmp}, "dosfstools", 30s);
        put_file(tmp, "meta-data", files.meta_data);
        put_file(tmp, "user-data", files.user_data);
        if (!files.network_config.empty()) {
            put_file(tmp, "network-config", files.network_config);
        }
        if (rename(tmp.c_str(), path.c_str()) != 0) {
            base::throw_errno("cannot move the seed image to " + path);
        }
    } catch (...) {
        unlink(tmp.c_str());
        throw;
    }
}

}  // namespace seed
