#include "supervisor/vmctl/cli.h"

#include "supervisor/vmctl/commands.h"
#include "supervisor/vmctl/units.h"

namespace vmctl {

namespace {

CLI::Validator parser_validator(const std::string& option, const std::string& name,
                                std::function<void(const std::string&)> parse) {
    return CLI::Validator(
        [option, parse](std::string& text) {
            try {
                parse(text);
                return std::string();
            } catch (const base::InvalidInput& e) {
                return std::string(e.what());
            }
        },
        name);
}

}  // namespace

CLI::Validator size_validator(const std::string& option) {
    return parser_validator(option, "SIZE",
                            [option](const std::string& text) { parse_size(option, text); });
}

CLI::Validator memory_validator(const std::string& option) {
    return parser_validator(option, "MIB",
                            [option](const std::string& text) { parse_memory_mib(option, text); });
}

std::string resource_path(const std::string& collection, const std::string& id,
                          const std::string& rest) {
    return "/v1/" + collection + "/" + escape_segment(id) + rest;
}

int print_deleted(Session& s, const nlohmann::json& answer, const std::string& given) {
    if (s.output.format == Format::kJson) {
        s.output.out << answer.dump(2) << '\n';
    } else {
        s.output.out << (answer.contains("id") ? cell(answer, "id") : given) << '\n';
    }
    return 0;
}

int run_vmctl(const std::vector<std::string>& args, Environment& env) {
    CLI::App app{
        "vmctl: run virtual machines on this host and manage their images and volumes, "
        "through vmd's API (docs/vmd.md)",
        "vmctl"};
    app.require_subcommand(1);
    app.fallthrough();  // global options also after the verb: `vmctl list --json`
    app.footer(
        "Exit status: 0 done, 1 refused or failed (vmd's reason on stderr), 2 a usage error.\n"
        "Run `vmctl VERB --help` for a verb's options.");
    std::string socket;
    bool json = false;
    bool quiet = false;
    app.add_option(
        "--socket", socket,
        std::string("vmd's API socket (default: $VMCTL_SOCKET, else ") + kDefaultSocket + ")");
    auto* json_flag = app.add_flag("--json", json, "print vmd's JSON objects, for scripts");
    auto* quiet_flag = app.add_flag("-q,--quiet", quiet, "print ids only, one per line");
    json_flag->excludes(quiet_flag);

    Action action;
    add_image_commands(app, action);
    add_volume_commands(app, action);
    add_instance_commands(app, action);
    add_usage_commands(app, action);

    std::vector<const char*> argv{"vmctl"};
    for (const auto& a : args) {
        argv.push_back(a.c_str());
    }
    try {
        app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
        return app.exit(e, env.out, env.err) == 0 ? 0 : 2;
    }
    if (!action) {
        // A verb group without its verb (`vmctl image`): CLI11 requires one,
        // so this is only reached if a group forgot to set its action.
        env.err << "vmctl: no verb given; run vmctl --help\n";
        return 2;
    }
    if (socket.empty()) {
        socket = env.socket_variable.empty() ? kDefaultSocket : env.socket_variable;
    }
    try {
        std::unique_ptr<Transport> transport = env.connect(socket);
        ApiClient api(*transport);
        Session session{api,
                        {json    ? Format::kJson
                         : quiet ? Format::kQuiet
                                 : Format::kTable,
                         env.out},
                        env};
        return action(session);
    } catch (const base::InvalidInput& e) {
        env.err << "vmctl: " << e.what() << '\n';
        return 2;
    } catch (const base::Error& e) {
        env.err << "vmctl: " << e.what() << '\n';
        return 1;
    } catch (const nlohmann::json::exception& e) {
        env.err << "vmctl: vmd's answer is not what this vmctl expects (" << e.what()
                << "); are vmd and vmctl the same version?\n";
        return 1;
    }
}

}  // namespace vmctl
