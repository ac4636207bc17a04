#pragma once
// What the verb groups share: the session a verb runs in and how each
// group adds its verbs to the command line.

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <string>

#include "supervisor/vmctl/api_client.h"
#include "supervisor/vmctl/cli.h"
#include "supervisor/vmctl/views.h"

namespace vmctl {

struct Session {
    ApiClient& api;
    Output output;
    Environment& env;
};

// The verb the command line chose, run once parsing is done; returns the exit status.
using Action = std::function<int(Session&)>;

// Each adds its verbs (and their options) to `app`; the verb that is
// parsed stores its work in `action`.
void add_image_commands(CLI::App& app, Action& action);
void add_volume_commands(CLI::App& app, Action& action);
void add_instance_commands(CLI::App& app, Action& action);
void add_usage_commands(CLI::App& app, Action& action);

// A CLI11 check that runs one of units.h's parsers on the option's text.
CLI::Validator size_validator(const std::string& option);
CLI::Validator memory_validator(const std::string& option);

// After a DELETE: vmd's answer with --json, else the id (or what the user gave).
int print_deleted(Session& s, const nlohmann::json& answer, const std::string& given);

// "/v1/<collection>/<escaped id or name><rest>"
std::string resource_path(const std::string& collection, const std::string& id,
                          const std::string& rest = "");

}  // namespace vmctl
