// vmd's API handlers in-process (no socket, no vmm started): every resource
// fed malformed JSON, wrong types, unknown fields, unknown or other owners'
// ids, wrong methods and query parameters gets a 4xx JSON error naming the
// problem; refusals change nothing.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "supervisor/store/images.h"
#include "supervisor/store/instances.h"
#include "supervisor/vmd/daemon.h"

namespace supervisor::vmd {
namespace {

namespace fs = std::filesystem;

class ApiHandlers : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vmd-api-XXXXXX";
        dir_ = mkdtemp(tmpl);
        Options o;
        o.state_dir = dir_ + "/state";
        o.socket = dir_ + "/vmd.sock";
        // Never made: the daemon is not started, and no handler here gets
        // as far as spawning a vmm.
        o.cgroup_root = dir_ + "/cgroup";
        o.vmm = "/bin/false";
        o.default_kernel = dir_ + "/kernel";
        o.max_memory_mib = 1024;
        o.min_free_disk_mib = 0;
        daemon_ = std::make_unique<Daemon>(o);
        // An available image of uid 1000's, as an import leaves it.
        store::ImageRecord image;
        image.id = "img-00000000000a";
        image.name = "base";
        image.owner = 1000;
        image.state = "available";
        image.progress = 1;
        image.format = "raw";
        image.size_bytes = 1 << 20;
        image.ready_probe = "debug-port";
        image.created_at = 1;
        store::images::insert(daemon_->database(), image);
    }
    void TearDown() override {
        daemon_.reset();
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }
    ApiResponse call(const std::string& method, const std::string& path,
                     const std::string& body = "", std::int64_t uid = 1000,
                     std::vector<std::pair<std::string, std::string>> query = {}) {
        ApiRequest r;
        r.caller.credentials.uid = static_cast<uid_t>(uid);
        r.caller.credentials.gid = static_cast<gid_t>(uid);
        r.method = method;
        r.path = path;
        r.body = body;
        r.query = std::move(query);
        ApiResponse out;
        out.status = 0;
        daemon_->api().handle(r, [&](const ApiResponse& response) { out = response; });
        return out;
    }
    void expect_error(const ApiResponse& r, int status, const std::string& fragment) {
        EXPECT_EQ(r.status, status) << r.json.dump();
        ASSERT_TRUE(r.json.is_object() && r.json.contains("error")) << r.json.dump();
        EXPECT_NE(r.json["error"].get<std::string>().find(fragment), std::string::npos)
            << "'" << fragment << "' not in: " << r.json["error"];
    }

    std::string dir_;
    std::unique_ptr<Daemon> daemon_;
};

TEST_F(ApiHandlers, EveryBodyIsCheckedStrictly) {
    struct Case {
        std::string method, path, body, fragment;
    };
    const std::vector<Case> cases = {
        {"POST", "/v1/images", "{oops", "not valid JSON"},
        {"POST", "/v1/images", "[]", "must be a JSON object"},
        {"POST", "/v1/images", "", "needs a JSON object"},
        {"POST", "/v1/images", R"({"name": "a"})", "\"path\" is missing"},
        {"POST", "/v1/images", R"({"name": 1, "path": "/x"})", "\"name\" must be a string"},
        {"POST", "/v1/images", R"({"name": "a", "path": "/x", "colour": "red"})",
         "unknown field \"colour\""},
        {"POST", "/v1/images", R"({"name": "a/b", "path": "/x"})", "may hold only"},
        {"POST", "/v1/images", R"({"name": "a", "path": "/x", "ready_probe": "ping"})",
         "ready_probe"},
        {"POST", "/v1/volumes", "{oops", "not valid JSON"},
        {"POST", "/v1/volumes", R"({"name": "v"})", "\"size_bytes\" is missing"},
        {"POST", "/v1/volumes", R"({"name": "v", "size_bytes": "1G"})", "whole number"},
        {"POST", "/v1/volumes", R"({"name": "v", "size_bytes": 1048577})", "multiple of 512"},
        {"POST", "/v1/volumes", R"({"name": "v", "size_bytes": 512})", "from 1048576"},
        {"POST", "/v1/volumes", R"({"name": "v", "size_bytes": 1048576, "x": 1})",
         "unknown field \"x\""},
        {"POST", "/v1/instances", "{oops", "not valid JSON"},
        {"POST", "/v1/instances", "{}", "\"image\" is missing"},
        {"POST", "/v1/instances", R"({"image": "base", "count": "2"})", "whole number"},
        {"POST", "/v1/instances", R"({"image": "base", "count": 0})", "from 1 to 64"},
        {"POST", "/v1/instances", R"({"image": "base", "vcpus": 1000})", "from 1 to 254"},
        {"POST", "/v1/instances", R"({"image": "base", "memory_mib": 1.5})", "whole number"},
        {"POST", "/v1/instances", R"({"image": "base", "persistent_root": "yes"})",
         "true or false"},
        {"POST", "/v1/instances", R"({"image": "base", "volumes": "v"})", "array of strings"},
        {"POST", "/v1/instances", R"({"image": "base", "client_token": ""})", "client_token"},
        {"POST", "/v1/instances", R"({"image": "base", "coutn": 2})", "unknown field \"coutn\""},
        {"POST", "/v1/instances", R"({"image": "base", "count": 2, "volumes": ["v"]})",
         "one instance"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.method + " " + c.path + " " + c.body);
        expect_error(call(c.method, c.path, c.body), 400, c.fragment);
    }
    EXPECT_TRUE(store::instances::list(daemon_->database()).empty());
}

TEST_F(ApiHandlers, UnknownIdsAndOtherOwnersAreAlike404) {
    const auto made = call("POST", "/v1/volumes", R"({"name": "data", "size_bytes": 1048576})");
    ASSERT_EQ(made.status, 201) << made.json.dump();
    const std::string vol = made.json["id"];
    // The owner sees it; another uid gets exactly what an unknown id gets.
    EXPECT_EQ(call("GET", "/v1/volumes/" + vol).status, 200);
    const auto theirs = call("GET", "/v1/volumes/" + vol, "", 1001);
    const auto unknown = call("GET", "/v1/volumes/vol-ffffffffffff", "", 1001);
    EXPECT_EQ(theirs.status, 404);
    EXPECT_EQ(unknown.status, 404);
    EXPECT_EQ(theirs.json["error"].get<std::string>().size() - vol.size(),
              unknown.json["error"].get<std::string>().size() - vol.size());
    EXPECT_EQ(call("GET", "/v1/volumes", "", 1001).json, nlohmann::json::array());
    EXPECT_EQ(call("GET", "/v1/volumes", "", 0).json.size(), 1u) << "root sees all";
    expect_error(call("DELETE", "/v1/volumes/" + vol, "", 1001), 404, "no volume");
    expect_error(call("POST", "/v1/volumes/" + vol + "/attach", R"({"instance": "x"})", 1001), 404,
                 "no volume");
    expect_error(call("GET", "/v1/images/base", "", 1001), 404, "no image 'base'");
    expect_error(call("POST", "/v1/instances", R"({"image": "base"})", 1001), 404,
                 "no image 'base'");
    for (const std::string path :
         {"/v1/instances/i-ffffffffffff", "/v1/instances/nosuch/console", "/v1/images/nosuch"}) {
        expect_error(call("GET", path), 404, "no ");
    }
    for (const std::string action : {"start", "stop", "reboot", "terminate"}) {
        expect_error(call("POST", "/v1/instances/i-ffffffffffff/" + action), 404, "no instance");
    }
    expect_error(call("GET", "/v1/instances/nosuch/wait", "", 1000, {{"state", "running"}}), 404,
                 "no instance");
    expect_error(call("POST", "/v1/volumes/" + vol + "/attach", R"({"instance": "nosuch"})"), 404,
                 "no instance");
}

TEST_F(ApiHandlers, MethodsPathsAndQueries) {
    expect_error(call("PUT", "/v1/instances"), 405, "allowed: GET, POST");
    expect_error(call("DELETE", "/v1/health"), 405, "GET");
    expect_error(call("GET", "/v1/instances/x/start"), 405, "POST");
    expect_error(call("PATCH", "/v1/volumes/x"), 405, "GET, DELETE");
    expect_error(call("GET", "/v2/instances"), 404, "under /v1");
    expect_error(call("GET", "/v1/things"), 404, "no such endpoint");
    expect_error(call("GET", "/v1/instances/a/b/c"), 404, "no such endpoint");
    expect_error(call("GET", "/v1/instances", "", 1000, {{"limit", "5"}}), 400,
                 "unknown query parameter 'limit'");
    expect_error(call("POST", "/v1/instances", R"({"image": "base"})", 1000, {{"wait", "maybe"}}),
                 400, "true or false");
    expect_error(call("GET", "/v1/instances/x/wait"), 400, "?state=");
    expect_error(call("GET", "/v1/instances/x/wait", "", 1000, {{"state", "dancing"}}), 400,
                 "state must be one of");
    expect_error(
        call("GET", "/v1/instances/x/wait", "", 1000, {{"state", "running"}, {"timeout_s", "-1"}}),
        400, "whole number");
    expect_error(call("GET", "/v1/instances/x/console", "", 1000, {{"offset", "abc"}}), 400,
                 "whole number");
    const auto health = call("GET", "/v1/health");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.json["instances"]["running"], 0);
}

TEST_F(ApiHandlers, RunIsRefusedWholeWhenTheHostCannotHoldIt) {
    const auto r = call("POST", "/v1/instances", R"({"image": "base", "count": 4})");
    expect_error(r, 409, "not enough memory");
    EXPECT_NE(r.json["error"].get<std::string>().find("need 1280 MiB, 1024 MiB are free"),
              std::string::npos)
        << r.json.dump();
    EXPECT_NE(r.json["error"].get<std::string>().find("short by 256 MiB"), std::string::npos);
    EXPECT_TRUE(store::instances::list(daemon_->database()).empty()) << "nothing was created";
    EXPECT_TRUE(call("GET", "/v1/volumes").json.empty());
}

TEST_F(ApiHandlers, NamesAreUniquePerOwner) {
    ASSERT_EQ(call("POST", "/v1/volumes", R"({"name": "data", "size_bytes": 1048576})").status,
              201);
    expect_error(call("POST", "/v1/volumes", R"({"name": "data", "size_bytes": 1048576})"), 409,
                 "in use");
    EXPECT_EQ(
        call("POST", "/v1/volumes", R"({"name": "data", "size_bytes": 1048576})", 1001).status, 201)
        << "another owner may use the name";
    expect_error(call("POST", "/v1/images", R"({"name": "base", "path": "/x"})"), 409, "in use");
    expect_error(call("DELETE", "/v1/volumes/data/detach"), 405, "POST");
    expect_error(call("POST", "/v1/volumes/data/detach"), 409, "not attached");
}

}  // namespace
}  // namespace supervisor::vmd
