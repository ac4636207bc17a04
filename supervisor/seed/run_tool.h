#pragma once
// Runs one of the host's tools (ssh-keygen, mkfs.vfat, mcopy) the way the
// seed builder needs it: argv only, never a shell; stdout and stderr
// gathered; a time limit after which it is killed.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace seed {

struct ToolResult {
    int status = -1;     // exit status; -1 when killed by a signal
    std::string output;  // stdout and stderr together
};

// Runs argv[0] (looked up in PATH) with `env` added to the environment.
// Throws HostError when it cannot be started or runs past `limit` (it is
// then killed), naming the tool and the Debian package that has it.
ToolResult run_tool(const std::vector<std::string>& argv, const std::string& package,
                    std::chrono::milliseconds limit,
                    const std::vector<std::pair<std::string, std::string>>& env = {});

// As run_tool, and throws HostError with the tool's output unless it exits 0.
std::string run_tool_checked(const std::vector<std::string>& argv, const std::string& package,
                             std::chrono::milliseconds limit,
                             const std::vector<std::pair<std::string, std::string>>& env = {});

}  // namespace seed
