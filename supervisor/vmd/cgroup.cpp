#include "supervisor/vmd/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace supervisor::vmd {

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

bool write_text(const std::string& path, const std::string& text) {
    base::Fd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) {
        return false;
    }
    return write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

bool has_word(const std::string& list, const std::string& word) {
    std::istringstream in(list);
    std::string w;
    while (in >> w) {
        if (w == word) {
            return true;
        }
    }
    return false;
}

bool is_cgroup2(const std::string& path) {
    struct statfs fs {};
    return statfs(path.c_str(), &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

}  // namespace

CgroupRoot::CgroupRoot(std::string path) : path_(std::move(path)) {
    while (path_.size() > 1 && path_.back() == '/') {
        path_.pop_back();
    }
}

void CgroupRoot::prepare() {
    missing_.clear();
    const std::string parent = std::filesystem::path(path_).parent_path();
    if (!is_cgroup2(parent)) {
        throw base::HostError("--cgroup-root " + path_ + ": " + parent +
                              " is not in a cgroup v2 hierarchy (mount cgroup2 there, or point "
                              "--cgroup-root into the host's cgroup2 mount)");
    }
    if (mkdir(path_.c_str(), 0755) != 0 && errno != EEXIST) {
        base::throw_errno("cannot create the cgroup " + path_);
    }
    const std::string offered = read_text(path_ + "/cgroup.controllers");
    for (const char* c : {"memory", "cpu", "pids"}) {
        if (!has_word(offered, c)) {
            // The parent may offer it without passing it on yet.
            if (has_word(read_text(parent + "/cgroup.controllers"), c)) {
                write_text(parent + "/cgroup.subtree_control", std::string("+") + c);
            }
        }
        if (!has_word(read_text(path_ + "/cgroup.subtree_control"), c)) {
            write_text(path_ + "/cgroup.subtree_control", std::string("+") + c);
        }
        if (!has_word(read_text(path_ + "/cgroup.subtree_control"), c)) {
            missing_.push_back(c);
        }
    }
}

base::Fd CgroupRoot::create_child(const std::string& name, const CgroupLimits& limits) const {
    const std::string dir = child_path(name);
    if (mkdir(dir.c_str(), 0755) != 0) {
        if (errno != EEXIST) {
            base::throw_errno("cannot create the cgroup " + dir);
        }
        if (!procs(dir).empty()) {
            throw base::HostError("the cgroup " + dir + " still holds a process");
        }
    }
    const auto set = [&](const char* file, std::int64_t value) {
        const std::string path = dir + "/" + file;
        if (access(path.c_str(), F_OK) == 0 && !write_text(path, std::to_string(value))) {
            base::throw_errno("cannot set " + path + " to " + std::to_string(value));
        }
    };
    set("memory.max", limits.memory_max_bytes);
    set("cpu.weight", limits.cpu_weight);
    set("pids.max", limits.pids_max);
    base::Fd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid()) {
        base::throw_errno("cannot open the cgroup " + dir);
    }
    return fd;
}

std::vector<std::string> CgroupRoot::children() const {
    std::vector<std::string> out;
    DIR* d = opendir(path_.c_str());
    if (d == nullptr) {
        return out;
    }
    while (dirent* e = readdir(d)) {
        if (e->d_type == DT_DIR && e->d_name[0] != '.') {
            out.emplace_back(e->d_name);
        }
    }
    closedir(d);
    return out;
}

std::vector<pid_t> CgroupRoot::procs(const std::string& cgroup) {
    std::vector<pid_t> out;
    std::istringstream in(read_text(cgroup + "/cgroup.procs"));
    pid_t pid;
    while (in >> pid) {
        out.push_back(pid);
    }
    return out;
}

bool CgroupRoot::remove(const std::string& cgroup, std::string* error) {
    if (rmdir(cgroup.c_str()) == 0 || errno == ENOENT) {
        return true;
    }
    if (error != nullptr) {
        *error = "cannot remove the cgroup " + cgroup + ": " + std::strerror(errno);
    }
    return false;
}

bool CgroupRoot::kill_all(const std::string& cgroup) {
    return write_text(cgroup + "/cgroup.kill", "1");
}

}  // namespace supervisor::vmd
