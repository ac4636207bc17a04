#include "supervisor/vmd/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/error.h"
#include "base/fd.h"

namespace supervisor::vmd {

void ensure_dir(const std::string& path, unsigned mode) {
    std::string partial;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t slash = path.find('/', start);
        if (slash == std::string::npos) {
            slash = path.size();
        }
        partial = path.substr(0, slash);
        start = slash + 1;
        if (partial.empty()) {
            continue;
        }
        if (mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
            base::throw_errno("cannot create the directory " + partial);
        }
    }
    struct stat st {};
    if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        throw base::HostError(path + " is not a directory");
    }
}

void write_file_atomically(const std::string& path, const std::string& content, unsigned mode) {
    const std::string tmp = path + ".tmp";
    {
        base::Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
        if (!fd.valid()) {
            base::throw_errno("cannot create " + tmp);
        }
        std::size_t done = 0;
        while (done < content.size()) {
            const ssize_t n = write(fd.get(), content.data() + done, content.size() - done);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                base::throw_errno("cannot write " + tmp);
            }
            done += static_cast<std::size_t>(n);
        }
        if (fsync(fd.get()) != 0) {
            base::throw_errno("cannot sync " + tmp);
        }
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) {
        base::throw_errno("cannot rename " + tmp + " to " + path);
    }
    sync_dir(std::filesystem::path(path).parent_path());
}

void append_to_file(const std::string& path, const std::string& text) {
    base::Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        base::throw_errno("cannot open " + path);
    }
    if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        base::throw_errno("cannot append to " + path);
    }
}

void touch(const std::string& path) {
    base::Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        base::throw_errno("cannot create " + path);
    }
}

bool remove_path(const std::string& path, std::string* error) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
    if (ec) {
        if (error != nullptr) {
            *error = "cannot remove " + path + ": " + ec.message();
        }
        return false;
    }
    return true;
}

std::int64_t file_size(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        return -1;
    }
    return st.st_size;
}

bool exists(const std::string& path) {
    struct stat st {};
    return lstat(path.c_str(), &st) == 0;
}

std::string last_line(const std::string& path) {
    const std::int64_t size = file_size(path);
    if (size <= 0) {
        return "";
    }
    const std::int64_t from = std::max<std::int64_t>(0, size - 4096);
    std::string text = read_range(path, from, size - from);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    const std::size_t nl = text.rfind('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
}

std::string read_range(const std::string& path, std::int64_t offset, std::int64_t max) {
    base::Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid() || max <= 0) {
        return "";
    }
    std::string out(static_cast<std::size_t>(max), '\0');
    std::size_t got = 0;
    while (got < out.size()) {
        const ssize_t n = pread(fd.get(), out.data() + got, out.size() - got,
                                static_cast<off_t>(offset + static_cast<std::int64_t>(got)));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += static_cast<std::size_t>(n);
    }
    out.resize(got);
    return out;
}

void sync_dir(const std::string& path) {
    base::Fd fd(open(path.empty() ? "." : path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.valid()) {
        fsync(fd.get());
    }
}

}  // namespace supervisor::vmd
