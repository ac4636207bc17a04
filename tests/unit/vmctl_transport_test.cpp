// vmctl's HTTP client over a real Unix socket, served by cpp-httplib's own
// server standing in for vmd: statuses, bodies, the console offset header,
// and the messages for a vmd that is missing or silent.

#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "supervisor/vmctl/unix_socket_transport.h"

namespace vmctl {
namespace {

using namespace std::chrono_literals;

class VmctlTransport : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = "/tmp/vmctl-transport-" + std::to_string(getpid()) + ".sock";
        unlink(path_.c_str());
        server_.set_address_family(AF_UNIX);
        server_.Get("/v1/instances/web/console",
                    [](const httplib::Request& req, httplib::Response& res) {
                        res.set_header("X-Console-Offset", "42");
                        res.set_content("offset " + req.get_param_value("offset"), "text/plain");
                    });
        server_.Post("/v1/volumes", [](const httplib::Request& req, httplib::Response& res) {
            res.status = 201;
            res.set_content(req.body, "application/json");
        });
        server_.Delete("/v1/images/base", [](const httplib::Request&, httplib::Response& res) {
            res.status = 409;
            res.set_content(R"({"error": "in use"})", "application/json");
        });
        server_.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
            std::this_thread::sleep_for(2500ms);
            res.set_content("{}", "application/json");
        });
        ASSERT_TRUE(server_.bind_to_port(path_.c_str(), 80));
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // stop() before the server runs would be lost, and TearDown would wait forever.
        for (int i = 0; i < 500 && !server_.is_running(); ++i) {
            std::this_thread::sleep_for(10ms);
        }
        ASSERT_TRUE(server_.is_running());
    }
    void TearDown() override {
        server_.stop();
        if (thread_.joinable()) {
            thread_.join();
        }
        unlink(path_.c_str());
    }
    std::string path_;
    httplib::Server server_;
    std::thread thread_;
};

TEST_F(VmctlTransport, CarriesRequestsAndAnswersWithTheConsoleOffset) {
    UnixSocketTransport t(path_);
    HttpResponse r = t.send({"GET", "/v1/instances/web/console?offset=7", "", 5s});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "offset 7");
    EXPECT_EQ(r.console_offset, "42");
    r = t.send({"POST", "/v1/volumes", R"({"name": "data"})", 5s});
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.body, R"({"name": "data"})");
    r = t.send({"DELETE", "/v1/images/base", "", 5s});
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(r.body, R"({"error": "in use"})");
}

TEST_F(VmctlTransport, AMissingVmdIsNamedWithWhatToDo) {
    UnixSocketTransport t("/tmp/vmctl-no-such-dir/vmd.sock");
    try {
        t.send({"GET", "/v1/instances", "", 5s});
        FAIL() << "no exception";
    } catch (const base::HostError& e) {
        EXPECT_STREQ(e.what(),
                     "cannot reach vmd at /tmp/vmctl-no-such-dir/vmd.sock: No such file or "
                     "directory; start vmd, or name its socket with --socket or VMCTL_SOCKET");
    }
}

TEST_F(VmctlTransport, ASocketNobodyListensOnSaysSo) {
    const std::string dead = path_ + ".dead";
    {
        const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", dead.c_str());
        ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        close(fd);  // bound, never listened on: connecting is refused
    }
    UnixSocketTransport t(dead);
    try {
        t.send({"GET", "/v1/instances", "", 5s});
        FAIL() << "no exception";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find("nobody answers (is vmd running?)"), std::string::npos)
            << e.what();
    }
    unlink(dead.c_str());
}

TEST_F(VmctlTransport, ASilentVmdIsGivenUpAtTheRequestsTimeout) {
    UnixSocketTransport t(path_);
    const auto start = std::chrono::steady_clock::now();
    try {
        t.send({"GET", "/slow", "", 1s});
        FAIL() << "no exception";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find("vmd did not answer GET /slow within 1 s"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 2400ms);
}

}  // namespace
}  // namespace vmctl
