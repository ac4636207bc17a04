// Every dependency points down (README, "Layout"): a file may include its own
// folder and the folders below it, never one above. This test reads the
// sources, so a new include that breaks the order fails here.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace {

namespace fs = std::filesystem;

// Higher numbers stand on lower ones; folders of one rank do not include each
// other. guest/ holds the ABI shared with the test image (boot progress
// codes): anyone may include it.
const std::map<std::string, int> kRank = {
    {"base", 0},     {"x86", 1},     {"storage", 2}, {"net", 2},        {"boot", 2},
    {"firmware", 2}, {"devices", 3}, {"vmm", 4},     {"supervisor", 5},
};

// "dir" for a line `#include "dir/file.h"`, else "".
std::string included_folder(const std::string& line) {
    const std::string directive = "#include \"";
    if (line.rfind(directive, 0) != 0) {
        return "";
    }
    const std::size_t start = directive.size();
    const std::size_t slash = line.find('/', start);
    const std::size_t quote = line.find('"', start);
    return slash < quote ? line.substr(start, slash - start) : "";
}

TEST(Layering, NoFolderIncludesOneAboveIt) {
    std::size_t files = 0;
    for (const auto& [folder, rank] : kRank) {
        if (!fs::exists(folder)) {
            continue;
        }
        for (const auto& entry : fs::recursive_directory_iterator(folder)) {
            const std::string ext = entry.path().extension();
            if (!entry.is_regular_file() || (ext != ".h" && ext != ".cpp")) {
                continue;
            }
            ++files;
            std::ifstream in(entry.path());
            std::string line;
            for (int n = 1; std::getline(in, line); ++n) {
                const std::string target = included_folder(line);
                if (target.empty() || target == "guest") {
                    continue;
                }
                const auto it = kRank.find(target);
                if (it == kRank.end()) {
                    continue;  // not a project folder
                }
                EXPECT_TRUE(target == folder || it->second < rank)
                    << entry.path().string() << ":" << n << " (" << folder << ") includes "
                    << target << "/, which is not below it";
            }
        }
    }
    EXPECT_GT(files, 100u) << "run from the repository root";
}

}  // namespace
