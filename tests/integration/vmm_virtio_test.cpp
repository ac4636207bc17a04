// Virtio devices with real guests: ephemeral and persistent disks, data
// integrity under concurrent requests, read-only and discard, a failing
// backend, and the network over a tap on a bridge. Disk images live on /tmp
// (tmpfs in the sandbox: the scratch share is 9p and has no hole punching).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "tests/integration/vmm_process.h"

namespace {

using namespace std::chrono_literals;
using testing_support::GuestArtifacts;
using testing_support::http_unix;
using testing_support::VmmProcess;

constexpr auto kBootTimeout = 180s;
constexpr auto kExitTimeout = 60s;
constexpr auto kIoTimeout = 600s;  // bulk I/O inside the emulated sandbox is slow

int sh(const std::string& command) {
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string capture(const std::string& command) {
    std::string out;
    if (FILE* p = popen(command.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
            out.append(buf, n);
        }
        pclose(p);
    }
    return out;
}

std::string sha256_of(const std::string& path) {
    return capture("sha256sum " + path + " | cut -c1-64 | tr -d '\\n'");
}

// One ICMP echo to `address` from the host (the sandbox has no ping
// binary); true when the answer arrives within the timeout.
bool icmp_echo(const char* address, int timeout_s) {
    const int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) {
        return false;
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    inet_pton(AF_INET, address, &to.sin_addr);
    icmphdr echo{};
    echo.type = ICMP_ECHO;
    echo.un.echo.id = htons(static_cast<std::uint16_t>(getpid()));
    echo.un.echo.sequence = htons(1);
    std::uint32_t sum = 0;
    const auto* words = reinterpret_cast<const std::uint16_t*>(&echo);
    for (std::size_t i = 0; i < sizeof echo / 2; ++i) {
        sum += words[i];
    }
    sum = (sum & 0xFFFF) + (sum >> 16);
    echo.checksum = static_cast<std::uint16_t>(~(sum + (sum >> 16)));
    bool answered = false;
    if (sendto(fd, &echo, sizeof echo, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
        sizeof echo) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
        timeval tv{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        while (!answered && std::chrono::steady_clock::now() < deadline) {
            std::uint8_t buf[1500];
            sockaddr_in from{};
            socklen_t len = sizeof from;
            const ssize_t n =
                recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 0 || from.sin_addr.s_addr != to.sin_addr.s_addr) {
                continue;
            }
            const std::size_t ip_header = (buf[0] & 0x0F) * 4u;
            answered = static_cast<std::size_t>(n) >= ip_header + sizeof(icmphdr) &&
                       buf[ip_header] == ICMP_ECHOREPLY;
        }
    }
    close(fd);
    return answered;
}

std::uint64_t allocated_bytes(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
}

class VmmVirtio : public ::testing::Test {
  protected:
    void SetUp() override {
        a_ = GuestArtifacts::from_env();
        if (a_.vmm.empty() || access(a_.vmm.c_str(), X_OK) != 0) {
            GTEST_SKIP() << "build/bin/vmm or the guest artefacts are missing (run make test)";
        }
        dir_ = "/tmp/vmm-virtio-" + std::to_string(getpid());
        ASSERT_EQ(sh("mkdir -p " + dir_), 0);
        setenv("TMPDIR", "/tmp", 1);  // where ephemeral overlays go
    }
    void TearDown() override {
        if (!dir_.empty()) {
            sh("rm -rf " + dir_);
        }
    }
    std::vector<std::string> initramfs_args(std::vector<std::string> extra,
                                            const std::string& memory = "256") {
        std::vector<std::string> v{"--kernel", a_.bzimage, "--initrd",  a_.initramfs,
                                   "--memory", memory,     "--cmdline", "console=ttyS0 quiet"};
        v.insert(v.end(), extra.begin(), extra.end());
        return v;
    }
    std::vector<std::string> disk_root_args(const std::string& disk_spec) {
        return {"--kernel", a_.bzimage,  "--memory",
                "256",      "--cmdline", "console=ttyS0 quiet root=/dev/vda rw",
                "--disk",   disk_spec};
    }
    // Runs `command` in the guest's shell and waits for `expect` in what it
    // prints. Commands end in `echo rc=$?` so that the typed echo (which
    // shows "$?") can never match.
    static bool shell(VmmProcess& vm, const std::string& command, const std::string& expect,
                      std::chrono::milliseconds timeout = 60s) {
        const std::size_t from = vm.output().size();
        vm.type(command + "\n");
        return vm.wait_output(expect, timeout, from);
    }
    // Runs `command` in the guest's shell and returns its exit status, or -1
    // when it did not end within `timeout`. The status is the number after
    // "rc=" in what the shell prints (the typed echo shows "rc=$?", no digit).
    static int shell_status(VmmProcess& vm, const std::string& command,
                            std::chrono::milliseconds timeout) {
        const std::size_t from = vm.output().size();
        vm.type(command + "; echo rc=$?\n");
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        const std::regex status("rc=([0-9]+)");
        do {
            const std::string out = vm.output();
            std::smatch m;
            if (out.size() > from &&
                std::regex_search(out.cbegin() + static_cast<long>(from), out.cend(), m, status)) {
                return std::stoi(m[1].str());
            }
            std::this_thread::sleep_for(100ms);
        } while (std::chrono::steady_clock::now() < deadline);
        return -1;
    }
    static bool wait_ready(VmmProcess& vm, int boot) {
        const auto deadline = std::chrono::steady_clock::now() + kBootTimeout;
        while (std::chrono::steady_clock::now() < deadline) {
            for (const auto& e : vm.events()) {
                if (e["event"] == "ready" && e["boot"] == boot) {
                    return true;
                }
            }
            if (vm.wait_exit(0ms)) {
                return false;
            }
            std::this_thread::sleep_for(100ms);
        }
        return false;
    }

    GuestArtifacts a_;
    std::string dir_;
};

TEST_F(VmmVirtio, EphemeralRootKeepsWritesAcrossRebootAndLosesThemAtExit) {
    const std::string image = dir_ + "/root.ext4";
    ASSERT_EQ(sh("cp --sparse=always " + a_.rootfs + " " + image), 0);
    const std::string digest = sha256_of(image);
    {
        VmmProcess vm(a_, disk_root_args("path=" + image + ",ephemeral"));
        ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
        ASSERT_TRUE(shell(vm, "echo kept > /marker && sync; echo rc=$?", "rc=0")) << vm.output();
        vm.type("reboot\n");
        ASSERT_TRUE(wait_ready(vm, 2)) << vm.output();
        // The console tells a lost write ("can't open '/marker'") from a guest that hangs.
        EXPECT_TRUE(shell(vm, "cat /marker; echo rc=$?", "kept"))
            << "survives the reboot; console:\n"
            << vm.output();
        vm.type("poweroff\n");
        EXPECT_EQ(vm.wait_exit(kExitTimeout), 0) << vm.output();
    }
    EXPECT_EQ(sha256_of(image), digest) << "the image never changes";
    VmmProcess vm(a_, disk_root_args("path=" + image + ",ephemeral"));
    ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
    EXPECT_TRUE(shell(vm, "test -e /marker; echo rc=$?", "rc=1"))
        << "gone after the VMM exited; console:\n"
        << vm.output();
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0);
    EXPECT_EQ(sha256_of(image), digest);
}

TEST_F(VmmVirtio, PersistentDiskKeepsFlushedDataThroughSigkill) {
    const std::string image = dir_ + "/data.ext4";
    ASSERT_EQ(sh("truncate -s 64M " + image + " && mkfs.ext4 -q -F " + image), 0);
    const auto args = initramfs_args({"--disk", "path=" + image});
    {
        VmmProcess vm(a_, args);
        ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
        ASSERT_TRUE(shell(vm,
                          "mkdir -p /mnt && mount /dev/vda /mnt && "
                          "dd if=/dev/urandom of=/mnt/blob bs=1M count=8 2>/dev/null && "
                          "sha256sum /mnt/blob > /mnt/blob.sum && sync; echo rc=$?",
                          "rc=0", kIoTimeout))
            << vm.output();
        kill(vm.pid(), SIGKILL);
        ASSERT_TRUE(vm.wait_exit(kExitTimeout));
    }
    VmmProcess vm(a_, args);
    ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
    EXPECT_TRUE(shell(vm,
                      "mkdir -p /mnt && mount /dev/vda /mnt && cd /mnt && sha256sum -c blob.sum "
                      "&& cd / && umount /mnt; echo rc=$?",
                      "rc=0", kIoTimeout))
        << vm.output();
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0) << vm.output();
    EXPECT_EQ(sh("e2fsck -fn " + image + " >/dev/null 2>&1"), 0) << "the file system is clean";
}

TEST_F(VmmVirtio, ConcurrentWritesReadBackIntactAndReachTheFile) {
    // Four writers at once, 40 regions of 4 MiB: 160 MiB written, read back
    // with O_DIRECT and compared in the guest, then checked in the file.
    const std::string image = dir_ + "/raw.img";
    ASSERT_EQ(sh("truncate -s 160M " + image), 0);
    VmmProcess vm(a_, initramfs_args({"--disk", "path=" + image}, "384"));
    ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
    ASSERT_TRUE(
        shell(vm,
              "dd if=/dev/urandom of=/tmp/chunk bs=1M count=4 2>/dev/null; "
              "for w in 0 1 2 3; do (for r in $(seq 0 9); do "
              "dd if=/tmp/chunk of=/dev/vda bs=1M seek=$(( (w*10+r)*4 )) conv=notrunc "
              "oflag=direct 2>/dev/null || echo WRITE-FAIL\"\"ED; done) & done; wait; sync; "
              "c=$(sha256sum < /tmp/chunk | cut -c1-64); bad=0; for i in $(seq 0 39); do "
              "h=$(dd if=/dev/vda bs=1M skip=$((i*4)) count=4 iflag=direct 2>/dev/null | "
              "sha256sum | cut -c1-64); [ \"$h\" = \"$c\" ] || bad=$((bad+1)); done; "
              "echo bad=$bad rc=$?",
              "rc=0", kIoTimeout))
        << vm.output();
    EXPECT_NE(vm.output().find("bad=0 "), std::string::npos) << vm.output();
    EXPECT_EQ(vm.output().find("WRITE-FAILED"), std::string::npos);
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0);

    std::ifstream in(image, std::ios::binary);
    std::vector<char> first(4 << 20), region(4 << 20);
    ASSERT_TRUE(in.read(first.data(), first.size()));
    EXPECT_NE(std::count(first.begin(), first.end(), 0), static_cast<long>(first.size()));
    for (int i = 1; i < 40; ++i) {
        ASSERT_TRUE(in.read(region.data(), region.size()));
        EXPECT_EQ(region, first) << "region " << i << " of the file";
    }
}

TEST_F(VmmVirtio, ReadOnlyRefusesWritesDiscardFreesBlocksGetIdNamesTheDisk) {
    const std::string ro = dir_ + "/ro.img";
    const std::string trim = dir_ + "/trim.img";
    ASSERT_EQ(sh("dd if=/dev/urandom of=" + ro + " bs=1M count=8 2>/dev/null"), 0);
    ASSERT_EQ(sh("dd if=/dev/urandom of=" + trim + " bs=1M count=32 2>/dev/null"), 0);
    const std::string ro_digest = sha256_of(ro);
    const std::uint64_t before = allocated_bytes(trim);
    ASSERT_GE(before, 32u << 20);
    VmmProcess vm(a_, initramfs_args({"--disk", "path=" + ro + ",readonly", "--disk",
                                      "path=" + trim + ",id=trim-disk"}));
    ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
    EXPECT_TRUE(shell(vm, "echo ro=$(cat /sys/block/vda/ro)", "ro=1")) << vm.output();
    EXPECT_TRUE(shell(vm,
                      "dd if=/dev/zero of=/dev/vda bs=4k count=1 oflag=direct 2>/dev/null; "
                      "echo rc=$?",
                      "rc=1"))
        << vm.output();
    EXPECT_TRUE(shell(vm, "cat /sys/block/vdb/serial; echo rc=$?", "trim-disk")) << vm.output();
    EXPECT_TRUE(shell(vm, "blkdiscard /dev/vdb; echo rc=$?", "rc=0", kIoTimeout)) << vm.output();
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0);
    EXPECT_EQ(sha256_of(ro), ro_digest);
    EXPECT_LT(allocated_bytes(trim), before / 4) << "discard punched holes in the file";
}

TEST_F(VmmVirtio, AFailingBackendGivesTheGuestIoErrorsAndTheVmmGoesOn) {
    const std::string image = dir_ + "/failing.img";
    const std::string api = a_.socket_dir + "/virtio-fail.sock";
    ASSERT_EQ(sh("truncate -s 16M " + image), 0);
    VmmProcess vm(a_,
                  initramfs_args({"--disk", "path=" + image + ",id=failing", "--api-sock", api}));
    ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
    // The file shrinks under the guest: reads past its new end fail.
    ASSERT_EQ(sh("truncate -s 0 " + image), 0);
    EXPECT_TRUE(shell(vm,
                      "dd if=/dev/vda of=/dev/null bs=4k count=1 skip=2000 iflag=direct "
                      "2>/dev/null; echo rc=$?",
                      "rc=1"))
        << vm.output();
    EXPECT_TRUE(shell(vm, "echo alive-$((40+2))", "alive-42")) << "the guest goes on";
    const auto metrics = nlohmann::json::parse(http_unix(api, "GET", "/metrics").second);
    EXPECT_GT(metrics["virtio"]["virtio-blk failing"]["errors"].get<int>(), 0) << metrics.dump();
    EXPECT_TRUE(vm.wait_event("disk-error", 5s));
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0);
}

// A reboot the VMM is asked for while the guest keeps its disk busy: the
// reset cancels or waits for the reads in flight, memory is cleared only
// then, and the next boot comes up on a quiet device. (That a reset never
// returns over I/O in flight is shown deterministically by the unit tests;
// this checks the whole path with a real driver and real io_uring.)
TEST_F(VmmVirtio, ARebootWhileTheGuestReadsItsDiskBootsAgainOnAQuietDevice) {
    const std::string image = dir_ + "/busy.img";
    const std::string api = a_.socket_dir + "/virtio-reboot.sock";
    ASSERT_EQ(sh("head -c 32M /dev/urandom > " + image), 0);
    VmmProcess vm(
        a_, initramfs_args({"--disk", "path=" + image + ",id=busy,readonly", "--api-sock", api}));
    ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
    ASSERT_TRUE(shell(vm,
                      "(while :; do dd if=/dev/vda of=/dev/null bs=256k iflag=direct "
                      "2>/dev/null; done) & echo rc=$?",
                      "rc=0"))
        << vm.output();
    auto reads = [&] {
        const auto m = nlohmann::json::parse(http_unix(api, "GET", "/metrics").second);
        return m["virtio"]["virtio-blk busy"]["read_requests"].get<std::uint64_t>();
    };
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (reads() < 200 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_GE(reads(), 200u) << "the guest is reading";
    EXPECT_EQ(http_unix(api, "PUT", "/vm/actions", R"({"action": "reboot"})").first, 202);
    ASSERT_TRUE(wait_ready(vm, 2)) << vm.output();
    const auto m = nlohmann::json::parse(http_unix(api, "GET", "/metrics").second);
    EXPECT_EQ(m["virtio"]["virtio-blk busy"]["errors"], 0) << m.dump();
    EXPECT_TRUE(
        shell(vm, "dd if=/dev/vda of=/dev/null bs=1M count=4 2>/dev/null; echo rc=$?", "rc=0"))
        << "the disk works in the next boot; console:\n"
        << vm.output();
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0) << vm.output();
}

// The host end of a TCP transfer: accepts one connection on 198.18.0.1:port
// and either sends `send` or receives exactly `expect` bytes into `received`.
class HostPeer {
  public:
    HostPeer(std::uint16_t port, std::string send, std::size_t expect)
        : send_(std::move(send)), expect_(expect) {
        fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        inet_pton(AF_INET, "198.18.0.1", &addr.sin_addr);
        ok_ =
            bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(fd_, 1) == 0;
        timeval tv{300, 0};
        setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        thread_ = std::thread([this] { serve(); });
    }
    ~HostPeer() {
        shutdown(fd_, SHUT_RDWR);
        if (thread_.joinable()) {
            thread_.join();
        }
        close(fd_);
    }
    bool listening() const { return ok_; }
    // Waits for the transfer to end.
    std::string received() {
        if (thread_.joinable()) {
            thread_.join();
        }
        return received_;
    }

  private:
    void serve() {
        const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) {
            return;
        }
        timeval tv{300, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        std::size_t at = 0;
        while (at < send_.size()) {
            const ssize_t n = write(c, send_.data() + at, send_.size() - at);
            if (n <= 0) {
                break;
            }
            at += static_cast<std::size_t>(n);
        }
        char buf[65536];
        while (received_.size() < expect_) {
            const ssize_t n = read(c, buf, sizeof buf);
            if (n <= 0) {
                break;
            }
            received_.append(buf, static_cast<std::size_t>(n));
        }
        close(c);
    }

    int fd_ = -1;
    bool ok_ = false;
    std::string send_;
    std::size_t expect_;
    std::string received_;
    std::thread thread_;
};

std::string sha256_of_bytes(const std::string& bytes, const std::string& dir) {
    const std::string path = dir + "/bytes.bin";
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<long>(bytes.size()));
    return sha256_of(path);
}

TEST_F(VmmVirtio, NetworkPingAndTcpBothWaysOverATapOnABridge) {
    ASSERT_EQ(sh("ip link add vt-br type bridge && ip addr add 198.18.0.1/24 dev vt-br && "
                 "ip link set vt-br up && ip tuntap add dev vt-tap mode tap && "
                 "ip link set vt-tap master vt-br && ip link set vt-tap up"),
              0);
    struct Cleanup {
        ~Cleanup() { sh("ip link del vt-tap 2>/dev/null; ip link del vt-br 2>/dev/null"); }
    } cleanup;
    const std::string api = a_.socket_dir + "/virtio-net.sock";
    VmmProcess vm(a_, initramfs_args({"--net", "tap=vt-tap,id=eth", "--api-sock", api}, "512"));
    ASSERT_TRUE(wait_ready(vm, 1)) << vm.output();
    ASSERT_TRUE(shell(vm,
                      "ip addr add 198.18.0.2/24 dev eth0 && ip link set eth0 up && "
                      "ping -c 2 -W 10 198.18.0.1 >/dev/null; echo rc=$?",
                      "rc=0", 120s))
        << vm.output();
    EXPECT_TRUE(icmp_echo("198.18.0.2", 30)) << "the host reaches the guest";

    auto net_counter = [&](const char* name) {
        const auto m = nlohmann::json::parse(http_unix(api, "GET", "/metrics").second);
        return m["virtio"]["virtio-net eth"][name].get<std::uint64_t>();
    };
    // The host kernel's count of the same frames, on the tap's side.
    auto tap_counter = [](const char* name) {
        return std::stoull(capture(std::string("cat /sys/class/net/vt-tap/statistics/") + name));
    };
    // 16 MiB is some 11,000 frames each way: the rings wrap dozens of times.
    constexpr std::size_t kBytes = 16 << 20;

    // Guest -> host.
    {
        HostPeer peer(5000, "", kBytes);
        ASSERT_TRUE(peer.listening());
        ASSERT_TRUE(shell(vm,
                          "dd if=/dev/urandom of=/tmp/blob bs=1M count=16 2>/dev/null; "
                          "echo sum=$(sha256sum /tmp/blob | cut -c1-64) rc=$?",
                          "rc=0", kIoTimeout))
            << vm.output();
        const std::string out = vm.output();
        const std::size_t at = out.rfind("sum=");
        ASSERT_NE(at, std::string::npos);
        const std::string guest_sum = out.substr(at + 4, 64);
        const std::uint64_t tx_before = net_counter("tx_bytes");
        const std::uint64_t tap_rx_before = tap_counter("rx_bytes");
        // nc's own status: it ends 0 once the peer took everything and closed.
        ASSERT_EQ(shell_status(vm, "nc 198.18.0.1 5000 < /tmp/blob", kIoTimeout), 0)
            << vm.output().substr(vm.output().size() > 2000 ? vm.output().size() - 2000 : 0);
        const std::string got = peer.received();
        ASSERT_EQ(got.size(), kBytes);
        EXPECT_EQ(sha256_of_bytes(got, dir_), guest_sum);
        const double tx = static_cast<double>(net_counter("tx_bytes") - tx_before);
        const double tap_rx = static_cast<double>(tap_counter("rx_bytes") - tap_rx_before);
        EXPECT_GE(tx, kBytes * 1.0);
        EXPECT_NEAR(tx, tap_rx, tap_rx * 0.01) << "tx_bytes counts the frames the tap received";
    }
    // Host -> guest.
    {
        std::string data(kBytes, '\0');
        std::mt19937_64 rng(42);
        for (std::size_t i = 0; i + 8 <= data.size(); i += 8) {
            const std::uint64_t v = rng();
            std::memcpy(data.data() + i, &v, 8);
        }
        const std::string host_sum = sha256_of_bytes(data, dir_);
        const std::uint64_t rx_before = net_counter("rx_bytes");
        const std::uint64_t tap_tx_before = tap_counter("tx_bytes");
        HostPeer peer(5001, data, 0);
        ASSERT_TRUE(peer.listening());
        EXPECT_TRUE(
            shell(vm,
                  "nc 198.18.0.1 5001 > /tmp/in; echo got=$(sha256sum /tmp/in | cut -c1-64) "
                  "rc=$?",
                  "got=" + host_sum, kIoTimeout))
            << vm.output().substr(vm.output().size() > 2000 ? vm.output().size() - 2000 : 0);
        const double rx = static_cast<double>(net_counter("rx_bytes") - rx_before);
        const double tap_tx = static_cast<double>(tap_counter("tx_bytes") - tap_tx_before);
        EXPECT_GE(rx, kBytes * 1.0);
        EXPECT_NEAR(rx, tap_tx, tap_tx * 0.01) << "rx_bytes counts the frames the tap sent";
    }
    vm.type("poweroff\n");
    EXPECT_EQ(vm.wait_exit(kExitTimeout), 0);
}

}  // namespace
