// vmctl's command line against canned vmd answers: which requests each verb
// sends, what it prints, and its exit status (0 done, 1 refused, 2 usage).

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "supervisor/vmctl/cli.h"

namespace vmctl {
namespace {

using nlohmann::json;

// Answers requests from a script of canned answers ("METHOD /path" ->
// answers in order; the last one repeats) and records every request.
class CannedVmd {
  public:
    void answer(const std::string& request, int status, const json& body,
                std::string console_offset = "") {
        answers_[request].push_back({status, body.dump(), std::move(console_offset)});
    }
    void answer_text(const std::string& request, int status, std::string body,
                     std::string console_offset = "") {
        answers_[request].push_back({status, std::move(body), std::move(console_offset)});
    }
    HttpResponse send(const HttpRequest& request) {
        requests.push_back(request);
        auto it = answers_.find(request.method + " " + request.path);
        if (it == answers_.end()) {
            return {404, R"({"error": "no canned answer"})", ""};
        }
        HttpResponse r = it->second.front();
        if (it->second.size() > 1) {
            it->second.pop_front();
        }
        return r;
    }
    std::vector<std::string> request_lines() const {
        std::vector<std::string> lines;
        for (const auto& r : requests) {
            lines.push_back(r.method + " " + r.path);
        }
        return lines;
    }
    std::vector<HttpRequest> requests;

  private:
    std::map<std::string, std::deque<HttpResponse>> answers_;
};

class ForwardingTransport : public Transport {
  public:
    explicit ForwardingTransport(CannedVmd& vmd) : vmd_(vmd) {}
    HttpResponse send(const HttpRequest& request) override { return vmd_.send(request); }

  private:
    CannedVmd& vmd_;
};

struct Result {
    int status;
    std::string out;
    std::string err;
};

json instance(const std::string& id, const std::string& name, const std::string& state,
              bool persistent = false) {
    return {{"id", id},
            {"name", name},
            {"owner", 1000},
            {"state", state},
            {"reason", nullptr},
            {"last_error", nullptr},
            {"image", "img-0123456789ab"},
            {"persistent", persistent},
            {"boot_volume", nullptr},
            {"volumes", json::array()},
            {"vcpus", 1},
            {"memory_mib", 256},
            {"boot_timeout_s", 120},
            {"address", nullptr},
            {"disk_errors", json::array()}};
}

const json kImages = json::array({{{"id", "img-0123456789ab"},
                                   {"name", "base"},
                                   {"state", "available"},
                                   {"progress", 1.0},
                                   {"format", "raw"},
                                   {"size_bytes", 128ull << 20},
                                   {"kernel", nullptr},
                                   {"reason", nullptr}}});

class VmctlCli : public ::testing::Test {
  protected:
    Result vmctl(std::vector<std::string> args) {
        std::ostringstream out, err;
        Environment env{out,
                        err,
                        [this](const std::string& socket) {
                            sockets.push_back(socket);
                            return std::make_unique<ForwardingTransport>(vmd);
                        },
                        socket_variable,
                        "/home/user/work",
                        terminal,
                        [this](std::chrono::milliseconds d) { slept += d; },
                        home,
                        [this](const std::vector<std::string>& argv) {
                            programs.push_back(argv);
                            if (!argv.empty()) {
                                for (const auto& a : argv) {
                                    if (a.rfind("UserKnownHostsFile=", 0) == 0) {
                                        std::ifstream in(a.substr(19));
                                        std::stringstream text;
                                        text << in.rdbuf();
                                        known_hosts = text.str();
                                    }
                                }
                            }
                            return program_status;
                        }};
        const int status = run_vmctl(args, env);
        return {status, out.str(), err.str()};
    }
    json body_of(std::size_t request) { return json::parse(vmd.requests.at(request).body); }

    CannedVmd vmd;
    std::vector<std::string> sockets;
    std::string socket_variable;
    bool terminal = false;
    std::chrono::milliseconds slept{0};
    std::string home;
    std::vector<std::vector<std::string>> programs;
    std::string known_hosts;
    int program_status = 0;
};

// A scratch directory, removed at the end.
struct TempDir {
    TempDir() {
        char tmpl[] = "/tmp/vmctl-test-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string write(const std::string& name, const std::string& text) const {
        const std::string file = path + "/" + name;
        std::filesystem::create_directories(std::filesystem::path(file).parent_path());
        std::ofstream(file) << text;
        return file;
    }
    std::string path;
};

TEST_F(VmctlCli, UsageErrorsExitWith2AndSendNothing) {
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {},
             {"explode"},
             {"image"},
             {"run"},
             {"run", "--image", "base", "--count", "0"},
             {"run", "--image", "base", "--count", "many"},
             {"run", "--image", "base", "--memory", "1000K"},
             {"run", "--image", "base", "--volume", "a", "b"},
             {"list", "--json", "-q"},
             {"volume", "create", "data", "--size", "10X"},
             {"volume", "create", "data"},
             {"wait", "i-1", "--state", "asleep"},
             {"wait", "i-1"},
             {"stop"},
             {"stop", "i-1", "--timeout", "-3"},
             {"image", "import", "base", "/no/such/file.raw"},
         }) {
        std::string joined;
        for (const auto& a : args) {
            joined += a + " ";
        }
        const Result r = vmctl(args);
        EXPECT_EQ(r.status, 2) << joined << "\n" << r.err;
        EXPECT_FALSE(r.err.empty()) << joined;
    }
    EXPECT_TRUE(vmd.requests.empty());
    EXPECT_NE(vmctl({"volume", "create", "d", "--size", "10X"}).err.find("--size wants a size"),
              std::string::npos);
}

TEST_F(VmctlCli, EveryVerbHasHelp) {
    for (const std::vector<std::string>& verb : std::vector<std::vector<std::string>>{
             {},
             {"image"},
             {"image", "import"},
             {"image", "list"},
             {"image", "delete"},
             {"volume"},
             {"volume", "create"},
             {"volume", "list"},
             {"volume", "delete"},
             {"volume", "attach"},
             {"volume", "detach"},
             {"run"},
             {"list"},
             {"show"},
             {"start"},
             {"stop"},
             {"reboot"},
             {"terminate"},
             {"wait"},
             {"console"},
             {"ssh"},
         }) {
        auto args = verb;
        args.push_back("--help");
        const Result r = vmctl(args);
        EXPECT_EQ(r.status, 0) << args.front() << ": " << r.err;
        EXPECT_NE(r.out.find("Usage:"), std::string::npos) << r.out;
    }
    EXPECT_NE(vmctl({"run", "--help"}).out.find("--persistent-root"), std::string::npos);
    EXPECT_NE(vmctl({"stop", "--help"}).out.find("--force"), std::string::npos);
    EXPECT_NE(vmctl({"--help"}).out.find("Exit status: 0 done, 1 refused"), std::string::npos);
    EXPECT_TRUE(vmd.requests.empty());
}

TEST_F(VmctlCli, TheSocketComesFromTheOptionElseTheVariableElseTheDefault) {
    vmd.answer("GET /v1/instances", 200, json::array());
    vmd.answer("GET /v1/images", 200, kImages);
    ASSERT_EQ(vmctl({"list"}).status, 0);
    socket_variable = "/tmp/from-variable.sock";
    ASSERT_EQ(vmctl({"list"}).status, 0);
    ASSERT_EQ(vmctl({"--socket", "/tmp/option.sock", "list"}).status, 0);
    ASSERT_EQ(vmctl({"list", "--socket", "/tmp/after.sock"}).status, 0);
    EXPECT_EQ(sockets, (std::vector<std::string>{kDefaultSocket, "/tmp/from-variable.sock",
                                                 "/tmp/option.sock", "/tmp/after.sock"}));
}

TEST_F(VmctlCli, RunSendsWhatWasGivenAndListsTheNewInstances) {
    vmd.answer(
        "POST /v1/instances", 201,
        {{"instances", json::array({instance("i-000000000001", "web-1", "pending", true),
                                    instance("i-000000000002", "web-2", "pending", true),
                                    instance("i-000000000003", "web-3", "pending", true)})}});
    vmd.answer("GET /v1/images", 200, kImages);
    const Result r = vmctl({"run",
                            "--image",
                            "base",
                            "--count",
                            "3",
                            "--persistent-root",
                            "--vcpus",
                            "2",
                            "--memory",
                            "1G",
                            "--volume",
                            "data",
                            "--volume",
                            "logs",
                            "--name",
                            "web",
                            "--boot-timeout",
                            "90",
                            "--client-token",
                            "tok-1"});
    ASSERT_EQ(r.status, 0) << r.err;
    ASSERT_EQ(vmd.request_lines().front(), "POST /v1/instances");
    EXPECT_EQ(body_of(0), json::parse(R"({"image": "base", "count": 3, "persistent_root": true,
        "vcpus": 2, "memory_mib": 1024, "volumes": ["data", "logs"], "name": "web",
        "boot_timeout_s": 90, "client_token": "tok-1"})"));
    EXPECT_EQ(r.out,
              "ID              NAME   STATE    IMAGE  ROOT        VCPUS  MEMORY   ADDRESS  REASON\n"
              "i-000000000001  web-1  pending  base   persistent  1      256 MiB  -\n"
              "i-000000000002  web-2  pending  base   persistent  1      256 MiB  -\n"
              "i-000000000003  web-3  pending  base   persistent  1      256 MiB  -\n");
}

TEST_F(VmctlCli, RunSendsTheKeysAndUserDataFilesAndDefaultsToTheCallersKeys) {
    const TempDir dir;
    const std::string mine = dir.write("k1.pub", "ssh-ed25519 AAAA1 me@here\n");
    const std::string user_data = dir.write("ud", "#!/bin/sh\necho hi\n");
    dir.write("home/.ssh/id_ed25519.pub", "ssh-ed25519 AAAA2 default@home\n");
    dir.write("home/.ssh/id_rsa.pub", "ssh-rsa AAAA3 rsa@home\n");
    dir.write("home/.ssh/id_ed25519", "PRIVATE");
    dir.write("home/.ssh/authorized_keys.pub", "ssh-rsa AAAA4 not-mine\n");
    home = dir.path + "/home";
    vmd.answer("POST /v1/instances", 201,
               {{"instances", json::array({instance("i-1", "i-1", "pending")})}});
    Result r = vmctl({"-q", "run", "--image", "base", "--ssh-key", mine, "--user-data", user_data});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(body_of(0),
              json::parse(R"({"image": "base", "ssh_keys": ["ssh-ed25519 AAAA1 me@here"],
        "user_data": "#!/bin/sh\necho hi\n"})"));
    r = vmctl({"-q", "run", "--image", "base"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(body_of(1)["ssh_keys"],
              json::parse(R"(["ssh-ed25519 AAAA2 default@home", "ssh-rsa AAAA3 rsa@home"])"))
        << "~/.ssh/id_*.pub";
    r = vmctl({"run", "--image", "base", "--ssh-key", dir.path + "/missing.pub"});
    EXPECT_NE(r.status, 0);
    EXPECT_EQ(vmd.requests.size(), 2u) << "nothing sent for a key that cannot be read";
}

TEST_F(VmctlCli, RunAndImportSendTheReadyProbeAndShowVmdsRefusal) {
    vmd.answer("POST /v1/instances", 201,
               {{"instances", json::array({instance("i-1", "i-1", "pending")})}});
    Result r = vmctl({"-q", "run", "--image", "base", "--ready-probe", "tcp:8022"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(body_of(0)["ready_probe"], "tcp:8022");
    r = vmctl({"-q", "run", "--image", "base"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(body_of(1).contains("ready_probe")) << "the image's probe unless one is given";

    vmd.answer("POST /v1/images", 400,
               {{"error",
                 "ready_probe must be auto, debug-port, tcp:PORT (PORT 1..65535) or "
                 "none, not 'ping'"}});
    const std::string file = testing::TempDir() + "vmctl-import-probe.raw";
    std::ofstream(file) << "disk";
    r = vmctl({"image", "import", "base", file, "--ready-probe", "ping"});
    EXPECT_EQ(body_of(2)["ready_probe"], "ping");
    EXPECT_EQ(r.status, 1) << "vmd refused it";
    EXPECT_NE(r.err.find("ready_probe must be auto, debug-port, tcp:PORT"), std::string::npos)
        << r.err;
    std::remove(file.c_str());
}

TEST_F(VmctlCli, SshRunsTheClientWithTheHostKeysVmdMade) {
    json running = instance("i-1", "web", "running");
    running["address"] = "198.18.0.2";
    running["ssh_host_keys"] = {"ssh-ed25519 AAAAHOST root@i-1"};
    vmd.answer("GET /v1/instances/web", 200, running);
    program_status = 3;
    const Result r = vmctl({"ssh", "web", "-i", "/k/id", "--", "uname", "-a"});
    EXPECT_EQ(r.status, 3) << "ssh's own status";
    ASSERT_EQ(programs.size(), 1u);
    const auto& argv = programs[0];
    EXPECT_EQ(argv.front(), "ssh");
    const auto has = [&](const std::string& a) {
        return std::find(argv.begin(), argv.end(), a) != argv.end();
    };
    EXPECT_TRUE(has("StrictHostKeyChecking=yes"));
    EXPECT_TRUE(has("/k/id"));
    const auto at = std::find(argv.begin(), argv.end(), "root@198.18.0.2");
    ASSERT_NE(at, argv.end());
    EXPECT_EQ(std::vector<std::string>(at + 1, argv.end()),
              (std::vector<std::string>{"--", "uname", "-a"}));
    EXPECT_EQ(known_hosts, "198.18.0.2 ssh-ed25519 AAAAHOST root@i-1\n");

    json stopped = instance("i-2", "db", "stopped");
    stopped["ssh_host_keys"] = {"ssh-ed25519 AAAAHOST root@i-2"};
    vmd.answer("GET /v1/instances/db", 200, stopped);
    const Result refused = vmctl({"ssh", "db"});
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("has no address: it is stopped"), std::string::npos) << refused.err;
    EXPECT_EQ(programs.size(), 1u);
}

TEST_F(VmctlCli, RunLeavesDefaultsToVmd) {
    vmd.answer("POST /v1/instances", 201,
               {{"instances", json::array({instance("i-1", "i-1", "pending")})}});
    const Result r = vmctl({"-q", "run", "--image", "base"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(body_of(0), json::parse(R"({"image": "base"})"));
    EXPECT_EQ(r.out, "i-1\n");
}

TEST_F(VmctlCli, RunThatDoesNotFitIsRefusedWithVmdsReason) {
    vmd.answer("POST /v1/instances", 409,
               {{"error", "not enough memory for 64 instances: 20480 MiB asked, 2048 MiB free"}});
    const Result r = vmctl({"run", "--image", "base", "--count", "64"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "vmctl: not enough memory for 64 instances: 20480 MiB asked, 2048 MiB free\n");
    EXPECT_EQ(r.out, "");
}

TEST_F(VmctlCli, RunWaitWaitsForEachAndFailsWhenOneDoesNotRun) {
    vmd.answer("POST /v1/instances", 201,
               {{"instances", json::array({instance("i-1", "a-1", "pending"),
                                           instance("i-2", "a-2", "pending")})}});
    vmd.answer("GET /v1/instances/i-1/wait?state=running&timeout_s=150", 200,
               instance("i-1", "a-1", "running"));
    vmd.answer("GET /v1/instances/i-2/wait?state=running&timeout_s=150", 409,
               {{"error", "i-2 is failed (guest kernel panic): it cannot become running"}});
    json failed = instance("i-2", "a-2", "failed");
    failed["reason"] = "guest kernel panic";
    vmd.answer("GET /v1/instances/i-2", 200, failed);
    const Result r = vmctl({"--json", "run", "--image", "base", "--count", "2", "--wait"});
    EXPECT_EQ(r.status, 1);
    const json printed = json::parse(r.out);
    ASSERT_EQ(printed.size(), 2u);
    EXPECT_EQ(printed[0]["state"], "running");
    EXPECT_EQ(printed[1]["state"], "failed");
    EXPECT_EQ(printed[1]["reason"], "guest kernel panic");
    EXPECT_NE(r.err.find("a-2 (i-2): i-2 is failed (guest kernel panic)"), std::string::npos)
        << r.err;
    EXPECT_GE(vmd.requests[1].timeout.count(), 150) << "the client waits as long as vmd may";
}

TEST_F(VmctlCli, ListShowsATableWithImageNamesAndWhatWentWrong) {
    json failed = instance("i-000000000002", "db", "failed", true);
    failed["reason"] = "guest kernel panic";
    json stuck = instance("i-000000000003", "stubborn", "running");
    stuck["last_error"] = "stop timed out after 5 s";
    stuck["image"] = "img-gone";
    stuck["address"] = "198.18.0.3";
    vmd.answer("GET /v1/instances", 200,
               json::array({instance("i-000000000001", "web", "running"), failed, stuck}));
    vmd.answer("GET /v1/images", 200, kImages);
    const Result r = vmctl({"list"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(
        r.out,
        "ID              NAME      STATE    IMAGE     ROOT        VCPUS  MEMORY   ADDRESS     "
        "REASON\n"
        "i-000000000001  web       running  base      ephemeral   1      256 MiB  -\n"
        "i-000000000002  db        failed   base      persistent  1      256 MiB  -           "
        "guest kernel panic\n"
        "i-000000000003  stubborn  running  img-gone  ephemeral   1      256 MiB  198.18.0.3  "
        "stop timed out after 5 s\n");
}

TEST_F(VmctlCli, JsonPrintsVmdsObjectsAndQuietTheIds) {
    const json all =
        json::array({instance("i-1", "a", "running"), instance("i-2", "b", "stopped")});
    vmd.answer("GET /v1/instances", 200, all);
    const Result j = vmctl({"list", "--json"});
    ASSERT_EQ(j.status, 0);
    EXPECT_EQ(json::parse(j.out), all);
    const Result q = vmctl({"-q", "list"});
    EXPECT_EQ(q.out, "i-1\ni-2\n");
    EXPECT_EQ(vmd.request_lines(),
              (std::vector<std::string>{"GET /v1/instances", "GET /v1/instances"}))
        << "image names are fetched for tables only";
}

TEST_F(VmctlCli, ShowPrintsEveryFieldAndTheDiskErrors) {
    json i = instance("i-1", "web", "running", true);
    i["boot_volume"] = "vol-000000000001";
    i["disk_errors"] = json::array({{{"disk", "vol-000000000002"},
                                     {"op", "read"},
                                     {"error", "Input/output error"},
                                     {"count", 3}}});
    i["meter"] = {{"cpu_s", 12}};
    vmd.answer("GET /v1/instances/web", 200, i);
    vmd.answer("GET /v1/images", 200, kImages);
    const Result r = vmctl({"show", "web"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("id:             i-1\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("image:          base (img-0123456789ab)\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("root:           persistent\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("memory:         256 MiB\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("disk_errors:    count=3 disk=vol-000000000002 "
                         "error=Input/output error op=read\n"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("meter:          cpu_s=12\n"), std::string::npos)
        << "fields vmd adds later are shown too: " << r.out;
}

TEST_F(VmctlCli, NamesAreEscapedInPaths) {
    vmd.answer("GET /v1/instances/a%20b%2Fc%3F", 200, instance("i-1", "a b/c?", "running"));
    EXPECT_EQ(vmctl({"--json", "show", "a b/c?"}).status, 0);
    EXPECT_EQ(vmd.request_lines(), std::vector<std::string>{"GET /v1/instances/a%20b%2Fc%3F"});
}

TEST_F(VmctlCli, StopWaitsForTheResultAndReportsATimeoutAsRefused) {
    vmd.answer("GET /v1/instances/web", 200, instance("i-1", "web", "running"));
    vmd.answer("POST /v1/instances/web/stop?wait=true", 409,
               {{"error",
                 "stop timed out after 5 s: the guest ignored the ACPI power button; "
                 "use stop --force or terminate"}});
    const Result r = vmctl({"stop", "web", "--timeout", "5"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err,
              "vmctl: stop timed out after 5 s: the guest ignored the ACPI power button; use stop "
              "--force or terminate\n");
    EXPECT_EQ(body_of(1), json::parse(R"({"timeout_s": 5})"));
    // 5 s to stop, 5 more to kill, the boot timeout, and the way there and back.
    EXPECT_GE(vmd.requests[1].timeout.count(), 5 + 5 + 10);
}

TEST_F(VmctlCli, ForcedStopSucceedsAndPrintsTheInstance) {
    vmd.answer("GET /v1/instances/web", 200, instance("i-1", "web", "running"));
    vmd.answer("POST /v1/instances/web/stop?wait=true", 200, instance("i-1", "web", "stopped"));
    const Result r = vmctl({"-q", "stop", "--force", "web"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "i-1\n");
    EXPECT_EQ(body_of(1), json::parse(R"({"force": true})"));
}

TEST_F(VmctlCli, ActionsSendTheirOptionsAndNoWaitSkipsTheWait) {
    vmd.answer("POST /v1/instances/web/start", 202, instance("i-1", "web", "starting"));
    EXPECT_EQ(vmctl({"-q", "start", "web", "--no-wait"}).status, 0);
    EXPECT_EQ(vmd.request_lines(), std::vector<std::string>{"POST /v1/instances/web/start"});
    EXPECT_EQ(body_of(0), json::object());

    vmd.answer("GET /v1/instances/web", 200, instance("i-1", "web", "running"));
    vmd.answer("POST /v1/instances/web/reboot?wait=true", 200, instance("i-1", "web", "running"));
    EXPECT_EQ(vmctl({"-q", "reboot", "web", "--hard"}).status, 0);
    EXPECT_EQ(body_of(2), json::parse(R"({"hard": true})"));

    vmd.answer("POST /v1/instances/web/terminate?wait=true", 200,
               instance("i-1", "web", "terminated"));
    EXPECT_EQ(vmctl({"-q", "terminate", "web", "--force", "--keep-root", "--timeout", "7"}).status,
              0);
    EXPECT_EQ(body_of(4), json::parse(R"({"force": true, "keep_root": true, "timeout_s": 7})"));
}

TEST_F(VmctlCli, WaitAsksVmdAndATimeoutIsAFailure) {
    vmd.answer("GET /v1/instances/web/wait?state=stopped&timeout_s=9", 408,
               {{"error", "web is still running after 9 s"}});
    const Result r = vmctl({"wait", "web", "--state", "stopped", "--timeout", "9"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "vmctl: web is still running after 9 s\n");
    EXPECT_GE(vmd.requests[0].timeout.count(), 9 + 10);

    vmd.answer("GET /v1/instances/web/wait?state=running&timeout_s=120", 200,
               instance("i-1", "web", "running"));
    EXPECT_EQ(vmctl({"-q", "wait", "web", "--state", "running"}).out, "i-1\n");
}

TEST_F(VmctlCli, ImportSendsAbsolutePathsAndFollowsTheProgress) {
    const std::string file = testing::TempDir() + "vmctl-import.raw";
    std::ofstream(file) << "disk";
    json importing = kImages[0];
    importing["state"] = "importing";
    importing["progress"] = 0.25;
    vmd.answer("POST /v1/images", 202, importing);
    importing["progress"] = 0.5;
    vmd.answer("GET /v1/images/img-0123456789ab", 200, importing);
    vmd.answer("GET /v1/images/img-0123456789ab", 200, kImages[0]);
    terminal = true;
    // A relative kernel path is resolved against vmctl's working directory,
    // not vmd's; it must exist here (the unit tests run from the repository).
    const Result r = vmctl({"image", "import", "base", file, "--kernel", "Makefile", "--cmdline",
                            "console=ttyS0 root=/dev/vda rw"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(body_of(0), (json{{"name", "base"},
                                {"path", file},
                                {"kernel", "/home/user/work/Makefile"},
                                {"cmdline", "console=ttyS0 root=/dev/vda rw"}}));
    EXPECT_EQ(vmd.request_lines().size(), 3u);
    EXPECT_NE(r.err.find("[#######"), std::string::npos) << "a progress bar: " << r.err;
    EXPECT_NE(r.err.find(" 50%"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("100%"), std::string::npos) << r.err;
    EXPECT_NE(r.out.find("base  available"), std::string::npos) << r.out;
    EXPECT_GT(slept.count(), 0);
    std::remove(file.c_str());
}

TEST_F(VmctlCli, AFailedImportExitsWith1AndItsReason) {
    const std::string file = testing::TempDir() + "vmctl-import-bad.qcow2";
    std::ofstream(file) << "not qcow2";
    json failed = kImages[0];
    failed["state"] = "failed";
    failed["reason"] = "qemu-img convert failed: Image is not in qcow2 format";
    vmd.answer("POST /v1/images", 202, failed);
    const Result r = vmctl({"image", "import", "bad", file});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err,
              "vmctl: importing bad failed: qemu-img convert failed: Image is not in "
              "qcow2 format\n");
    EXPECT_EQ(r.err.find('['), std::string::npos) << "no progress bar off a terminal";
    std::remove(file.c_str());
}

TEST_F(VmctlCli, AnImportThatNeverEndsIsGivenUpAtTheTimeout) {
    const std::string file = testing::TempDir() + "vmctl-import-slow.raw";
    std::ofstream(file) << "disk";
    json importing = kImages[0];
    importing["state"] = "importing";
    vmd.answer("POST /v1/images", 202, importing);
    vmd.answer("GET /v1/images/img-0123456789ab", 200, importing);
    const Result r = vmctl({"image", "import", "slow", file, "--timeout", "2"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("still importing after 2 s"), std::string::npos) << r.err;
    EXPECT_LE(slept.count(), 2000);
    std::remove(file.c_str());
}

TEST_F(VmctlCli, VolumesAreCreatedWithTheirSizeInBytesAndAttachedByName) {
    const json vol{{"id", "vol-1"},        {"name", "data"},
                   {"state", "available"}, {"size_bytes", 10ull << 30},
                   {"instance", nullptr},  {"boot", false}};
    vmd.answer("POST /v1/volumes", 201, vol);
    const Result c = vmctl({"volume", "create", "data", "--size", "10G"});
    ASSERT_EQ(c.status, 0) << c.err;
    EXPECT_EQ(body_of(0), json::parse(R"({"name": "data", "size_bytes": 10737418240})"));
    EXPECT_EQ(c.out,
              "ID     NAME  STATE      SIZE    INSTANCE  BOOT\n"
              "vol-1  data  available  10 GiB  -         no\n");

    vmd.answer("POST /v1/volumes/data/attach", 200, vol);
    vmd.answer("POST /v1/volumes/data/detach", 200, vol);
    vmd.answer("DELETE /v1/volumes/data", 200, json::object());
    EXPECT_EQ(vmctl({"volume", "attach", "data", "web"}).status, 0);
    EXPECT_EQ(body_of(1), json::parse(R"({"instance": "web"})"));
    EXPECT_EQ(vmctl({"volume", "detach", "data"}).status, 0);
    EXPECT_EQ(body_of(2), json::object());
    const Result d = vmctl({"volume", "delete", "data"});
    EXPECT_EQ(d.status, 0);
    EXPECT_EQ(d.out, "data\n");
}

// docs/vmd.md, vmctl: --json prints "an array for list, run and the lists,
// one object for show and the actions", so that a script reads a field of
// what it just made or changed without unwrapping a list of one.
TEST_F(VmctlCli, JsonPrintsOneObjectForAVerbOnOneResource) {
    const std::string file = testing::TempDir() + "vmctl-import-json.raw";
    std::ofstream(file) << "disk";
    vmd.answer("POST /v1/images", 202, kImages[0]);
    const Result imported = vmctl({"--json", "image", "import", "base", file});
    ASSERT_EQ(imported.status, 0) << imported.err;
    EXPECT_EQ(json::parse(imported.out), kImages[0]);
    std::remove(file.c_str());

    const json vol{{"id", "vol-1"}, {"name", "data"}, {"state", "available"}};
    vmd.answer("POST /v1/volumes", 201, vol);
    EXPECT_EQ(json::parse(vmctl({"--json", "volume", "create", "data", "--size", "1G"}).out), vol);
    vmd.answer("POST /v1/volumes/data/attach", 200, vol);
    EXPECT_EQ(json::parse(vmctl({"--json", "volume", "attach", "data", "web"}).out), vol);

    const json stopped = instance("i-1", "web", "stopped");
    vmd.answer("GET /v1/instances/web", 200, instance("i-1", "web", "running"));
    vmd.answer("POST /v1/instances/web/stop?wait=true", 200, stopped);
    EXPECT_EQ(json::parse(vmctl({"--json", "stop", "web"}).out), stopped);
    vmd.answer("GET /v1/instances/web/wait?state=stopped&timeout_s=120", 200, stopped);
    EXPECT_EQ(json::parse(vmctl({"--json", "wait", "web", "--state", "stopped"}).out), stopped);

    // The lists stay lists, even of one.
    vmd.answer("GET /v1/volumes", 200, json::array({vol}));
    EXPECT_EQ(json::parse(vmctl({"--json", "volume", "list"}).out), json::array({vol}));
}

TEST_F(VmctlCli, ARefusedDeleteSaysWhy) {
    vmd.answer("DELETE /v1/images/base", 409,
               {{"error", "image base is used by instance web (running); terminate it first"}});
    const Result r = vmctl({"image", "delete", "base"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "vmctl: image base is used by instance web (running); terminate it first\n");
}

TEST_F(VmctlCli, AnswersThatAreNotJsonAreReportedNotTrusted) {
    vmd.answer_text("GET /v1/instances", 502, "<html>Bad Gateway</html>");
    Result r = vmctl({"list"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "vmctl: vmd answered HTTP 502: <html>Bad Gateway</html>\n");
    vmd.answer_text("GET /v1/volumes", 200, "[{\"id\": ");
    r = vmctl({"volume", "list"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("is not JSON"), std::string::npos) << r.err;
    vmd.answer("GET /v1/images", 200, json{{"unexpected", "object"}});
    r = vmctl({"image", "list"});
    EXPECT_EQ(r.status, 1);
    EXPECT_EQ(r.err, "vmctl: vmd's answer is not a list of images: {\"unexpected\":\"object\"}\n");
    vmd.answer("POST /v1/instances", 201, json{{"created", 1}});
    r = vmctl({"run", "--image", "base"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("not what this vmctl expects"), std::string::npos) << r.err;
}

TEST_F(VmctlCli, UnreachableVmdIsAFailureThatNamesTheSocket) {
    std::ostringstream out, err;
    Environment env{out,
                    err,
                    [](const std::string& socket) -> std::unique_ptr<Transport> {
                        throw base::HostError("cannot reach vmd at " + socket);
                    },
                    "",
                    "/",
                    false,
                    [](std::chrono::milliseconds) {},
                    "",
                    {}};
    EXPECT_EQ(run_vmctl({"--socket", "/tmp/none.sock", "list"}, env), 1);
    EXPECT_EQ(err.str(), "vmctl: cannot reach vmd at /tmp/none.sock\n");
}

TEST_F(VmctlCli, ConsolePrintsTheLogAndFollowsItUntilTerminated) {
    vmd.answer_text("GET /v1/instances/web/console?offset=0", 200, "boot 1\n", "7");
    EXPECT_EQ(vmctl({"console", "web"}).out, "boot 1\n");

    vmd.answer_text("GET /v1/instances/web/console?offset=7", 200, "ready\n", "13");
    vmd.answer_text("GET /v1/instances/web/console?offset=13", 200, "", "13");
    vmd.answer("GET /v1/instances/web", 200, instance("i-1", "web", "running"));
    vmd.answer("GET /v1/instances/web", 200, instance("i-1", "web", "terminated"));
    const Result r = vmctl({"console", "web", "--follow"});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "boot 1\nready\n");
    // Half a second between empty polls; the state is checked at the 8th
    // (running) and the 16th (terminated: done, no pause after it).
    EXPECT_EQ(slept, std::chrono::milliseconds(15 * 500));
}

}  // namespace
}  // namespace vmctl

namespace vmctl {
namespace {

TEST_F(VmctlCli, UsagePrintsTheBillWithATotalThatIsTheSumOfItsLines) {
    const json bill{{"currency", "EUR"},
                    {"by", "instance"},
                    {"since", 1796083200000},
                    {"until", 1796169600000},
                    {"owner", 1000},
                    {"lines", json::array({{{"group", "i-1"},
                                            {"meter", "cpu_us"},
                                            {"unit", "us"},
                                            {"quantity", 7200000000},
                                            {"amount", 832}},
                                           {{"group", "vol-1"},
                                            {"meter", "storage_gib_ms"},
                                            {"unit", "GiB-ms"},
                                            {"quantity", 2628000000},
                                            {"amount", 800}}})},
                    {"total", 1632}};
    const std::string path =
        "GET /v1/usage?by=instance&instance=i-1&since=1796083200000&until=1796169600000";
    vmd.answer(path, 200, bill);
    Result r = vmctl(
        {"usage", "--instance", "i-1", "--since", "2026-12-01", "--until", "2026-12-02T00:00:00Z"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(vmd.request_lines().back(), path);
    EXPECT_EQ(r.out,
              "RESOURCE  METER           QUANTITY    UNIT    AMOUNT (EUR minor units)\n"
              "i-1       cpu_us          7200000000  us      832\n"
              "vol-1     storage_gib_ms  2628000000  GiB-ms  800\n"
              "TOTAL                                         1632\n");

    // By meter the group is the meter: one column, not two alike.
    json by_meter = bill;
    by_meter["by"] = "meter";
    by_meter["lines"][0]["group"] = "cpu_us";
    by_meter["lines"][1]["group"] = "storage_gib_ms";
    vmd.answer("GET /v1/usage?by=meter", 200, by_meter);
    r = vmctl({"usage", "--by", "meter"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              "METER           QUANTITY    UNIT    AMOUNT (EUR minor units)\n"
              "cpu_us          7200000000  us      832\n"
              "storage_gib_ms  2628000000  GiB-ms  800\n"
              "TOTAL                               1632\n");

    vmd.answer("GET /v1/usage?by=day&owner=all", 200, bill);
    r = vmctl({"usage", "--by", "day", "--owner", "all", "--json"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(json::parse(r.out), bill);

    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"usage", "--by", "week"},
             {"usage", "--since", "yesterday"},
             {"usage", "--until", "2026-12-02T00:00"},
         }) {
        const std::size_t sent = vmd.requests.size();
        EXPECT_EQ(vmctl(args).status, 2) << args[1] << " " << args[2];
        EXPECT_EQ(vmd.requests.size(), sent);
    }
    vmd.answer("GET /v1/usage?by=instance&owner=0", 403,
               {{"error", "only root may see the usage of another owner (owner=0)"}});
    r = vmctl({"usage", "--owner", "0"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("only root may see"), std::string::npos) << r.err;
}

// --format csv|jsonl prints the ledger's rows, following vmd's cursor page
// by page with the window pinned to the first page's end; one CSV header.
TEST_F(VmctlCli, UsageRecordsFollowTheCursorAsCsvOrJsonLines) {
    const auto record = [](std::int64_t id, const std::string& resource, std::int64_t quantity) {
        return json{{"id", id},           {"owner", 1000},
                    {"kind", "instance"}, {"resource", resource},
                    {"meter", "cpu_us"},  {"quantity", quantity},
                    {"start_ms", 10},     {"end_ms", 20},
                    {"process", 3},       {"boot", nullptr}};
    };
    vmd.answer("GET /v1/usage/records?instance=i-1&after=0", 200,
               {{"owner", 1000},
                {"since", 0},
                {"until", 5000},
                {"records", json::array({record(4, "i-1", 100), record(9, "i-1", 20)})},
                {"next", 9}});
    vmd.answer("GET /v1/usage/records?instance=i-1&until=5000&after=9", 200,
               {{"owner", 1000},
                {"since", 0},
                {"until", 5000},
                {"records", json::array({record(12, "i-1", 3)})},
                {"next", nullptr}});
    Result r = vmctl({"usage", "--instance", "i-1", "--format", "csv"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out,
              "id,owner,kind,resource,meter,quantity,start_ms,end_ms,process,boot\r\n"
              "4,1000,instance,i-1,cpu_us,100,10,20,3,\r\n"
              "9,1000,instance,i-1,cpu_us,20,10,20,3,\r\n"
              "12,1000,instance,i-1,cpu_us,3,10,20,3,\r\n");
    EXPECT_EQ(vmd.request_lines().size(), 2u);

    r = vmctl({"usage", "--instance", "i-1", "--format", "jsonl"});
    ASSERT_EQ(r.status, 0) << r.err;
    std::istringstream lines(r.out);
    std::string line;
    std::vector<json> parsed;
    while (std::getline(lines, line)) {
        parsed.push_back(json::parse(line));
    }
    ASSERT_EQ(parsed.size(), 3u);
    EXPECT_EQ(parsed[0], record(4, "i-1", 100));
    EXPECT_EQ(parsed[2], record(12, "i-1", 3));

    const std::size_t sent = vmd.requests.size();
    EXPECT_EQ(vmctl({"usage", "--format", "xml"}).status, 2);
    EXPECT_EQ(vmctl({"usage", "--format", "csv", "--json"}).status, 2);
    EXPECT_EQ(vmd.requests.size(), sent);

    // A cursor that does not advance is refused, not followed forever.
    vmd.answer("GET /v1/usage/records?after=0", 200,
               {{"owner", 1000},
                {"since", 0},
                {"until", 5000},
                {"records", json::array({record(4, "i-1", 100)})},
                {"next", 0}});
    r = vmctl({"usage", "--format", "csv"});
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("cursor"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace vmctl
