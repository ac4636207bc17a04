// vmctl run | list | show | start | stop | reboot | terminate | wait | console | ssh

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "base/error.h"
#include "supervisor/vmctl/commands.h"
#include "supervisor/vmctl/units.h"

namespace vmctl {

namespace {

using namespace std::chrono_literals;
using std::chrono::seconds;

// vmd's defaults (docs/vmd.md), used only to bound how long vmctl waits.
constexpr int kDefaultBootTimeoutS = 120;
constexpr int kDefaultStopTimeoutS = 30;
constexpr int kDefaultRebootTimeoutS = 60;
constexpr int kForceKillS = 5;  // SIGTERM to SIGKILL, after a forced stop's timeout
// vmd answers a ?wait=true action at most 10 s after the action's own timeout;
// what is left covers the way there and back.
constexpr int kWaitSlackS = 30;
constexpr auto kConsolePoll = 500ms;
constexpr int kConsolePollsPerStateCheck = 8;

const std::vector<std::string> kStates = {"pending",     "starting",   "running",
                                          "rebooting",   "stopping",   "stopped",
                                          "terminating", "terminated", "failed"};

struct RunOptions {
    std::string image;
    int count = 0;  // 0: not given, vmd's default
    bool persistent_root = false;
    int vcpus = 0;
    std::string memory;
    std::vector<std::string> volumes;
    std::string name;
    int boot_timeout_s = 0;
    std::string client_token;
    std::vector<std::string> ssh_key_files;
    std::string user_data_file;
    std::string ready_probe;
    bool wait = false;
};

struct SshOptions {
    std::string instance;
    std::string user = "root";
    std::string identity;
    std::vector<std::string> command;
};

struct ActionOptions {
    std::string instance;
    int timeout_s = 0;  // 0: not given
    bool force = false;
    bool hard = false;
    bool keep_root = false;
    bool no_wait = false;
    std::string state;  // for wait
    bool follow = false;
};

// Image names for the tables; ids are shown when vmd will not list images.
// A file the user names (a key, user-data), read with the user's own rights;
// InvalidInput naming the option when it cannot be read or is too large
// for a request.
std::string read_small_file(const std::string& path, const std::string& option) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw base::InvalidInput(option + ": cannot read " + path + ": " + std::strerror(errno));
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.size() > 48 * 1024) {
        throw base::InvalidInput(option + ": " + path + " is over 48 KiB");
    }
    return text;
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (!line.empty() && line[0] != '#') {
            out.push_back(line);
        }
    }
    return out;
}

// ~/.ssh/id_*.pub, sorted; none without a home.
std::vector<std::string> default_ssh_keys(const std::string& home) {
    std::vector<std::string> files;
    std::error_code ec;
    if (home.empty()) {
        return files;
    }
    for (const auto& e : std::filesystem::directory_iterator(home + "/.ssh", ec)) {
        const std::string name = e.path().filename();
        if (name.rfind("id_", 0) == 0 && name.size() > 7 &&
            name.compare(name.size() - 4, 4, ".pub") == 0) {
            files.push_back(e.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

// A file that lives as long as this object (the known_hosts `ssh` reads).
class TempFile {
  public:
    TempFile(const std::string& name, const std::string& content) {
        const char* dir = std::getenv("TMPDIR");
        std::string tmpl =
            std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/" + name + "-XXXXXX";
        const int fd = mkstemp(tmpl.data());
        if (fd < 0) {
            base::throw_errno("cannot create " + tmpl);
        }
        path_ = tmpl;
        const bool ok =
            write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
        close(fd);
        if (!ok) {
            unlink(path_.c_str());
            throw base::HostError("cannot write " + path_);
        }
    }
    ~TempFile() { unlink(path_.c_str()); }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

ImageNames names_for_table(Session& s) {
    if (s.output.format != Format::kTable) {
        return {};
    }
    try {
        return image_names(s.api.get("/v1/images"));
    } catch (const ApiError&) {
        return {};
    }
}

void print_one(Session& s, const nlohmann::json& instance) {
    print_instance(s.output, instance, names_for_table(s));
}

int boot_timeout_of(const nlohmann::json& instance) {
    const auto it = instance.find("boot_timeout_s");
    return it != instance.end() && it->is_number_integer() ? it->get<int>() : kDefaultBootTimeoutS;
}

// vmd's wait: the instance once it is in `state`; ApiError when it cannot
// come any more (409) or did not within `timeout_s` (408).
nlohmann::json wait_until(Session& s, const std::string& id, const std::string& state,
                          int timeout_s) {
    return s.api.get(
        resource_path("instances", id,
                      "/wait?state=" + state + "&timeout_s=" + std::to_string(timeout_s)),
        seconds(timeout_s + kWaitSlackS));
}

int run_instances(Session& s, const RunOptions& o) {
    nlohmann::json request{{"image", o.image}};
    if (o.count > 0) {
        request["count"] = o.count;
    }
    if (o.persistent_root) {
        request["persistent_root"] = true;
    }
    if (o.vcpus > 0) {
        request["vcpus"] = o.vcpus;
    }
    if (!o.memory.empty()) {
        request["memory_mib"] = parse_memory_mib("--memory", o.memory);
    }
    if (!o.volumes.empty()) {
        request["volumes"] = o.volumes;
    }
    if (!o.name.empty()) {
        request["name"] = o.name;
    }
    if (o.boot_timeout_s > 0) {
        request["boot_timeout_s"] = o.boot_timeout_s;
    }
    if (!o.client_token.empty()) {
        request["client_token"] = o.client_token;
    }
    std::vector<std::string> key_files = o.ssh_key_files;
    if (key_files.empty()) {
        key_files = default_ssh_keys(s.env.home);
    }
    std::vector<std::string> keys;
    for (const auto& file : key_files) {
        for (const auto& line : lines_of(read_small_file(file, "--ssh-key"))) {
            keys.push_back(line);
        }
    }
    if (!keys.empty()) {
        request["ssh_keys"] = keys;
    }
    if (!o.user_data_file.empty()) {
        request["user_data"] = read_small_file(o.user_data_file, "--user-data");
    }
    if (!o.ready_probe.empty()) {
        request["ready_probe"] = o.ready_probe;  // vmd checks it
    }
    nlohmann::json instances = s.api.post("/v1/instances", request).at("instances");
    int status = 0;
    if (o.wait) {
        // They boot in parallel: waiting for each in turn costs no more than the slowest.
        std::vector<std::string> problems;
        for (auto& instance : instances) {
            const std::string id = cell(instance, "id");
            try {
                instance = wait_until(s, id, "running", boot_timeout_of(instance) + kWaitSlackS);
            } catch (const ApiError& e) {
                instance = s.api.get(resource_path("instances", id));
                problems.push_back(cell(instance, "name") + " (" + id + "): " + e.what());
            }
        }
        print_instances(s.output, instances, names_for_table(s));
        for (const auto& p : problems) {
            s.env.err << "vmctl: " << p << '\n';
        }
        status = problems.empty() ? 0 : 1;
    } else {
        print_instances(s.output, instances, names_for_table(s));
    }
    return status;
}

// `vmctl ssh`: Debian's ssh client to the instance's address, the host key
// checked against the keys vmd made for it (never trust on first use).
int ssh_instance(Session& s, const SshOptions& o) {
    const auto instance = s.api.get(resource_path("instances", o.instance));
    const std::string id = cell(instance, "id");
    const auto address = instance.find("address");
    if (address == instance.end() || !address->is_string()) {
        throw ApiError(409, "instance " + id + " has no address: it is " + cell(instance, "state") +
                                " (an instance holds one while it runs; start it)");
    }
    const auto host_keys = instance.find("ssh_host_keys");
    if (host_keys == instance.end() || !host_keys->is_array() || host_keys->empty()) {
        throw ApiError(409, "vmd knows no SSH host key of instance " + id +
                                " (it makes them at its first start)");
    }
    std::string known;
    for (const auto& k : *host_keys) {
        known += address->get<std::string>() + " " + k.get<std::string>() + "\n";
    }
    TempFile known_hosts("vmctl-known-hosts", known);
    std::vector<std::string> argv = {"ssh",
                                     "-o",
                                     "StrictHostKeyChecking=yes",
                                     "-o",
                                     "UserKnownHostsFile=" + known_hosts.path(),
                                     "-o",
                                     "GlobalKnownHostsFile=/dev/null",
                                     "-o",
                                     "ConnectTimeout=10"};
    if (!o.identity.empty()) {
        argv.insert(argv.end(), {"-o", "IdentitiesOnly=yes", "-i", o.identity});
    }
    if (!s.env.err_is_terminal) {
        argv.insert(argv.end(), {"-o", "BatchMode=yes"});
    }
    argv.push_back(o.user + "@" + address->get<std::string>());
    if (!o.command.empty()) {
        argv.push_back("--");
        argv.insert(argv.end(), o.command.begin(), o.command.end());
    }
    if (!s.env.run_program) {
        throw base::InternalError("vmctl ssh without a way to run ssh");
    }
    return s.env.run_program(argv);
}

// POST /v1/instances/ID/VERB, by default with ?wait=true and an answer
// bounded by the action's own timeout plus the instance's boot timeout.
int act(Session& s, const ActionOptions& o, const std::string& verb, const nlohmann::json& body,
        int action_timeout_s) {
    std::string path = resource_path("instances", o.instance, "/" + verb);
    seconds bound = ApiClient::kDefaultTimeout;
    if (!o.no_wait) {
        const auto instance = s.api.get(resource_path("instances", o.instance));
        bound = seconds(action_timeout_s + boot_timeout_of(instance) + kWaitSlackS);
        path += "?wait=true";
    }
    print_one(s, s.api.post(path, body, bound));
    return 0;
}

int follow_console(Session& s, const ActionOptions& o) {
    std::uint64_t offset = 0;
    for (int idle = 0;;) {
        const HttpResponse r = s.api.get_text(
            resource_path("instances", o.instance, "/console?offset=" + std::to_string(offset)));
        s.output.out << r.body << std::flush;
        std::uint64_t next = offset + r.body.size();
        if (!r.console_offset.empty() &&
            r.console_offset.find_first_not_of("0123456789") == std::string::npos) {
            next = std::stoull(r.console_offset);
        }
        if (!o.follow) {
            return 0;
        }
        if (!r.body.empty()) {
            idle = 0;
        } else if (++idle % kConsolePollsPerStateCheck == 0 &&
                   cell(s.api.get(resource_path("instances", o.instance)), "state") ==
                       "terminated") {
            return 0;  // no more output can come
        }
        offset = next;
        if (r.body.empty()) {
            s.env.sleep(kConsolePoll);
        }
    }
}

CLI::App* instance_verb(CLI::App& app, const std::string& name, const std::string& help,
                        std::shared_ptr<ActionOptions> o) {
    auto* verb = app.add_subcommand(name, help);
    verb->add_option("ID", o->instance, "the instance's id or name")->required();
    return verb;
}

void add_no_wait(CLI::App* verb, const std::shared_ptr<ActionOptions>& o) {
    verb->add_flag("--no-wait", o->no_wait, "return once vmd has accepted the action");
}

}  // namespace

void add_instance_commands(CLI::App& app, Action& action) {
    auto r = std::make_shared<RunOptions>();
    auto* run = app.add_subcommand(
        "run", "create and start instances of an image, all or none, in parallel");
    run->add_option("--image", r->image, "the image's id or name")->required();
    run->add_option("--count", r->count, "how many (default 1)")->check(CLI::PositiveNumber);
    run->add_flag("--persistent-root", r->persistent_root,
                  "boot each from its own copy of the image, kept across stop and start "
                  "(default: an ephemeral copy-on-write root, lost at stop)");
    run->add_option("--vcpus", r->vcpus, "vCPUs each (default 1)")->check(CLI::PositiveNumber);
    run->add_option("--memory", r->memory, "memory each, in MiB or with a unit: 512, 1G")
        ->check(memory_validator("--memory"));
    run->add_option("--volume", r->volumes, "attach this volume (repeatable; with --count 1)")
        ->allow_extra_args(false);
    run->add_option("--name", r->name, "name them PREFIX-1, PREFIX-2, ... (one: PREFIX)");
    run->add_option("--boot-timeout", r->boot_timeout_s,
                    "seconds to reach ready before the boot counts as failed (default 120)")
        ->check(CLI::PositiveNumber);
    run->add_option("--client-token", r->client_token,
                    "repeat the same run with this token: the same instances come back, none more");
    run->add_option("--ssh-key", r->ssh_key_files,
                    "a public key file the instances let log in (repeatable; default: "
                    "~/.ssh/id_*.pub)");
    run->add_option("--user-data", r->user_data_file,
                    "cloud-init user-data for the instances: #cloud-config, a script, ...");
    run->add_option("--ready-probe", r->ready_probe,
                    "when they are running, instead of the image's probe: auto, debug-port, "
                    "tcp:PORT (a connect to their address) or none");
    run->add_flag("--wait", r->wait, "wait until all are running (exit 1 when one is not)");
    run->callback([r, &action] { action = [r](Session& s) { return run_instances(s, *r); }; });

    auto sh = std::make_shared<SshOptions>();
    auto* ssh = app.add_subcommand(
        "ssh", "log in to a running instance with ssh, its host key checked against vmd's");
    ssh->add_option("ID", sh->instance, "the instance's id or name")->required();
    ssh->add_option("COMMAND", sh->command, "a command to run there (after --)");
    ssh->add_option("--user,-l", sh->user, "the user to log in as")->capture_default_str();
    ssh->add_option("--identity,-i", sh->identity, "the private key to log in with");
    ssh->callback([sh, &action] { action = [sh](Session& s) { return ssh_instance(s, *sh); }; });

    app.add_subcommand("list", "list the instances (terminated ones for an hour)")
        ->callback([&action] {
            action = [](Session& s) {
                print_instances(s.output, s.api.get("/v1/instances"), names_for_table(s));
                return 0;
            };
        });

    auto o = std::make_shared<ActionOptions>();
    instance_verb(app, "show", "show everything about one instance", o)->callback([o, &action] {
        action = [o](Session& s) {
            print_instance_details(s.output, s.api.get(resource_path("instances", o->instance)),
                                   names_for_table(s));
            return 0;
        };
    });

    auto* start = instance_verb(app, "start", "start a stopped or failed instance", o);
    add_no_wait(start, o);
    start->callback([o, &action] {
        action = [o](Session& s) { return act(s, *o, "start", nlohmann::json::object(), 0); };
    });

    auto* stop =
        instance_verb(app, "stop", "press the power button and wait for the guest to power off", o);
    stop->add_option("--timeout", o->timeout_s, "seconds to wait (default 30)")
        ->check(CLI::PositiveNumber);
    stop->add_flag("--force", o->force,
                   "after the timeout, SIGTERM then SIGKILL the VMM instead of failing");
    add_no_wait(stop, o);
    stop->callback([o, &action] {
        action = [o](Session& s) {
            nlohmann::json body = nlohmann::json::object();
            if (o->timeout_s > 0) {
                body["timeout_s"] = o->timeout_s;
            }
            if (o->force) {
                body["force"] = true;
            }
            const int timeout = o->timeout_s > 0 ? o->timeout_s : kDefaultStopTimeoutS;
            return act(s, *o, "stop", body, timeout + kForceKillS);
        };
    });

    auto* reboot = instance_verb(app, "reboot",
                                 "reboot the guest in its VMM (Ctrl-Alt-Del; --hard: a reset)", o);
    reboot->add_flag("--hard", o->hard, "reset at once, without asking the guest");
    reboot
        ->add_option("--timeout", o->timeout_s,
                     "seconds the guest has to reboot before it is reset (default 60)")
        ->check(CLI::PositiveNumber);
    add_no_wait(reboot, o);
    reboot->callback([o, &action] {
        action = [o](Session& s) {
            nlohmann::json body = nlohmann::json::object();
            if (o->hard) {
                body["hard"] = true;
            }
            if (o->timeout_s > 0) {
                body["timeout_s"] = o->timeout_s;
            }
            return act(s, *o, "reboot", body,
                       o->timeout_s > 0 ? o->timeout_s : kDefaultRebootTimeoutS);
        };
    });

    auto* terminate = instance_verb(app, "terminate",
                                    "stop an instance for good and release everything it holds", o);
    terminate->add_flag("--force", o->force, "kill the VMM if the guest does not power off");
    terminate->add_flag("--keep-root", o->keep_root, "keep a persistent root's boot volume");
    terminate
        ->add_option("--timeout", o->timeout_s, "seconds the guest has to power off (default 30)")
        ->check(CLI::PositiveNumber);
    add_no_wait(terminate, o);
    terminate->callback([o, &action] {
        action = [o](Session& s) {
            nlohmann::json body = nlohmann::json::object();
            if (o->force) {
                body["force"] = true;
            }
            if (o->keep_root) {
                body["keep_root"] = true;
            }
            if (o->timeout_s > 0) {
                body["timeout_s"] = o->timeout_s;
            }
            const int timeout = o->timeout_s > 0 ? o->timeout_s : kDefaultStopTimeoutS;
            return act(s, *o, "terminate", body, timeout + kForceKillS);
        };
    });

    auto* wait = instance_verb(app, "wait", "wait until an instance is in a state", o);
    wait->add_option("--state", o->state, "the state to wait for")
        ->required()
        ->check(CLI::IsMember(kStates));
    wait->add_option("--timeout", o->timeout_s, "seconds to wait at most (default 120)")
        ->check(CLI::PositiveNumber);
    wait->callback([o, &action] {
        action = [o](Session& s) {
            const int timeout = o->timeout_s > 0 ? o->timeout_s : kDefaultBootTimeoutS;
            print_one(s, wait_until(s, o->instance, o->state, timeout));
            return 0;
        };
    });

    auto* console = instance_verb(app, "console",
                                  "print the serial console of every boot (kept per instance)", o);
    console->add_flag("-f,--follow", o->follow,
                      "keep printing what comes, until the instance is terminated (or Ctrl-C)");
    console->callback([o, &action] { action = [o](Session& s) { return follow_console(s, *o); }; });
}

}  // namespace vmctl
