// PID 1 of the test image: mount the basics, apply the NoCloud seed, start
// dropbear and a console shell, report progress to the VMM, and shut down
// cleanly on request. Built static by scripts/build-guest-image.
//
// Shutdown requests: the ACPI power button (KEY_POWER on /dev/input/event*),
// busybox poweroff/halt/reboot (SIGUSR2/SIGUSR1/SIGTERM to PID 1) and
// Ctrl-Alt-Del: the key chord on the keyboard's event device, or SIGINT
// from a kernel with CONFIG_VT (init turns off its immediate reboot).
// With `ignore_power_button` on the kernel command line the power button is
// logged and ignored: a guest that will not stop, for the supervisor's tests.
//
// At every boot, before "ready", init runs /etc/rc.local with /bin/sh if the
// image has one (its output on the console), for at most kRcLocalSeconds.
//
// The NoCloud seed is read from a vfat filesystem labelled "cidata". Of its
// YAML files init reads only this subset, one item per line:
//   meta-data:       instance-id: ID, local-hostname: NAME
//   user-data:       #cloud-config, then `hostname: NAME` and
//                    `ssh_authorized_keys:` followed by `  - KEY` lines, and
//                    the `ssh_keys:` ed25519 private key (an OpenSSH PEM
//                    block), dropbear's host key once converted; or a
//                    MIME multipart message whose text/x-shellscript parts
//                    run once per instance id, in the background once sshd
//                    is up (output in /var/log/user-data.log); or a script
//   network-config:  the first `addresses:` item (`[A/N]` or `- A/N`) and
//                    `gateway4: G` (or `gateway: G`), applied to the first
//                    interface matching `name: PATTERN` (and `macaddress:`
//                    when given), else to eth0

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/input.h>
#include <linux/reboot.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/io.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "boot_progress.h"

namespace {

void log(const std::string& msg) {
    const std::string line = "init: " + msg + "\n";
    if (write(STDERR_FILENO, line.data(), line.size()) < 0) {
        // Nowhere else to report it.
    }
}

bool progress_port_usable = false;

constexpr int kRcLocalSeconds = 120;

void progress(boot_progress::Code code) {
    if (progress_port_usable) {
        outb(code, boot_progress::kPort);
    }
}

void mount_or_log(const char* source, const char* target, const char* type, unsigned long flags = 0,
                  const char* data = nullptr) {
    mkdir(target, 0755);
    if (mount(source, target, type, flags, data) != 0 && errno != EBUSY) {
        log(std::string("mount ") + type + " on " + target + ": " + std::strerror(errno));
    }
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string trim(std::string s) {
    const char* ws = " \t\r\n\"'";
    s.erase(0, s.find_first_not_of(ws));
    s.erase(s.find_last_not_of(ws) + 1);
    return s;
}

// The value of the first `key: value` line (at any indentation), or "".
std::string yaml_value(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        const std::string t = trim(line);
        if (t.rfind(key + ":", 0) == 0) {
            return trim(t.substr(key.size() + 1));
        }
    }
    return "";
}

// The `- item` lines following `key:` (or its inline [a, b] list).
std::vector<std::string> yaml_list(const std::string& text, const std::string& key) {
    std::vector<std::string> items;
    std::istringstream in(text);
    bool inside = false;
    for (std::string line; std::getline(in, line);) {
        const std::string t = trim(line);
        if (!inside) {
            if (t.rfind(key + ":", 0) != 0) {
                continue;
            }
            std::string rest = trim(t.substr(key.size() + 1));
            if (!rest.empty() && rest.front() == '[') {
                std::istringstream list(rest.substr(1, rest.find(']') - 1));
                for (std::string item; std::getline(list, item, ',');) {
                    items.push_back(trim(item));
                }
                return items;
            }
            inside = true;
        } else if (t.rfind("- ", 0) == 0) {
            items.push_back(trim(t.substr(2)));
        } else if (!t.empty()) {
            break;
        }
    }
    return items;
}

// In a child between fork and exec: undo what PID 1 blocked for itself.
void reset_signals() {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

int run(const std::vector<std::string>& argv) {
    const pid_t pid = fork();
    if (pid == 0) {
        reset_signals();
        std::vector<char*> args;
        for (const auto& a : argv) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        execv(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs /etc/rc.local if there is one; kills it (and what it started in its
// process group) when it takes longer than kRcLocalSeconds.
void run_rc_local() {
    if (access("/etc/rc.local", R_OK) != 0) {
        return;
    }
    const pid_t pid = fork();
    if (pid == 0) {
        reset_signals();
        setpgid(0, 0);
        execl("/bin/sh", "sh", "/etc/rc.local", nullptr);
        _exit(127);
    }
    int status = 0;
    for (int i = 0; pid > 0 && i < kRcLocalSeconds * 20; ++i) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                log("/etc/rc.local failed (status " + std::to_string(status) + ")");
            }
            return;
        }
        usleep(50 * 1000);
    }
    if (pid > 0) {
        log("/etc/rc.local still runs after " + std::to_string(kRcLocalSeconds) + " s: killed");
        kill(-pid, SIGKILL);
        waitpid(pid, nullptr, 0);
    }
}

// Whether `word` is one of the kernel command line's words.
bool on_kernel_cmdline(const std::string& word) {
    std::istringstream words(read_file("/proc/cmdline"));
    for (std::string w; words >> w;) {
        if (w == word) {
            return true;
        }
    }
    return false;
}

// The 11-byte volume label of a FAT boot sector, trailing spaces removed.
std::string fat_label(const std::string& device) {
    char sector[512] = {};
    const int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return "";
    }
    const ssize_t n = pread(fd, sector, sizeof sector, 0);
    close(fd);
    if (n != 512 || static_cast<unsigned char>(sector[510]) != 0x55 ||
        static_cast<unsigned char>(sector[511]) != 0xAA) {
        return "";
    }
    size_t at = 0;
    if (std::memcmp(sector + 0x52, "FAT32", 5) == 0) {
        at = 0x47;
    } else if (std::memcmp(sector + 0x36, "FAT", 3) == 0) {
        at = 0x2B;
    } else {
        return "";
    }
    std::string label(sector + at, 11);
    label.erase(label.find_last_not_of(' ') + 1);
    return label;
}

std::string find_seed_device() {
    const std::string listing = read_file("/proc/partitions");
    std::istringstream in(listing);
    for (std::string line; std::getline(in, line);) {
        std::istringstream fields(line);
        std::string major, minor, blocks, name;
        if (fields >> major >> minor >> blocks >> name && name.rfind("vd", 0) == 0) {
            const std::string dev = "/dev/" + name;
            std::string label = fat_label(dev);
            for (auto& c : label) {
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            }
            if (label == "cidata") {
                return dev;
            }
        }
    }
    return "";
}

void write_text(const std::string& path, const std::string& text, mode_t mode) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        log("cannot write " + path + ": " + std::strerror(errno));
    }
    if (fd >= 0) {
        close(fd);
    }
}

// The interface network-config's `match:` names: the first (by name) whose
// name matches the glob and whose MAC is `mac` when one is given.
std::string matching_nic(const std::string& pattern, const std::string& mac) {
    std::vector<std::string> names;
    if (DIR* dir = opendir("/sys/class/net")) {
        while (dirent* e = readdir(dir)) {
            names.push_back(e->d_name);
        }
        closedir(dir);
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names) {
        std::string address = trim(read_file("/sys/class/net/" + name + "/address"));
        std::transform(address.begin(), address.end(), address.begin(), ::tolower);
        std::string wanted = mac;
        std::transform(wanted.begin(), wanted.end(), wanted.begin(), ::tolower);
        if (name != "lo" && name[0] != '.' && fnmatch(pattern.c_str(), name.c_str(), 0) == 0 &&
            (wanted.empty() || address == wanted)) {
            return name;
        }
    }
    return "";
}

// The bodies of a MIME multipart message's parts whose Content-Type is `type`.
std::vector<std::string> mime_parts(const std::string& text, const std::string& type) {
    std::vector<std::string> bodies;
    const size_t at = text.find("boundary=");
    if (at == std::string::npos) {
        return bodies;
    }
    std::string boundary = text.substr(at + 9, text.find('\n', at) - at - 9);
    boundary = trim(boundary.substr(0, boundary.find(';')));
    const std::string delimiter = "\n--" + boundary;
    for (size_t part = text.find(delimiter); part != std::string::npos;) {
        const size_t start = text.find('\n', part + 1) + 1;
        const size_t next = text.find(delimiter, start);
        const size_t headers_end = text.find("\n\n", start);
        if (start == 0 || next == std::string::npos || headers_end == std::string::npos ||
            headers_end > next) {
            break;
        }
        if (text.substr(start, headers_end - start).find("Content-Type: " + type) !=
            std::string::npos) {
            // The line break before the delimiter belongs to it.
            bodies.push_back(text.substr(headers_end + 2, next - headers_end - 2) + "\n");
        }
        part = next;
    }
    return bodies;
}

// User-data scripts, kept by apply_seed to run once sshd is up.
std::vector<std::string> user_scripts;
std::string instance_id;

// Runs each script in the background, once per instance id (as cloud-init's
// scripts-user does): a marker on the root disk remembers it across reboots.
void run_user_scripts() {
    const std::string marker = "/var/lib/nocloud/scripts-done-" + instance_id;
    if (user_scripts.empty() || instance_id.empty() || access(marker.c_str(), F_OK) == 0) {
        return;
    }
    mkdir("/var/lib", 0755);
    mkdir("/var/lib/nocloud", 0755);
    write_text(marker, "", 0644);
    mkdir("/run/user-data", 0700);
    for (size_t i = 0; i < user_scripts.size(); ++i) {
        const std::string path = "/run/user-data/script-" + std::to_string(i);
        write_text(path, user_scripts[i], 0700);
        const pid_t pid = fork();
        if (pid == 0) {
            reset_signals();
            setsid();
            const int out = open("/var/log/user-data.log", O_WRONLY | O_CREAT | O_APPEND, 0600);
            if (out >= 0) {
                dup2(out, 1);
                dup2(out, 2);
            }
            execl(path.c_str(), path.c_str(), nullptr);
            _exit(127);
        }
        log("user-data script " + std::to_string(i) + " started");
    }
}

// The seed's ed25519 host key (cloud-config `ssh_keys: ed25519_private`, an
// OpenSSH PEM block) converted for dropbear, so that clients can check the
// key vmd gave out in advance; false when the seed has none.
bool install_host_key(const std::string& user_data) {
    const std::string begin = "-----BEGIN OPENSSH PRIVATE KEY-----";
    const std::string end = "-----END OPENSSH PRIVATE KEY-----";
    const size_t b = user_data.find(begin);
    const size_t e = b == std::string::npos ? b : user_data.find(end, b);
    if (e == std::string::npos) {
        return false;
    }
    std::string pem;
    std::istringstream lines(user_data.substr(b, e + end.size() - b));
    for (std::string line; std::getline(lines, line);) {
        pem += trim(line) + "\n";
    }
    mkdir("/etc/dropbear", 0700);
    const std::string openssh = "/run/cidata-host-key";
    write_text(openssh, pem, 0600);
    const int status = run({"/usr/lib/dropbear/dropbearconvert", "openssh", "dropbear", openssh,
                            "/etc/dropbear/dropbear_ed25519_host_key"});
    unlink(openssh.c_str());
    if (status != 0) {
        log("cannot convert the seed's host key for dropbear");
        return false;
    }
    return true;
}

void apply_seed() {
    std::string hostname = "guest";
    const std::string dev = find_seed_device();
    mkdir("/run/cidata", 0700);
    if (dev.empty()) {
        log("no NoCloud seed (vfat labelled cidata): keeping defaults");
    } else if (mount(dev.c_str(), "/run/cidata", "vfat", MS_RDONLY | MS_NOSUID | MS_NODEV,
                     nullptr) != 0) {
        log("cannot mount seed " + dev + ": " + std::strerror(errno));
    } else {
        const std::string meta = read_file("/run/cidata/meta-data");
        const std::string user = read_file("/run/cidata/user-data");
        const std::string net = read_file("/run/cidata/network-config");
        if (auto h = yaml_value(meta, "local-hostname"); !h.empty()) {
            hostname = h;
        }
        instance_id = yaml_value(meta, "instance-id");
        user_scripts = mime_parts(user, "text/x-shellscript");
        if (user.rfind("#!", 0) == 0) {
            user_scripts.push_back(user);
        }
        if (auto h = yaml_value(user, "hostname"); !h.empty()) {
            hostname = h;
        }
        std::string keys;
        for (const auto& k : yaml_list(user, "ssh_authorized_keys")) {
            keys += k + "\n";
        }
        mkdir("/root", 0700);
        mkdir("/root/.ssh", 0700);
        write_text("/root/.ssh/authorized_keys", keys, 0600);
        const bool host_key = install_host_key(user);
        const auto addresses = yaml_list(net, "addresses");
        std::string gateway = yaml_value(net, "gateway4");
        if (gateway.empty()) {
            gateway = yaml_value(net, "gateway");
        }
        std::string nic = "eth0";
        if (const std::string pattern = yaml_value(net, "name"); !pattern.empty()) {
            nic = matching_nic(pattern, yaml_value(net, "macaddress"));
        }
        if (!addresses.empty() && nic.empty()) {
            log("no interface matches network-config's match: not configured");
        } else if (!addresses.empty()) {
            run({"/sbin/ip", "link", "set", nic, "up"});
            if (run({"/sbin/ip", "addr", "add", addresses.front(), "dev", nic}) != 0) {
                log("cannot set address " + addresses.front() + " on " + nic);
            }
            if (!gateway.empty()) {
                run({"/sbin/ip", "route", "add", "default", "via", gateway});
            }
        }
        umount("/run/cidata");
        log("seed " + dev + " applied: hostname " + hostname + ", " +
            std::to_string(std::count(keys.begin(), keys.end(), '\n')) + " ssh key(s)" +
            (host_key ? ", its host key" : "") +
            (addresses.empty() || nic.empty() ? "" : ", " + nic + " " + addresses.front()) +
            (user_scripts.empty() ? ""
                                  : ", " + std::to_string(user_scripts.size()) + " script(s)"));
    }
    if (sethostname(hostname.data(), hostname.size()) != 0) {
        log("sethostname: " + std::string(std::strerror(errno)));
    }
    progress(boot_progress::kSeedApplied);
}

pid_t spawn_console_shell() {
    // The console's real tty (e.g. ttyS0), so the shell gets job control.
    std::string tty = trim(read_file("/sys/class/tty/console/active"));
    tty = tty.substr(tty.find_last_of(' ') + 1);
    const std::string path = "/dev/" + (tty.empty() ? std::string("console") : tty);
    const pid_t pid = fork();
    if (pid == 0) {
        reset_signals();
        setsid();
        const int fd = open(path.c_str(), O_RDWR);
        if (fd >= 0) {
            ioctl(fd, TIOCSCTTY, 1);
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
            if (fd > 2) {
                close(fd);
            }
        }
        execl("/bin/sh", "-sh", nullptr);
        _exit(127);
    }
    return pid;
}

pid_t spawn_sshd() {
    mkdir("/etc/dropbear", 0700);
    const pid_t pid = fork();
    if (pid == 0) {
        reset_signals();
        // -R: host keys made on first use; -s: keys only; -F -E: foreground, log to stderr.
        execl("/usr/sbin/dropbear", "dropbear", "-R", "-s", "-F", "-E", "-p", "22", nullptr);
        _exit(127);
    }
    return pid;
}

// Waits up to `seconds` for something to accept TCP connections on 127.0.0.1:port.
bool wait_for_listener(int port, int seconds) {
    for (int i = 0; i < seconds * 50; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        const bool up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        close(fd);
        if (up) {
            return true;
        }
        usleep(20 * 1000);
    }
    return false;
}

std::vector<int> open_input_devices() {
    std::vector<int> fds;
    for (int i = 0; i < 32; ++i) {
        const int fd = open(("/dev/input/event" + std::to_string(i)).c_str(),
                            O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            fds.push_back(fd);
        }
    }
    return fds;
}

// What a keyboard's events ask of init.
enum class KeyRequest { kNone, kPowerOff, kReboot };

// The Ctrl and Alt keys held down on one input device. The kernel turns
// Ctrl-Alt-Del into SIGINT to init only with CONFIG_VT, which the test
// kernel lacks, so init watches for the chord itself.
struct HeldModifiers {
    bool ctrl[2] = {false, false};
    bool alt[2] = {false, false};
    bool both() const { return (ctrl[0] || ctrl[1]) && (alt[0] || alt[1]); }
};

KeyRequest read_keys(int fd, HeldModifiers& held) {
    input_event ev[16];
    const ssize_t n = read(fd, ev, sizeof ev);
    KeyRequest request = KeyRequest::kNone;
    for (ssize_t i = 0; n > 0 && i < n / static_cast<ssize_t>(sizeof ev[0]); ++i) {
        if (ev[i].type != EV_KEY) {
            continue;
        }
        const bool down = ev[i].value != 0;  // 1 pressed, 2 repeated, 0 released
        switch (ev[i].code) {
            case KEY_LEFTCTRL:
                held.ctrl[0] = down;
                break;
            case KEY_RIGHTCTRL:
                held.ctrl[1] = down;
                break;
            case KEY_LEFTALT:
                held.alt[0] = down;
                break;
            case KEY_RIGHTALT:
                held.alt[1] = down;
                break;
            case KEY_POWER:
                if (ev[i].value == 1) {
                    request = KeyRequest::kPowerOff;
                }
                break;
            case KEY_DELETE:
                if (ev[i].value == 1 && held.both()) {
                    return KeyRequest::kReboot;
                }
                break;
            default:
                break;
        }
    }
    return request;
}

[[noreturn]] void shut_down(int how) {
    progress(boot_progress::kShutdownStarted);
    log(how == RB_AUTOBOOT ? "rebooting" : "powering off");
    kill(-1, SIGTERM);
    // The console shell ignores SIGTERM, as interactive shells do; a hangup
    // ends it at once instead of after the 2 s below.
    kill(-1, SIGHUP);
    for (int i = 0; i < 20 && waitpid(-1, nullptr, WNOHANG) >= 0; ++i) {
        usleep(100 * 1000);
    }
    kill(-1, SIGKILL);
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    sync();
    if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY, nullptr) != 0 && errno != EINVAL) {
        log("remounting / read-only: " + std::string(std::strerror(errno)));
    }
    sync();
    reboot(how);
    log("reboot() failed: " + std::string(std::strerror(errno)));
    for (;;) {
        pause();
    }
}

}  // namespace

int main() {
    if (getpid() != 1) {
        std::fprintf(stderr, "init: must run as PID 1\n");
        return 1;
    }
    progress_port_usable = ioperm(boot_progress::kPort, 1, 1) == 0;
    if (!progress_port_usable) {
        log("ioperm failed (kernel without CONFIG_X86_IOPL_IOPERM?): no progress codes");
    }
    progress(boot_progress::kInitStarted);
    mount_or_log("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_or_log("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
    mount_or_log("devtmpfs", "/dev", "devtmpfs", MS_NOSUID);
    mount_or_log("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "ptmxmode=0666");
    mount_or_log("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
    mount_or_log("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
    progress(boot_progress::kFilesystemsMounted);

    // Ctrl-Alt-Del becomes SIGINT to init instead of an immediate reset.
    reboot(RB_DISABLE_CAD);
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) {
        sigaddset(&mask, sig);
    }
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    const int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);

    run({"/sbin/ip", "link", "set", "lo", "up"});
    apply_seed();
    progress(boot_progress::kNetworkConfigured);
    setenv("PATH", "/sbin:/usr/sbin:/bin:/usr/bin", 1);
    setenv("HOME", "/root", 1);
    pid_t sshd = spawn_sshd();
    if (!wait_for_listener(22, 10)) {
        log("dropbear is not listening on port 22 after 10 s");
    }
    run_user_scripts();
    run_rc_local();
    pid_t shell = spawn_console_shell();
    time_t shell_started = time(nullptr);
    const bool ignore_power_button = on_kernel_cmdline("ignore_power_button");
    // The input devices are open before "ready": evdev gives a press only to
    // readers that had it open, and the host may press the button the moment
    // it sees "ready".
    std::vector<pollfd> fds{{sigfd, POLLIN, 0}};
    for (int fd : open_input_devices()) {
        fds.push_back({fd, POLLIN, 0});
    }
    std::vector<HeldModifiers> held(fds.size());
    progress(boot_progress::kReady);
    log("ready");

    for (;;) {
        if (poll(fds.data(), fds.size(), -1) < 0) {
            continue;
        }
        for (size_t i = 1; i < fds.size(); ++i) {
            if (!(fds[i].revents & POLLIN)) {
                continue;
            }
            switch (read_keys(fds[i].fd, held[i])) {
                case KeyRequest::kReboot:
                    log("Ctrl-Alt-Del pressed");
                    shut_down(RB_AUTOBOOT);
                case KeyRequest::kPowerOff:
                    if (!ignore_power_button) {
                        shut_down(RB_POWER_OFF);
                    }
                    log("power button pressed: ignored (ignore_power_button)");
                    break;
                case KeyRequest::kNone:
                    break;
            }
        }
        if (!(fds[0].revents & POLLIN)) {
            continue;
        }
        signalfd_siginfo si;
        if (read(sigfd, &si, sizeof si) != sizeof si) {
            continue;
        }
        switch (si.ssi_signo) {
            case SIGUSR1:
            case SIGUSR2:
                shut_down(RB_POWER_OFF);
            case SIGTERM:
            case SIGINT:
                shut_down(RB_AUTOBOOT);
            case SIGCHLD:
                for (pid_t pid; (pid = waitpid(-1, nullptr, WNOHANG)) > 0;) {
                    if (pid == shell) {
                        // A shell that dies at once (no console) must not spin.
                        if (time(nullptr) - shell_started < 2) {
                            sleep(2);
                        }
                        shell = spawn_console_shell();
                        shell_started = time(nullptr);
                    } else if (pid == sshd) {
                        log("dropbear exited; restarting it");
                        sshd = spawn_sshd();
                    }
                }
                break;
        }
    }
}
