// base::UnixHttpServer over a real Unix socket: requests with their
// credentials, answers now and later, bodies over the limit, clients that
// hang up, and binding that never replaces anything but a stale socket.

#include <event2/event.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "base/error.h"
#include "base/fd.h"
#include "base/unix_http_server.h"

namespace base {
namespace {

using namespace std::chrono_literals;

// An event loop on a thread of its own; the server lives on it. Work is
// handed to the loop through an eventfd, so nothing here needs libevent's
// locking.
class LoopThread {
  public:
    LoopThread() : loop_(event_base_new(), event_base_free), wake_(eventfd(0, EFD_CLOEXEC)) {
        wake_event_ = event_new(
            loop_.get(), wake_.get(), EV_READ | EV_PERSIST,
            [](evutil_socket_t fd, short, void* self) {
                std::uint64_t n;
                [[maybe_unused]] auto r = read(fd, &n, sizeof n);
                static_cast<LoopThread*>(self)->run_jobs();
            },
            this);
        event_add(wake_event_, nullptr);
    }
    ~LoopThread() {
        stop();
        event_free(wake_event_);
    }
    event_base* loop() { return loop_.get(); }
    void start() {
        thread_ = std::thread([this] { event_base_dispatch(loop_.get()); });
    }
    // Runs `job` on the loop's thread and waits for it.
    void run(std::function<void()> job) {
        std::atomic<bool> done{false};
        {
            std::lock_guard lock(mutex_);
            jobs_.push_back([&] {
                job();
                done = true;
            });
        }
        wake();
        while (!done) {
            std::this_thread::sleep_for(1ms);
        }
    }
    void stop() {
        if (!thread_.joinable()) {
            return;
        }
        {
            std::lock_guard lock(mutex_);
            jobs_.push_back([this] { event_base_loopbreak(loop_.get()); });
        }
        wake();
        thread_.join();
    }

  private:
    void wake() {
        const std::uint64_t one = 1;
        [[maybe_unused]] auto r = write(wake_.get(), &one, sizeof one);
    }
    void run_jobs() {
        std::vector<std::function<void()>> jobs;
        {
            std::lock_guard lock(mutex_);
            jobs.swap(jobs_);
        }
        for (auto& j : jobs) {
            j();
        }
    }
    std::unique_ptr<event_base, void (*)(event_base*)> loop_;
    Fd wake_;
    event* wake_event_ = nullptr;
    std::mutex mutex_;
    std::vector<std::function<void()>> jobs_;
    std::thread thread_;
};

std::string test_socket_path(const std::string& tag) {
    return "/tmp/uhs-test-" + std::to_string(getpid()) + "-" + tag + ".sock";
}

httplib::Client client_for(const std::string& path) {
    httplib::Client c(path);
    c.set_address_family(AF_UNIX);
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(10, 0);
    return c;
}

class UnixHttpServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        // A client writing a body the server refused gets EPIPE, not death.
        signal(SIGPIPE, SIG_IGN);
        path_ = test_socket_path("main");
    }
    void TearDown() override {
        loop_.stop();
        server_.reset();
        unlink(path_.c_str());
    }
    void serve(UnixHttpServer::Handler handler, UnixHttpServer::Options options = {}) {
        options.socket_path = path_;
        server_ = std::make_unique<UnixHttpServer>(loop_.loop(), options, std::move(handler));
        loop_.start();
    }
    // A timer on the loop that runs `fn` after `delay`.
    void later(std::chrono::milliseconds delay, std::function<void()> fn) {
        auto* holder = new std::function<void()>(std::move(fn));
        timeval tv{static_cast<time_t>(delay.count() / 1000),
                   static_cast<suseconds_t>((delay.count() % 1000) * 1000)};
        event_base_once(
            loop_.loop(), -1, EV_TIMEOUT,
            [](evutil_socket_t, short, void* arg) {
                auto* f = static_cast<std::function<void()>*>(arg);
                (*f)();
                delete f;
            },
            holder, &tv);
    }

    LoopThread loop_;
    std::string path_;
    std::unique_ptr<UnixHttpServer> server_;
};

TEST_F(UnixHttpServerTest, HandlerSeesTheRequestAndTheCallersCredentials) {
    serve([](std::shared_ptr<HttpRequest> r) {
        r->reply_json(201, {{"method", r->method()},
                            {"path", r->path()},
                            {"query", r->query()},
                            {"state", r->query_param("state").value_or("-")},
                            {"absent", r->query_param("absent").has_value()},
                            {"pairs", r->query_params().value()},
                            {"body", r->body()},
                            {"uid", r->peer().uid},
                            {"gid", r->peer().gid},
                            {"pid", r->peer().pid}});
    });
    auto res = client_for(path_).Post("/v1/things/a%20b?state=running&x=1", R"({"k": 1})",
                                      "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 201);
    EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
    const auto j = nlohmann::json::parse(res->body);
    EXPECT_EQ(j["method"], "POST");
    EXPECT_EQ(j["path"], "/v1/things/a b");
    EXPECT_EQ(j["query"], "state=running&x=1");
    EXPECT_EQ(j["state"], "running");
    EXPECT_EQ(j["absent"], false);
    EXPECT_EQ(j["pairs"], nlohmann::json::parse(R"([["state", "running"], ["x", "1"]])"));
    EXPECT_EQ(j["body"], R"({"k": 1})");
    EXPECT_EQ(j["uid"], getuid());
    EXPECT_EQ(j["gid"], getgid());
    EXPECT_EQ(j["pid"], getpid());  // the client runs in this process
}

TEST_F(UnixHttpServerTest, TextRepliesCarryTheirHeaders) {
    serve([](std::shared_ptr<HttpRequest> r) {
        r->reply_text(200, "hello\n", "text/plain", {{"X-Console-Offset", "6"}});
    });
    auto res = client_for(path_).Get("/console");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->body, "hello\n");
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain");
    EXPECT_EQ(res->get_header_value("X-Console-Offset"), "6");
}

TEST_F(UnixHttpServerTest, OversizedBodiesGetJson413AndNeverReachTheHandler) {
    std::atomic<int> calls{0};
    UnixHttpServer::Options options;
    options.max_body_bytes = 1024;
    serve(
        [&](std::shared_ptr<HttpRequest> r) {
            ++calls;
            r->reply_json(200, {{"ok", true}});
        },
        options);
    auto c = client_for(path_);
    auto big = c.Post("/x", std::string(1025, 'a'), "application/json");
    ASSERT_TRUE(big);
    EXPECT_EQ(big->status, 413);
    EXPECT_NE(nlohmann::json::parse(big->body)["error"].get<std::string>().find("at most 1024"),
              std::string::npos);
    // Past libevent's own limit the status is still 413 (its own page).
    auto huge = client_for(path_).Post("/x", std::string(UnixHttpServer::kHardBodyLimit + 1, 'a'),
                                       "application/json");
    if (huge) {
        EXPECT_EQ(huge->status, 413);
    }
    EXPECT_EQ(calls, 0);
    auto ok = client_for(path_).Post("/x", std::string(1024, 'a'), "application/json");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(calls, 1);
}

TEST_F(UnixHttpServerTest, AnswersLaterEvenPastTheIoTimeout) {
    UnixHttpServer::Options options;
    options.io_timeout_s = 1;
    serve(
        [this](std::shared_ptr<HttpRequest> r) {
            later(1500ms, [r] { r->reply_json(200, {{"waited", true}}); });
        },
        options);
    const auto start = std::chrono::steady_clock::now();
    auto res = client_for(path_).Get("/wait");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(nlohmann::json::parse(res->body)["waited"], true);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 1400ms);
}

TEST_F(UnixHttpServerTest, AClientThatHangsUpBeforeALateAnswerCostsNothing) {
    std::atomic<bool> answered{false};
    serve([&](std::shared_ptr<HttpRequest> r) {
        if (r->path() == "/slow") {
            later(300ms, [r, &answered] {
                r->reply_json(200, {{"late", true}});
                answered = true;
            });
            return;
        }
        r->reply_json(200, {{"fast", true}});
    });
    {
        Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path_.c_str());
        ASSERT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
        const std::string req = "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n";
        ASSERT_EQ(write(fd.get(), req.data(), req.size()), static_cast<ssize_t>(req.size()));
        std::this_thread::sleep_for(50ms);
    }  // hangs up
    for (int i = 0; i < 200 && !answered; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_TRUE(answered);
    auto res = client_for(path_).Get("/fast");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    std::size_t pending = 1;
    loop_.run([&] { pending = server_->pending(); });
    EXPECT_EQ(pending, 0u);
}

TEST_F(UnixHttpServerTest, ARequestDroppedUnansweredGets500) {
    serve([](std::shared_ptr<HttpRequest>) {});
    auto res = client_for(path_).Get("/forgotten");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 500);
    EXPECT_TRUE(nlohmann::json::parse(res->body).contains("error"));
}

TEST_F(UnixHttpServerTest, AHandlerThatThrowsGets500AndTheServerGoesOn) {
    serve([](std::shared_ptr<HttpRequest> r) {
        if (r->path() == "/throw") {
            throw std::runtime_error("boom");
        }
        r->reply_json(200, {});
    });
    auto bad = client_for(path_).Get("/throw");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 500);
    EXPECT_NE(bad->body.find("boom"), std::string::npos);
    auto ok = client_for(path_).Get("/fine");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
}

TEST_F(UnixHttpServerTest, DestroyingTheServerWithAPendingRequestIsClean) {
    std::shared_ptr<HttpRequest> kept;
    std::atomic<bool> got{false};
    serve([&](std::shared_ptr<HttpRequest> r) {
        kept = r;
        got = true;
    });
    std::thread client([this] {
        auto res = client_for(path_).Get("/never");
        EXPECT_FALSE(res && res->status == 200);
    });
    for (int i = 0; i < 300 && !got; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(got);
    loop_.stop();
    server_.reset();  // closes the connection: the client sees it drop
    client.join();
    kept.reset();  // a request that outlived its server is inert
    EXPECT_NE(access(path_.c_str(), F_OK), 0) << "the socket file is removed";
}

TEST(UnixHttpServerBind, ReplacesAStaleSocketAndSetsTheMode) {
    const std::string path = test_socket_path("stale");
    unlink(path.c_str());
    {
        Fd fd(socket(AF_UNIX, SOCK_STREAM, 0));
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strcpy(addr.sun_path, path.c_str());
        ASSERT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }  // closed without unlink: stale
    LoopThread loop;
    UnixHttpServer::Options options;
    options.socket_path = path;
    options.mode = 0666;
    {
        UnixHttpServer server(loop.loop(), options, [](auto r) { r->reply_json(200, {}); });
        struct stat st {};
        ASSERT_EQ(lstat(path.c_str(), &st), 0);
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
        EXPECT_EQ(st.st_mode & 0777, 0666u);
        // A second server on the same live socket is refused.
        try {
            UnixHttpServer second(loop.loop(), options, [](auto) {});
            ADD_FAILURE() << "a second server bound a live socket";
        } catch (const InvalidInput& e) {
            EXPECT_NE(std::string(e.what()).find("in use"), std::string::npos) << e.what();
        }
        ASSERT_EQ(lstat(path.c_str(), &st), 0) << "the live socket is still there";
    }
    EXPECT_NE(access(path.c_str(), F_OK), 0);
}

TEST(UnixHttpServerBind, NeverReplacesSomethingThatIsNotASocket) {
    const std::string path = test_socket_path("file");
    { std::ofstream(path) << "precious"; }
    LoopThread loop;
    UnixHttpServer::Options options;
    options.socket_path = path;
    EXPECT_THROW(UnixHttpServer(loop.loop(), options, [](auto) {}), InvalidInput);
    std::ifstream in(path);
    std::string content;
    in >> content;
    EXPECT_EQ(content, "precious");
    unlink(path.c_str());

    const std::string dir = test_socket_path("dir");
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    options.socket_path = dir;
    EXPECT_THROW(UnixHttpServer(loop.loop(), options, [](auto) {}), InvalidInput);
    EXPECT_EQ(rmdir(dir.c_str()), 0);

    options.socket_path = "/tmp/" + std::string(200, 'x');
    EXPECT_THROW(UnixHttpServer(loop.loop(), options, [](auto) {}), InvalidInput);
}

TEST(UnixHttpServerBind, LeavesASocketFileThatIsNoLongerItsOwn) {
    const std::string path = test_socket_path("moved");
    unlink(path.c_str());
    LoopThread loop;
    UnixHttpServer::Options options;
    options.socket_path = path;
    {
        UnixHttpServer server(loop.loop(), options, [](auto) {});
        unlink(path.c_str());
        std::ofstream(path) << "someone else's";
    }
    EXPECT_EQ(access(path.c_str(), F_OK), 0);
    unlink(path.c_str());
}

// The same server on a TCP address (vmd's --metrics-listen): port 0 takes
// a free port and says which; peers have no credentials there.
TEST(UnixHttpServerTcp, ListensOnALoopbackPortAndAnswers) {
    LoopThread loop;
    UnixHttpServer::Options options;
    options.tcp_address = "127.0.0.1:0";
    uid_t seen_uid = 0;
    UnixHttpServer server(loop.loop(), options, [&](std::shared_ptr<HttpRequest> r) {
        seen_uid = r->peer().uid;
        r->reply_text(200, "up 1\n", "text/plain; version=0.0.4");
    });
    ASSERT_NE(server.tcp_port(), 0);
    loop.start();
    httplib::Client c("127.0.0.1", server.tcp_port());
    c.set_connection_timeout(2, 0);
    c.set_read_timeout(10, 0);
    const auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "up 1\n");
    EXPECT_EQ(seen_uid, static_cast<uid_t>(-1)) << "no SO_PEERCRED over TCP";
    loop.stop();
}

TEST(UnixHttpServerTcp, APortInUseOrABadAddressIsRefusedByName) {
    LoopThread loop;
    UnixHttpServer::Options options;
    options.tcp_address = "127.0.0.1:0";
    UnixHttpServer first(loop.loop(), options, [](auto) {});
    options.tcp_address = "127.0.0.1:" + std::to_string(first.tcp_port());
    try {
        UnixHttpServer second(loop.loop(), options, [](auto) {});
        ADD_FAILURE() << "a second server bound a port in use";
    } catch (const HostError& e) {
        EXPECT_NE(std::string(e.what()).find(options.tcp_address), std::string::npos) << e.what();
    }
    for (const char* bad :
         {"9100", ":9100", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:x",
          "localhost:9100", "::1:9100", "[::1:9100", "[127.0.0.1]:9100", "300.0.0.1:9100"}) {
        options.tcp_address = bad;
        EXPECT_THROW(UnixHttpServer(loop.loop(), options, [](auto) {}), InvalidInput) << bad;
    }
    options.tcp_address = "[::1]:0";
    try {
        UnixHttpServer v6(loop.loop(), options, [](auto) {});
        EXPECT_NE(v6.tcp_port(), 0);
    } catch (const HostError& e) {
        // A host without IPv6 on its loopback: refused by name, all the same.
        EXPECT_NE(std::string(e.what()).find("[::1]:0"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace base
