// vmd's parts that need no vmm: strict request bodies, the events file
// reader, the console cap, disk copies, the vmm's config, ids and names,
// qemu-img's verdicts, and opening a file with a caller's rights.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "base/fd.h"
#include "supervisor/vmd/as_user.h"
#include "supervisor/vmd/console_log.h"
#include "supervisor/vmd/disk_copy.h"
#include "supervisor/vmd/events_file.h"
#include "supervisor/vmd/files.h"
#include "supervisor/vmd/ids.h"
#include "supervisor/vmd/image_format.h"
#include "supervisor/vmd/instance_network.h"
#include "supervisor/vmd/json_body.h"
#include "supervisor/vmd/process.h"
#include "supervisor/vmd/vmm_config.h"

namespace supervisor::vmd {
namespace {

namespace fs = std::filesystem;

class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/vmd-parts-XXXXXX";
        path_ = mkdtemp(tmpl);
    }
    ~TempDir() { fs::remove_all(path_); }
    std::string operator/(const std::string& name) const { return path_ + "/" + name; }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

void write(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string message_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const base::Error& e) {
        return e.what();
    }
    return "";
}

TEST(JsonBody, TakesTheFieldsAskedForWithTheirTypes) {
    JsonBody b(R"({"name": "web", "count": 3, "force": true, "volumes": ["a", "b"]})", false);
    EXPECT_EQ(b.string("name"), "web");
    EXPECT_EQ(b.integer("count", 1, 1, 10), 3);
    EXPECT_EQ(b.integer("absent", 7, 1, 10), 7);
    EXPECT_TRUE(b.boolean("force", false));
    EXPECT_EQ(b.strings("volumes"), (std::vector<std::string>{"a", "b"}));
    EXPECT_NO_THROW(b.finish());
}

TEST(JsonBody, RefusesWhatIsNotAsked) {
    EXPECT_NE(message_of([] { JsonBody("{nope", false); }).find("not valid JSON"),
              std::string::npos);
    EXPECT_NE(message_of([] { JsonBody("[1]", false); }).find("must be a JSON object"),
              std::string::npos);
    EXPECT_NE(message_of([] { JsonBody("", false); }).find("needs a JSON object"),
              std::string::npos);
    EXPECT_NO_THROW(JsonBody("", true).finish());
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({"name": 5})", false);
                  b.string("name");
              }).find("\"name\" must be a string"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({"count": 1.5})", false);
                  b.integer("count", 1, 1, 10);
              }).find("whole number"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({"count": 11})", false);
                  b.integer("count", 1, 1, 10);
              }).find("from 1 to 10"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({"count": -1})", false);
                  b.integer("count", 1, 1, 10);
              }).find("from 1 to 10"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({"force": "yes"})", false);
                  b.boolean("force", false);
              }).find("true or false"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({"volumes": [1]})", false);
                  b.strings("volumes");
              }).find("only strings"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({})", false);
                  b.string("name");
              }).find("\"name\" is missing"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  JsonBody b(R"({"name": "a", "nmae": "b"})", false);
                  b.string("name");
                  b.finish();
              }).find("unknown field \"nmae\""),
              std::string::npos);
}

TEST(EventsFile, ReadsWholeLinesFromAnOffset) {
    TempDir dir;
    const std::string path = dir / "events";
    const std::string first = "{\"event\":\"starting\",\"boot\":1}\n";
    const std::string second = "not json\n";
    write(path, first + second + "{\"event\":\"rea");
    auto lines = read_event_lines(path, 0);
    ASSERT_EQ(lines.size(), 2u) << "the line being written waits";
    EXPECT_EQ(lines[0].event["event"], "starting");
    EXPECT_EQ(lines[0].end_offset, static_cast<std::int64_t>(first.size()));
    EXPECT_TRUE(lines[1].event.is_null()) << "a malformed line is skipped, not fatal";
    EXPECT_EQ(lines[1].end_offset, static_cast<std::int64_t>(first.size() + second.size()));
    {
        std::ofstream out(path, std::ios::app);
        out << "dy\"}\n";
    }
    lines = read_event_lines(path, lines[1].end_offset);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].event["event"], "ready");
    EXPECT_TRUE(read_event_lines(path, lines[0].end_offset).empty());
    EXPECT_TRUE(read_event_lines(dir / "absent", 0).empty());
    // A window without any newline does not stall the reader.
    write(path, std::string(100, 'x'));
    lines = read_event_lines(path, 0, 64);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].end_offset, 64);
}

TEST(ConsoleLog, KeepsTheLastHalfWhenOverTheCap) {
    TempDir dir;
    const std::string path = dir / "console.log";
    std::string text;
    for (int i = 0; i < 20000; ++i) {
        text += "line " + std::to_string(i) + "\n";
    }
    write(path, text);
    EXPECT_EQ(trim_console_log(path, 1 << 20), 0) << "under the cap: untouched";
    const std::int64_t dropped = trim_console_log(path, 64 * 1024);
    EXPECT_GT(dropped, 0);
    const std::int64_t size = file_size(path);
    EXPECT_LE(size, 64 * 1024);
    EXPECT_GE(size, 32 * 1024 - 4096);
    EXPECT_EQ(dropped + size, static_cast<std::int64_t>(text.size()));
    EXPECT_EQ(read_range(path, 0, size), text.substr(static_cast<std::size_t>(dropped)))
        << "what remains is the newest output, in order";
}

TEST(DiskCopy, KeepsTheDataAndTheHoles) {
    TempDir dir;
    const std::string src_path = dir / "src";
    const std::int64_t size = 24 << 20;
    {
        base::Fd fd(open(src_path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
        ASSERT_EQ(ftruncate(fd.get(), size), 0);
        const std::string a(8192, 'a');
        const std::string zeros(1 << 20, '\0');  // allocated, but zero
        ASSERT_EQ(pwrite(fd.get(), a.data(), a.size(), 0), 8192);
        ASSERT_EQ(pwrite(fd.get(), zeros.data(), zeros.size(), 4 << 20), 1 << 20);
        ASSERT_EQ(pwrite(fd.get(), "tail", 4, size - 4), 4);
    }
    base::Fd src(open(src_path.c_str(), O_RDONLY));
    base::Fd dst(open((dir / "dst").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
    std::int64_t last = 0;
    const std::atomic<bool> never{false};
    const auto result = copy_disk(
        src.get(), dst.get(), size, [&](std::int64_t d) { last = d; }, never);
    EXPECT_EQ(last, size);
    EXPECT_FALSE(result.cancelled);
    struct stat st {};
    fstat(dst.get(), &st);
    EXPECT_EQ(st.st_size, size);
    if (!result.reflinked) {
        EXPECT_LT(st.st_blocks * 512, 1 << 20) << "holes and zero blocks stay holes";
    }
    EXPECT_EQ(read_range(dir / "dst", 0, 8192), std::string(8192, 'a'));
    EXPECT_EQ(read_range(dir / "dst", size - 4, 4), "tail");
    EXPECT_EQ(read_range(dir / "dst", 8192, 16), std::string(16, '\0'));

    const std::atomic<bool> cancel{true};
    base::Fd dst2(open((dir / "dst2").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600));
    if (!result.reflinked) {
        EXPECT_TRUE(copy_disk(
                        src.get(), dst2.get(), size, [](std::int64_t) {}, cancel)
                        .cancelled);
    }
}

TEST(VmdVmmConfig, GivesTheVmmItsFilesAndDisks) {
    store::InstanceRecord r;
    r.id = "i-000000000001";
    r.vcpus = 2;
    r.memory_mib = 512;
    store::ImageRecord image;
    image.id = "img-000000000002";
    image.cmdline = "console=ttyS0 quiet";
    const Layout layout{"/state", "/run/v"};
    Options options;
    options.default_kernel = "/k/bzImage";
    const std::vector<std::string> none, volumes = {"vol-000000000003"};
    auto j = vmm_config({r, image, none, layout, options});
    EXPECT_EQ(j["id"], r.id);
    EXPECT_EQ(j["kernel"], "/k/bzImage");
    EXPECT_FALSE(j.contains("initrd"));
    EXPECT_EQ(j["cmdline"], "console=ttyS0 quiet");
    EXPECT_TRUE(j["vcpus"].is_number_unsigned()) << "the vmm takes non-negative numbers only";
    EXPECT_EQ(j["memory"], 512);
    EXPECT_EQ(j["serial"], "file:/state/instances/i-000000000001/console.log");
    EXPECT_EQ(j["events"], "/state/instances/i-000000000001/events");
    EXPECT_EQ(j["api-sock"], "/run/v/vm/i-000000000001.sock");
    EXPECT_EQ(j["disk"], nlohmann::json::array(
                             {"path=/state/images/img-000000000002/disk.raw,id=root,ephemeral"}));
    EXPECT_FALSE(j.contains("net")) << "no network card without a tap";
    j = vmm_config({r, image, none, layout, options, "tap=vmt000000000001,mac=02:00:00:00:00:01"});
    EXPECT_EQ(j["net"], "tap=vmt000000000001,mac=02:00:00:00:00:01");

    r.persistent = true;
    r.boot_volume = "vol-000000000009";
    image.kernel = "/home/u/vmlinuz";
    image.initrd = "/home/u/initrd";
    image.cmdline.reset();
    j = vmm_config({r, image, volumes, layout, options});
    EXPECT_EQ(j["kernel"], "/state/images/img-000000000002/kernel");
    EXPECT_EQ(j["initrd"], "/state/images/img-000000000002/initrd");
    EXPECT_EQ(j["cmdline"], options.default_cmdline);
    EXPECT_EQ(j["disk"], nlohmann::json::array(
                             {"path=/state/volumes/vol-000000000009.raw,id=root",
                              "path=/state/volumes/vol-000000000003.raw,id=vol-000000000003"}));

    image.kernel.reset();
    options.default_kernel.clear();
    EXPECT_THROW(vmm_config({r, image, none, layout, options}), base::InvalidInput);
}

TEST(InstanceNetwork, ChecksItsOptionsAndNamesTapsWithinIfnamsiz) {
    Options o;
    o.network = "addresses";
    InstanceNetwork defaults(o);
    EXPECT_TRUE(defaults.leases());
    EXPECT_FALSE(defaults.plumbing());
    EXPECT_EQ(defaults.pool().cidr().to_string(), "198.18.0.0/24");
    EXPECT_EQ(defaults.pool().gateway().to_string(), "198.18.0.1");
    ASSERT_EQ(defaults.dns().size(), 1u);
    EXPECT_EQ(defaults.dns()[0].to_string(), "198.18.0.1") << "the gateway by default";
    EXPECT_EQ(InstanceNetwork::tap_name("i-0123456789ab"), "vmt0123456789ab");
    EXPECT_LE(InstanceNetwork::tap_name("i-0123456789ab").size(), 15u);

    o.network = "none";
    EXPECT_FALSE(InstanceNetwork(o).leases());
    o.network_cidr = "10.9.0.0/16";
    o.gateway = "10.9.255.254";
    o.dns = {"9.9.9.9"};
    InstanceNetwork custom(o);
    EXPECT_EQ(custom.pool().gateway().to_string(), "10.9.255.254");
    EXPECT_EQ(custom.dns()[0].to_string(), "9.9.9.9");

    const auto refused = [](Options bad, const std::string& words) {
        try {
            InstanceNetwork n(bad);
            ADD_FAILURE() << "accepted; expected a refusal naming " << words;
        } catch (const base::InvalidInput& e) {
            EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
        }
    };
    Options bad;
    bad.network_cidr = "198.18.0.1/24";
    refused(bad, "--network-cidr");
    bad = Options{};
    bad.gateway = "10.0.0.1";
    refused(bad, "10.0.0.1");
    bad = Options{};
    bad.dns = {"one.one.one.one"};
    refused(bad, "--dns");
    bad = Options{};
    bad.bridge = "a bridge";
    refused(bad, "a bridge");
}

TEST(Ids, ShapesNamesAndMacs) {
    const std::string id = new_id("i");
    EXPECT_TRUE(looks_like_id(id, "i")) << id;
    EXPECT_FALSE(looks_like_id(id, "vol"));
    EXPECT_NE(new_id("i"), id);
    EXPECT_FALSE(looks_like_id("i-00000000000G", "i"));
    EXPECT_NO_THROW(check_name("instance", "web-1.a_b"));
    EXPECT_THROW(check_name("instance", ""), base::InvalidInput);
    EXPECT_THROW(check_name("instance", "-x"), base::InvalidInput);
    EXPECT_THROW(check_name("instance", "a/b"), base::InvalidInput);
    EXPECT_THROW(check_name("instance", std::string(64, 'a')), base::InvalidInput);
    EXPECT_THROW(check_name("instance", "vol-0123456789ab"), base::InvalidInput)
        << "a name shaped like an id would shadow it";
    EXPECT_EQ(mac_for("i-0123456789ab"), "02:23:45:67:89:ab");
}

TEST(ImageFormat, TakesSingleFileFormatsOnly) {
    auto info = parse_qemu_img_info(R"({"format": "qcow2", "virtual-size": 1048576,
        "format-specific": {"type": "qcow2", "data": {"compat": "1.1"}}})");
    EXPECT_EQ(info.format, "qcow2");
    EXPECT_EQ(info.virtual_size, 1048576);
    EXPECT_NE(message_of([] {
                  parse_qemu_img_info(R"({"format": "qcow2", "virtual-size": 1,
                      "backing-filename": "/etc/shadow"})");
              }).find("backing file"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  parse_qemu_img_info(R"({"format": "qcow2", "virtual-size": 1,
                      "format-specific": {"data": {"data-file": "/dev/sda"}}})");
              }).find("another file"),
              std::string::npos);
    EXPECT_NE(message_of([] {
                  parse_qemu_img_info(R"({"format": "vmdk", "virtual-size": 1})");
              }).find("not taken"),
              std::string::npos);
    EXPECT_THROW(parse_qemu_img_info("garbage"), base::InvalidInput);
}

TEST(AsUser, OpensWithTheCallersRightsOnly) {
    if (getuid() != 0) {
        GTEST_SKIP() << "opening as another uid needs root";
    }
    TempDir dir;
    chmod(dir.path().c_str(), 0755);
    const std::string secret = dir / "secret";
    const std::string open_file = dir / "public";
    write(secret, "root only");
    write(open_file, "anyone");
    chmod(secret.c_str(), 0600);
    chmod(open_file.c_str(), 0644);
    base::PeerCredentials nobody;
    nobody.uid = 65534;
    nobody.gid = 65534;
    base::PeerCredentials root;
    root.uid = 0;
    root.gid = 0;

    base::Fd fd = open_as_user(root, secret);
    char buffer[16] = {};
    EXPECT_EQ(pread(fd.get(), buffer, sizeof buffer, 0), 9);
    EXPECT_NO_THROW(open_as_user(nobody, open_file));
    const std::string refused = message_of([&] { open_as_user(nobody, secret); });
    EXPECT_NE(refused.find("Permission denied"), std::string::npos) << refused;
    EXPECT_NE(refused.find("uid 65534"), std::string::npos) << refused;
    EXPECT_NE(message_of([&] { open_as_user(root, dir.path()); }).find("not a regular file"),
              std::string::npos);
    EXPECT_NE(message_of([&] { open_as_user(root, "relative/path"); }).find("absolute"),
              std::string::npos);
    EXPECT_NE(message_of([&] { open_as_user(root, dir / "absent"); }).find("No such file"),
              std::string::npos);
}

TEST(VmdProcess, TellsKernelThreadsFromProcesses) {
    // A command name with spaces and ')' must not shift the fields.
    char old_name[16] = {};
    prctl(PR_GET_NAME, old_name);
    prctl(PR_SET_NAME, "a) b (c");
    EXPECT_FALSE(is_kernel_thread(getpid()));
    EXPECT_TRUE(process_start_time(getpid()).has_value());
    prctl(PR_SET_NAME, old_name);
    EXPECT_FALSE(is_kernel_thread(0)) << "no such process";

    std::ifstream comm("/proc/2/comm");
    std::string name;
    comm >> name;
    if (name != "kthreadd") {
        GTEST_SKIP() << "no kernel thread is visible in this pid namespace";
    }
    EXPECT_TRUE(is_kernel_thread(2));
}

}  // namespace
}  // namespace supervisor::vmd
