// vmd: the supervisor daemon. See vmd --help and docs/vmd.md.

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#ifdef VMD_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "base/error.h"
#include "supervisor/vmd/daemon.h"
#include "supervisor/vmd/options.h"

namespace {

std::int64_t mem_total_mib() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    std::int64_t kib = 0;
    std::string unit;
    while (in >> key >> kib >> unit) {
        if (key == "MemTotal:") {
            return kib / 1024;
        }
    }
    return 0;
}

std::string beside_this_program(const std::string& name) {
    std::error_code ec;
    const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? name : (self.parent_path() / name).string();
}

void notify_ready() {
#ifdef VMD_HAVE_LIBSYSTEMD
    sd_notify(0, "READY=1");
#endif
}

}  // namespace

int main(int argc, char** argv) {
    supervisor::vmd::Options o;
    CLI::App app{"vmd: the supervisor of the vmm-platform's instances (docs/vmd.md)", "vmd"};
    app.add_option("--state-dir", o.state_dir, "database, images, volumes, instance files")
        ->capture_default_str();
    app.add_option("--socket", o.socket, "the API's Unix socket")->capture_default_str();
    app.add_option("--run-dir", o.run_dir,
                   "per-instance vmm API sockets go to RUN_DIR/vm (default: the socket's "
                   "directory)");
    app.add_option("--cgroup-root", o.cgroup_root, "parent of the per-instance cgroups (cgroup v2)")
        ->capture_default_str();
    app.add_option("--vmm", o.vmm, "the vmm program (default: vmm beside vmd)");
    app.add_option("--default-kernel", o.default_kernel,
                   "the kernel of images imported without one");
    app.add_option("--default-cmdline", o.default_cmdline,
                   "the command line of images imported without one")
        ->capture_default_str();
    app.add_option("--max-memory", o.max_memory_mib,
                   "MiB the instances may hold together (default: MemTotal - 1024)")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--min-free-disk", o.min_free_disk_mib,
                   "MiB of the state dir's file system that runs never use")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--console-max-bytes", o.console_max_bytes, "per-instance console log cap")
        ->capture_default_str()
        ->check(CLI::Range(std::int64_t{4096}, std::int64_t{1} << 40));
    app.add_option("--terminated-listed", o.terminated_listed_s,
                   "seconds a terminated instance stays listed")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--kill-grace", o.kill_grace_s,
                   "seconds from a forced stop's SIGTERM to its SIGKILL")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    app.add_option("--qemu-img", o.qemu_img, "qemu-img, for images that are not raw")
        ->capture_default_str();
    app.add_option("--network", o.network,
                   "instance networking: bridge (addresses, bridge, taps, isolation), addresses "
                   "(leases only, no network card), none")
        ->capture_default_str()
        ->check(CLI::IsMember({"bridge", "addresses", "none"}));
    app.add_flag_callback(
        "--no-network", [&o] { o.network = "none"; },
        "the same as --network none: no addresses, no bridge, no taps");
    app.add_option("--bridge", o.bridge, "the instances' host bridge")->capture_default_str();
    app.add_option("--network-cidr", o.network_cidr, "the instances' IPv4 network")
        ->capture_default_str();
    app.add_option("--gateway", o.gateway,
                   "the bridge's own address in it (default: the network's first address)");
    app.add_option("--dns", o.dns, "name servers given to guests (default: the gateway)");
    app.add_option("--meter-interval", o.meter_interval_s,
                   "seconds between two usage samples of every running vmm (docs/metering.md)")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600));
    app.add_option("--price-sheet", o.price_sheet,
                   "JSON price sheet for usage reports (default: docs/metering.md's)");
    app.add_option("--metrics-file", o.metrics_file,
                   "write the usage counters there in Prometheus' text format every interval");
    app.add_option("--metrics-listen", o.metrics_listen,
                   "serve the same text at GET /metrics on this TCP HOST:PORT (127.0.0.1:9100, "
                   "[::1]:9100; port 0: any free one); off by default");
    app.set_version_flag("--version", "vmd 0.1.0");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : 2;
    }
    if (o.vmm.empty()) {
        o.vmm = beside_this_program("vmm");
    }
    if (o.max_memory_mib == 0) {
        o.max_memory_mib = std::max<std::int64_t>(0, mem_total_mib() - 1024);
    }
    for (std::string* path : {&o.state_dir, &o.socket, &o.run_dir, &o.vmm, &o.default_kernel,
                              &o.price_sheet, &o.metrics_file}) {
        if (!path->empty()) {
            *path = std::filesystem::absolute(*path).lexically_normal().string();
        }
    }
    signal(SIGPIPE, SIG_IGN);
    try {
        supervisor::vmd::Daemon daemon(o);
        daemon.start();
        notify_ready();
        daemon.run();
        return 0;
    } catch (const base::InvalidInput& e) {
        std::fprintf(stderr, "vmd: %s\n", e.what());
        return 2;
    } catch (const base::Error& e) {
        std::fprintf(stderr, "vmd: %s\n", e.what());
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "vmd: internal error (a bug in vmd, please report it): %s\n",
                     e.what());
        return 1;
    }
}
