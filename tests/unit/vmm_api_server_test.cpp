// The control API's HTTP layer over a real Unix socket, driving a recording
// controller (the Machine behind it is tested by booting guests).

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "base/error.h"
#include "vmm/api_server.h"

namespace vmm {
namespace {

class RecordingController : public VmController {
  public:
    nlohmann::json status() const override { return {{"state", "running"}, {"boot_count", 1}}; }
    nlohmann::json metrics() const override { return {{"vm_exits", {{"io", 42}}}}; }
    ActionResult act(const std::string& action) override {
        std::lock_guard lock(mutex);
        actions.push_back(action);
        if (action == "resume") {
            return {409, "cannot resume while the VM is running"};
        }
        if (action != "pause" && action != "kill") {
            return {400, "unknown action '" + action + "'"};
        }
        return {202, ""};
    }
    std::mutex mutex;
    std::vector<std::string> actions;
};

class ApiServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = "/tmp/vmm-api-test-" + std::to_string(getpid()) + ".sock";
        server_ = std::make_unique<ApiServer>(path_, controller_);
    }
    httplib::Client client() {
        httplib::Client c(path_);
        c.set_address_family(AF_UNIX);
        c.set_connection_timeout(2, 0);
        c.set_read_timeout(5, 0);
        return c;
    }
    std::string path_;
    RecordingController controller_;
    std::unique_ptr<ApiServer> server_;
};

TEST_F(ApiServerTest, GetVmReturnsTheControllersStatus) {
    auto res = client().Get("/vm");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    EXPECT_EQ(nlohmann::json::parse(res->body)["state"], "running");
    auto metrics = client().Get("/metrics");
    ASSERT_TRUE(metrics);
    EXPECT_EQ(nlohmann::json::parse(metrics->body)["vm_exits"]["io"], 42);
}

TEST_F(ApiServerTest, ActionsReachTheController) {
    auto res = client().Put("/vm/actions", R"({"action": "pause"})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 202);
    std::lock_guard lock(controller_.mutex);
    EXPECT_EQ(controller_.actions, std::vector<std::string>{"pause"});
}

TEST_F(ApiServerTest, BadRequestsGetJsonErrors) {
    auto c = client();
    struct Case {
        httplib::Result res;
        int status;
        std::string fragment;
    };
    std::vector<Case> cases;
    cases.push_back({c.Put("/vm/actions", "{not json", "application/json"), 400, "not valid JSON"});
    cases.push_back({c.Put("/vm/actions", "[]", "application/json"), 400, "\"action\""});
    cases.push_back(
        {c.Put("/vm/actions", R"({"action": 7})", "application/json"), 400, "\"action\""});
    cases.push_back({c.Put("/vm/actions", R"({"action": "dance"})", "application/json"), 400,
                     "unknown action"});
    cases.push_back({c.Put("/vm/actions", R"({"action": "resume"})", "application/json"), 409,
                     "cannot resume"});
    cases.push_back({c.Post("/vm", "{}", "application/json"), 405, "not allowed"});
    cases.push_back({c.Get("/vm/actions"), 405, "not allowed"});
    cases.push_back({c.Get("/nope"), 404, "no such endpoint"});
    cases.push_back(
        {c.Put("/vm/actions", std::string(ApiServer::kMaxBodyBytes + 10, 'x'), "application/json"),
         413, "too large"});
    for (auto& k : cases) {
        ASSERT_TRUE(k.res) << "no response for the case expecting " << k.status;
        EXPECT_EQ(k.res->status, k.status) << k.res->body;
        const auto body = nlohmann::json::parse(k.res->body);
        ASSERT_TRUE(body.contains("error")) << k.res->body;
        EXPECT_NE(body["error"].get<std::string>().find(k.fragment), std::string::npos)
            << body["error"];
    }
    // The server still answers after all that.
    auto res = c.Get("/vm");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

// Sends `request` as raw bytes (no client library would send them) and
// returns everything the server answers until it closes (5 s at most).
std::string raw_exchange(const std::string& socket_path, const std::string& request) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket_path.c_str(), sizeof addr.sun_path - 1);
    const timeval timeout{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string answer;
    if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
        char buf[4096];
        ssize_t n;
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            answer.append(buf, static_cast<std::size_t>(n));
        }
    }
    close(fd);
    return answer;
}

// A path that is not UTF-8 once ended the VMM: the error message quoting it
// could not be written as JSON, and the exception left the server's thread.
TEST_F(ApiServerTest, APathThatIsNotUtf8GetsA404AndTheServerRunsOn) {
    const std::string answer =
        raw_exchange(path_, "GET /vm\xff\xfe HTTP/1.1\r\nHost: vm\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(answer.rfind("HTTP/1.1 404", 0), 0u) << answer;
    const std::size_t body = answer.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << answer;
    const auto json = nlohmann::json::parse(answer.substr(body + 4), nullptr, false);
    ASSERT_TRUE(json.is_object()) << answer;
    EXPECT_NE(json["error"].get<std::string>().find("no such endpoint"), std::string::npos);
    auto res = client().Get("/vm");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

TEST_F(ApiServerTest, SocketFileIsRemovedWhenTheServerStops) {
    server_.reset();
    EXPECT_NE(access(path_.c_str(), F_OK), 0);
}

// nlohmann throws out_of_range, not parse_error, for a number beyond a
// double: still the user's mistake, a 400 and not a 500.
TEST_F(ApiServerTest, ANumberBeyondADoubleIsABadRequest) {
    auto res = client().Put("/vm/actions", R"({"action": 1e999})", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
}

class ApiSocketPath : public ::testing::Test {
  protected:
    void SetUp() override { path_ = "/tmp/vmm-api-path-" + std::to_string(getpid()) + ".sock"; }
    void TearDown() override { unlink(path_.c_str()); }
    std::string error_of_binding() {
        try {
            ApiServer server(path_, controller_);
        } catch (const base::InvalidInput& e) {
            return e.what();
        }
        return "";
    }
    std::string path_;
    RecordingController controller_;
};

TEST_F(ApiSocketPath, AFileThatIsNotASocketIsNeverReplaced) {
    std::ofstream(path_) << "precious\n";
    EXPECT_NE(error_of_binding().find("is not a socket"), std::string::npos);
    std::ifstream in(path_);
    std::string content;
    std::getline(in, content);
    EXPECT_EQ(content, "precious") << "the file is untouched";
}

TEST_F(ApiSocketPath, TheLiveSocketOfAnotherServerIsNeverTaken) {
    RecordingController other;
    ApiServer first(path_, other);
    EXPECT_NE(error_of_binding().find("is in use"), std::string::npos);
    httplib::Client c(path_);
    c.set_address_family(AF_UNIX);
    c.set_read_timeout(5, 0);
    auto res = c.Get("/vm");
    ASSERT_TRUE(res) << "the first server still answers on its socket";
    EXPECT_EQ(res->status, 200);
}

TEST_F(ApiSocketPath, AStaleSocketIsReplaced) {
    {
        // A socket file whose server is gone (a vmm that was SIGKILLed).
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
        ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        close(fd);
    }
    ApiServer server(path_, controller_);
    httplib::Client c(path_);
    c.set_address_family(AF_UNIX);
    c.set_read_timeout(5, 0);
    auto res = c.Get("/vm");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
}

// The server removes its own socket at the end, never one that took the
// path after it.
TEST_F(ApiSocketPath, TheEndRemovesOnlyTheServersOwnSocket) {
    auto server = std::make_unique<ApiServer>(path_, controller_);
    ASSERT_EQ(unlink(path_.c_str()), 0);
    std::ofstream(path_) << "someone else's\n";
    server.reset();
    struct stat st {};
    EXPECT_EQ(stat(path_.c_str(), &st), 0) << "the new file is still there";
}

}  // namespace
}  // namespace vmm
