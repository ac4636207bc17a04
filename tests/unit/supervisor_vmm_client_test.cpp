// vmd's client for the vmms' APIs: a vmm that accepts a connection and never
// answers must not hold up the calls to the other vmms.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.h"
#include "base/unix_http_server.h"
#include "supervisor/vmd/event_loop.h"
#include "supervisor/vmd/vmm_client.h"

namespace supervisor::vmd {
namespace {

using namespace std::chrono_literals;

std::string socket_path(const char* name) {
    return "/tmp/vmd-client-test-" + std::to_string(getpid()) + "-" + name + ".sock";
}

// Listens and never accepts: a connect succeeds (the backlog takes it) and
// then nothing ever comes back, as from a vmm whose API thread is stuck.
base::Fd hung_listener(const std::string& path) {
    base::Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    unlink(path.c_str());
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd.get(), 8), 0);
    return fd;
}

TEST(VmmClient, AVmmThatNeverAnswersHoldsUpNoOtherVmm) {
    EventLoop loop;
    const std::string good = socket_path("good");
    const std::string hung = socket_path("hung");
    base::UnixHttpServer::Options options;
    options.socket_path = good;
    std::vector<std::string> actions_seen;
    base::UnixHttpServer server(loop.base(), options, [&](std::shared_ptr<base::HttpRequest> r) {
        actions_seen.push_back(r->method() + " " + r->path() + " " + r->body());
        r->reply_json(202, nlohmann::json::object());
    });
    base::Fd stuck = hung_listener(hung);

    std::vector<std::string> order;  // touched on the loop's thread only
    std::string hung_error = "(none)";
    std::string good_error = "(none)";
    VmmClient::Timeouts timeouts;
    timeouts.read = 2s;
    {
        VmmClient client(loop, timeouts, 4);
        // The hung vmm's call first: a client that served calls in order
        // on one thread would answer the good vmm only after its timeout.
        client.act(hung, "power-button", [&](const std::string& e) {
            hung_error = e;
            order.push_back("hung");
            if (order.size() == 2) {
                loop.stop();
            }
        });
        client.act(good, "power-button", [&](const std::string& e) {
            good_error = e;
            order.push_back("good");
            if (order.size() == 2) {
                loop.stop();
            }
        });
        EventLoop::Timer limit(loop, [&] { loop.stop(); });
        limit.arm(20s);
        loop.run();
    }
    unlink(hung.c_str());
    ASSERT_EQ(order.size(), 2u) << "both calls came back within 20 s";
    EXPECT_EQ(order[0], "good") << "the good vmm's answer did not wait for the hung one";
    EXPECT_EQ(good_error, "");
    EXPECT_NE(hung_error.find("did not answer"), std::string::npos) << hung_error;
    EXPECT_NE(hung_error.find(hung), std::string::npos) << "the error names the socket";
    ASSERT_EQ(actions_seen.size(), 1u);
    EXPECT_EQ(actions_seen[0], R"(PUT /vm/actions {"action":"power-button"})");
}

TEST(VmmClient, ARefusalCarriesTheVmmsStatusAndMessage) {
    EventLoop loop;
    const std::string path = socket_path("refuses");
    base::UnixHttpServer::Options options;
    options.socket_path = path;
    base::UnixHttpServer server(loop.base(), options, [](std::shared_ptr<base::HttpRequest> r) {
        r->reply_error(409, "the vm is paused");
    });
    std::string error = "(none)";
    VmmClient client(loop);
    client.act(path, "ctrl-alt-del", [&](const std::string& e) {
        error = e;
        loop.stop();
    });
    EventLoop::Timer limit(loop, [&] { loop.stop(); });
    limit.arm(20s);
    loop.run();
    EXPECT_NE(error.find("refused ctrl-alt-del (409)"), std::string::npos) << error;
    EXPECT_NE(error.find("the vm is paused"), std::string::npos) << error;
}

}  // namespace
}  // namespace supervisor::vmd
