// Readiness probes (docs/vmd.md, "Readiness") with the fake vmm, whose guest
// never writes the ready code (fake.ready_ms=never) unless a test says so.
// vmd leases from 127.0.0.0/24 (`--network addresses`, no bridge), so each
// instance's address is a loopback address: a listener the test opens there
// stands in for the guest's sshd, and nothing answers until it does. (Not
// 198.18.0.0/24 there: a host whose network intercepts every outgoing TCP
// connection would answer for a guest that does not exist.) `auto`'s knock
// on port 22 needs the bridge: that test runs vmd in a network namespace of
// its own and listens there.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <thread>

#include "base/fd.h"
#include "tests/supervisor/vmd_harness.h"

namespace vmd_test {
namespace {

// A TCP listener on ADDRESS:PORT (the guest's service), closed when destroyed.
class Listener {
  public:
    // nullopt (errno set) when the port cannot be had.
    static std::optional<Listener> open(const std::string& address, int port) {
        base::Fd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const int one = 1;
        setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(port));
        inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
        if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0 ||
            listen(fd.get(), 16) != 0) {
            return std::nullopt;
        }
        return Listener(std::move(fd));
    }
    int port() const {
        sockaddr_in sa{};
        socklen_t size = sizeof sa;
        getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &size);
        return ntohs(sa.sin_port);
    }

  private:
    explicit Listener(base::Fd fd) : fd_(std::move(fd)) {}
    base::Fd fd_;
};

// A port nothing listens on now (the kernel's pick, given back).
int free_port() {
    auto l = Listener::open("127.0.0.1", 0);
    return l ? l->port() : 0;
}

class VmdReadyProbe : public VmdTest {
  protected:
    void start_vmd(const std::string& network = "addresses") {
        Vmd::Options o;
        o.network = network;
        o.extra_args = {"--kill-grace", "1", "--network-cidr", "127.0.0.0/24"};
        ASSERT_TRUE(vmd_->start(o));
    }
    // vmd with its bridge, in a network namespace of its own.
    void start_vmd_with_bridge() {
        Vmd::Options o;
        o.network = "bridge";
        o.own_network_namespace = true;
        o.extra_args = {"--kill-grace", "1"};
        ASSERT_TRUE(vmd_->start(o)) << vmd_->log();
    }
    // An image whose guest never writes the ready code, with `probe` (or vmd's default).
    std::string import(const std::string& name, const std::string& probe,
                       const std::string& cmdline = "console=ttyS0 fake.ready_ms=never") {
        const std::string path = vmd_->dir() + "/" + name + ".raw";
        write_raw_file(path, 4 << 20, "image " + name);
        nlohmann::json body{{"name", name}, {"path", path}, {"cmdline", cmdline}};
        if (!probe.empty()) {
            body["ready_probe"] = probe;
        }
        const auto r = vmd_->post("/v1/images", body);
        EXPECT_EQ(r.status, 202) << r.body;
        const std::string id = r.json().value("id", "");
        for (int i = 0;
             i < 500 && vmd_->get("/v1/images/" + id).json().value("state", "") != "available";
             ++i) {
            std::this_thread::sleep_for(20ms);
        }
        return id;
    }
    nlohmann::json run(nlohmann::json body) {
        const auto r = vmd_->post("/v1/instances", body);
        EXPECT_EQ(r.status, 201) << r.body;
        return r.status == 201 ? r.json()["instances"][0] : nlohmann::json::object();
    }
    nlohmann::json instance(const std::string& id) {
        return vmd_->get("/v1/instances/" + id).json();
    }
    // The instance stays in `state` for `how_long` (the probe keeps knocking).
    void stays(const std::string& id, const std::string& state,
               std::chrono::milliseconds how_long = 1500ms) {
        const auto until = std::chrono::steady_clock::now() + how_long;
        while (std::chrono::steady_clock::now() < until) {
            ASSERT_EQ(instance(id)["state"], state);
            std::this_thread::sleep_for(100ms);
        }
    }
};

TEST_F(VmdReadyProbe, ATcpProbeMakesTheInstanceRunningOnlyOnceItsPortAnswers) {
    start_vmd();
    const int port = free_port();
    ASSERT_NE(port, 0);
    const std::string probe = "tcp:" + std::to_string(port);
    const std::string image = import("sshd", probe);
    EXPECT_EQ(vmd_->get("/v1/images/" + image).json()["ready_probe"], probe);
    auto made = run({{"image", "sshd"}});
    const std::string id = made["id"];
    EXPECT_EQ(made["ready_probe"], probe) << "copied from the image";
    const auto starting = vmd_->wait_state(id, "starting");
    ASSERT_TRUE(starting["address"].is_string()) << starting.dump();
    const std::string address = starting["address"];
    ASSERT_EQ(address.rfind("127.0.0.", 0), 0u) << address;

    stays(id, "starting");
    const auto sshd = Listener::open(address, port);
    ASSERT_TRUE(sshd) << "listen on " << address << ":" << port << ": " << strerror(errno);
    const auto running = vmd_->wait_state(id, "running", 5s);
    EXPECT_EQ(running["state"], "running") << running.dump();
    EXPECT_NE(vmd_->log().find("answered on " + address + ":" + std::to_string(port)),
              std::string::npos)
        << vmd_->log();
}

TEST_F(VmdReadyProbe, WithNoAnswerTheBootTimesOutNamingTheProbe) {
    start_vmd();
    const int port = free_port();
    import("silent", "");
    auto made = run({{"image", "silent"},
                     {"ready_probe", "tcp:" + std::to_string(port)},
                     {"boot_timeout_s", 2}});
    const std::string id = made["id"];
    EXPECT_EQ(made["ready_probe"], "tcp:" + std::to_string(port)) << "the run's, not the image's";
    const std::string address = vmd_->wait_state(id, "starting")["address"];
    const auto failed = vmd_->wait_state(id, "failed", 10s);
    ASSERT_EQ(failed["state"], "failed") << failed.dump();
    EXPECT_EQ(failed["reason"], "not ready within 2 s (boot timeout): no answer on " + address +
                                    ":" + std::to_string(port) + "; the vmm was killed");
    // Given back once the killed vmm's exit is seen.
    for (int i = 0; i < 250 && !instance(id)["address"].is_null(); ++i) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(instance(id)["address"].is_null()) << "the failed start gave its address back";
}

TEST_F(VmdReadyProbe, TcpAloneDoesNotTakeTheDebugPortsReadyCode) {
    start_vmd();
    const int port = free_port();
    // This guest writes the ready code 50 ms into each boot.
    import("coded", "tcp:" + std::to_string(port), "console=ttyS0 fake.ready_ms=50");
    const std::string id = run({{"image", "coded"}})["id"];
    const std::string address = vmd_->wait_state(id, "starting")["address"];
    stays(id, "starting");
    const auto sshd = Listener::open(address, port);
    ASSERT_TRUE(sshd);
    EXPECT_EQ(vmd_->wait_state(id, "running", 5s)["state"], "running");
}

TEST_F(VmdReadyProbe, AutoIsTheDebugPortsReadyCodeAloneWhereTheGuestHasNoNetworkCard) {
    start_vmd();  // --network addresses: an address, but no card to answer on
    import("ours", "", "console=ttyS0 fake.ready_ms=50");
    EXPECT_EQ(vmd_->get("/v1/images/ours").json()["ready_probe"], "auto") << "the default";
    const std::string ours = run({{"image", "ours"}})["id"];
    EXPECT_EQ(vmd_->wait_state(ours, "running", 5s)["state"], "running")
        << "the project's image: the ready code, unchanged";

    import("stock", "");  // no ready code ever
    const std::string stock = run({{"image", "stock"}, {"boot_timeout_s", 1}})["id"];
    const std::string address = vmd_->wait_state(stock, "starting")["address"];
    const auto sshd = Listener::open(address, 22);
    const auto failed = vmd_->wait_state(stock, "failed", 10s);
    EXPECT_EQ(failed["reason"], "not ready within 1 s (boot timeout); the vmm was killed")
        << "no knock on port 22 of a guest without a network card";
}

// A listener on ADDRESS:PORT in the network namespace of process `pid`,
// where ADDRESS is made a local address first (on lo): with vmd's bridge
// there, it answers vmd's knock as the guest's sshd would.
std::optional<Listener> listen_in_namespace_of(pid_t pid, const std::string& address, int port) {
    const std::string ns = "nsenter -t " + std::to_string(pid) + " -n ";
    command_output(ns + "ip link set lo up; " + ns + "ip addr add " + address + "/32 dev lo");
    std::optional<Listener> listener;
    std::thread([&] {
        base::Fd fd(
            ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
        // Only this short-lived thread moves: its sockets stay in that namespace.
        if (fd.valid() && setns(fd.get(), CLONE_NEWNET) == 0) {
            listener = Listener::open(address, port);
        }
    }).join();
    return listener;
}

TEST_F(VmdReadyProbe, AutoIsAlsoReadyAtAnAnswerOnPort22WithTheBridge) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "a network namespace with a bridge and taps needs root";
    }
    ASSERT_NO_FATAL_FAILURE(start_vmd_with_bridge());
    import("stock", "");  // a distribution image: no ready code ever
    const std::string stock = run({{"image", "stock"}, {"boot_timeout_s", 30}})["id"];
    const std::string address = vmd_->wait_state(stock, "starting")["address"];
    stays(stock, "starting", 1000ms);
    const auto sshd = listen_in_namespace_of(vmd_->pid(), address, 22);
    ASSERT_TRUE(sshd) << "cannot listen on " << address << ":22 in vmd's namespace";
    EXPECT_EQ(vmd_->wait_state(stock, "running", 5s)["state"], "running");
    EXPECT_NE(vmd_->log().find("answered on " + address + ":22"), std::string::npos);
}

// The project's image starts its sshd before its last boot steps and the
// ready code: under auto, a guest that reports its boot on the debug port is
// judged by that port alone, not by port 22 answering first.
TEST_F(VmdReadyProbe, AutoWaitsForTheReadyCodeOfAGuestThatReportsItsBoot) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "a network namespace with a bridge and taps needs root";
    }
    ASSERT_NO_FATAL_FAILURE(start_vmd_with_bridge());
    import("ours", "", "console=ttyS0 fake.ready_ms=3000 fake.progress=1");
    const std::string ours = run({{"image", "ours"}, {"boot_timeout_s", 30}})["id"];
    const std::string address = vmd_->wait_state(ours, "starting")["address"];
    // As with the real guest, whose init reports its first step long before
    // its sshd listens: the port opens after vmd has seen the report.
    for (int i = 0; i < 100 && vmd_->log().find("reports its boot") == std::string::npos; ++i) {
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_NE(vmd_->log().find("reports its boot on the debug port"), std::string::npos)
        << vmd_->log();
    const auto sshd = listen_in_namespace_of(vmd_->pid(), address, 22);
    ASSERT_TRUE(sshd) << "cannot listen on " << address << ":22 in vmd's namespace";
    stays(ours, "starting", 1000ms);
    EXPECT_EQ(vmd_->wait_state(ours, "running", 5s)["state"], "running");
    EXPECT_EQ(vmd_->log().find("answered on " + address + ":22"), std::string::npos) << vmd_->log();
}

TEST_F(VmdReadyProbe, EveryRebootIsProbedAgain) {
    start_vmd();
    const int port = free_port();
    import("rebooter", "tcp:" + std::to_string(port),
           "console=ttyS0 fake.ready_ms=never fake.reboot_ms=20");
    const std::string id = run({{"image", "rebooter"}, {"boot_timeout_s", 30}})["id"];
    const std::string address = vmd_->wait_state(id, "starting")["address"];
    std::optional<Listener> sshd = Listener::open(address, port);
    ASSERT_TRUE(sshd);
    ASSERT_EQ(vmd_->wait_state(id, "running", 5s)["state"], "running");

    sshd.reset();  // the guest's sshd goes down with it
    const auto r = vmd_->post("/v1/instances/" + id + "/reboot", nlohmann::json::object());
    ASSERT_EQ(r.status, 202) << r.body;
    vmd_->wait_state(id, "rebooting");
    stays(id, "rebooting");
    sshd = Listener::open(address, port);
    ASSERT_TRUE(sshd);
    EXPECT_EQ(vmd_->wait_state(id, "running", 5s)["state"], "running");
}

TEST_F(VmdReadyProbe, BadProbesAndTcpWithoutAnAddressAreRefusedWith400) {
    start_vmd("none");
    const std::string path = vmd_->dir() + "/x.raw";
    write_raw_file(path, 1 << 20, "x");
    for (const std::string bad : {"tcp:0", "tcp:70000", "ping"}) {
        const auto r =
            vmd_->post("/v1/images", {{"name", "x"}, {"path", path}, {"ready_probe", bad}});
        EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
        EXPECT_NE(r.body.find(bad), std::string::npos) << r.body;
    }
    import("plain", "");
    auto r = vmd_->post("/v1/instances", {{"image", "plain"}, {"ready_probe", "tcp"}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("tcp:PORT"), std::string::npos) << r.body;
    r = vmd_->post("/v1/instances", {{"image", "plain"}, {"ready_probe", "tcp:22"}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("without instance networking"), std::string::npos) << r.body;
    import("tcp-image", "tcp:2222");
    r = vmd_->post("/v1/instances", {{"image", "tcp-image"}});
    EXPECT_EQ(r.status, 400) << "the image's probe is checked too: " << r.body;
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 0u);
    // Without an address, auto waits for the ready code alone.
    r = vmd_->post("/v1/instances", {{"image", "plain"}});
    EXPECT_EQ(r.status, 201) << r.body;
}

}  // namespace
}  // namespace vmd_test
