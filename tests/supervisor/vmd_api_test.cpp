// vmd's API over its real socket: tenants told apart by SO_PEERCRED (a
// second uid in a forked client), every resource fed bad requests, images
// imported with the caller's rights and converted by qemu-img.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <thread>

#include "tests/supervisor/vmd_harness.h"

namespace vmd_test {
namespace {

constexpr uid_t kUser = 65534;

// Calls as kUser come from a forked client that takes that uid.
constexpr const char* kNeedsRoot = "calling vmd as another uid needs root";

class VmdApi : public VmdTest {
  protected:
    void SetUp() override {
        VmdTest::SetUp();
        if (IsSkipped()) {
            return;
        }
        ASSERT_TRUE(vmd_->start()) << vmd_->log();
    }
};

TEST_F(VmdApi, EachUidSeesAndTouchesOnlyItsOwn) {
    if (geteuid() != 0) {
        GTEST_SKIP() << kNeedsRoot;
    }
    vmd_->import_image("plain", "console=ttyS0");
    const std::string mine =
        vmd_->post("/v1/instances?wait=true", {{"image", "plain"}, {"name", "web"}})
            .json()["instances"][0]["id"];
    ASSERT_EQ(vmd_->post("/v1/volumes", {{"name", "data"}, {"size_bytes", 1 << 20}}).status, 201);

    // The other uid: an empty world, and root's things answer as unknown.
    EXPECT_EQ(vmd_->get("/v1/instances", kUser).json(), nlohmann::json::array());
    EXPECT_EQ(vmd_->get("/v1/images", kUser).json(), nlohmann::json::array());
    EXPECT_EQ(vmd_->get("/v1/volumes", kUser).json(), nlohmann::json::array());
    for (const std::string& ref : {mine, std::string("web")}) {
        EXPECT_EQ(vmd_->get("/v1/instances/" + ref, kUser).status, 404);
        EXPECT_EQ(vmd_->get("/v1/instances/" + ref + "/console", kUser).status, 404);
        EXPECT_EQ(
            vmd_->post("/v1/instances/" + ref + "/stop", nlohmann::json::object(), kUser).status,
            404);
        EXPECT_EQ(vmd_->post("/v1/instances/" + ref + "/terminate", nlohmann::json::object(), kUser)
                      .status,
                  404);
    }
    EXPECT_EQ(vmd_->post("/v1/instances", {{"image", "plain"}}, kUser).status, 404);
    EXPECT_EQ(vmd_->request("DELETE", "/v1/volumes/data", "", kUser).status, 404);
    EXPECT_EQ(vmd_->get("/v1/instances/" + mine).json()["state"], "running") << "untouched";

    // Its own image, from its own file, and its own instance.
    const std::string its_image = vmd_->import_image("own", "console=ttyS0", 4 << 20, kUser);
    auto image = vmd_->get("/v1/images/own", kUser).json();
    EXPECT_EQ(image["owner"], kUser);
    const auto run =
        vmd_->post("/v1/instances?wait=true", {{"image", "own"}, {"name", "web"}}, kUser);
    ASSERT_EQ(run.status, 201) << run.body;
    const std::string theirs = run.json()["instances"][0]["id"];
    EXPECT_EQ(run.json()["instances"][0]["owner"], kUser);
    EXPECT_EQ(vmd_->get("/v1/instances/web", kUser).json()["id"], theirs)
        << "names are per owner: both have a 'web'";
    EXPECT_EQ(vmd_->get("/v1/instances", kUser).json().size(), 1u);
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 2u) << "root sees every owner's";
    EXPECT_EQ(vmd_->post("/v1/volumes", {{"name", "data"}, {"size_bytes", 1 << 20}}, kUser).status,
              201);
    EXPECT_EQ(vmd_->post("/v1/volumes/data/attach", {{"instance", mine}}, kUser).status, 404)
        << "nor can it attach to another's instance";
    EXPECT_EQ(vmd_->post("/v1/instances/" + theirs + "/terminate?wait=true",
                         nlohmann::json::object(), kUser)
                  .status,
              200);
    EXPECT_EQ(vmd_->request("DELETE", "/v1/images/" + its_image, "", kUser).status, 200);
}

TEST_F(VmdApi, ImportsOpenTheFileWithTheCallersRights) {
    if (geteuid() != 0) {
        GTEST_SKIP() << kNeedsRoot;
    }
    const std::string secret = vmd_->dir() + "/secret.raw";
    write_raw_file(secret, 1 << 20, "secret");
    chmod(secret.c_str(), 0600);  // root's
    auto r = vmd_->post("/v1/images", {{"name", "stolen"}, {"path", secret}}, kUser);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("Permission denied"), std::string::npos) << r.body;
    EXPECT_TRUE(vmd_->get("/v1/images").json().empty()) << "nothing was made of it";
    r = vmd_->post("/v1/images", {{"name", "mine"}, {"path", secret}});
    EXPECT_EQ(r.status, 202) << "root may: " << r.body;
    r = vmd_->post("/v1/images", {{"name", "dir"}, {"path", vmd_->dir()}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("not a regular file"), std::string::npos);
    r = vmd_->post("/v1/images", {{"name", "rel"}, {"path", "relative.raw"}});
    EXPECT_EQ(r.status, 400) << r.body;
    r = vmd_->post("/v1/images", {{"name", "none"}, {"path", vmd_->dir() + "/absent.raw"}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("No such file"), std::string::npos);
}

TEST_F(VmdApi, Qcow2IsConvertedToRawByQemuImg) {
    if (access("/usr/bin/qemu-img", X_OK) != 0) {
        GTEST_SKIP() << "qemu-img is not installed (qemu-utils)";
    }
    if (geteuid() != 0) {
        GTEST_SKIP() << kNeedsRoot;
    }
    const std::string raw = vmd_->dir() + "/src.raw";
    const std::string qcow2 = vmd_->dir() + "/src.qcow2";
    write_raw_file(raw, 8 << 20, "converted marker");
    ASSERT_EQ(std::system(("qemu-img convert -f raw -O qcow2 " + raw + " " + qcow2).c_str()), 0);
    chown(qcow2.c_str(), kUser, kUser);
    auto r = vmd_->post("/v1/images", {{"name", "q"}, {"path", qcow2}}, kUser);
    ASSERT_EQ(r.status, 202) << r.body;
    EXPECT_EQ(r.json()["format"], "qcow2");
    EXPECT_EQ(r.json()["size_bytes"], 8 << 20);
    const std::string id = r.json()["id"];
    nlohmann::json image;
    for (int n = 0; n < 500; ++n) {
        image = vmd_->get("/v1/images/" + id, kUser).json();
        if (image["state"] != "importing") {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    ASSERT_EQ(image["state"], "available") << image.dump();
    EXPECT_EQ(image["progress"], 1.0);
    const std::string disk = vmd_->state_dir() + "/images/" + id + "/disk.raw";
    struct stat st {};
    ASSERT_EQ(stat(disk.c_str(), &st), 0);
    EXPECT_EQ(st.st_size, 8 << 20);
    EXPECT_EQ(st.st_uid, 0u) << "the image is vmd's, not the caller's";
    char head[16] = {};
    FILE* f = std::fopen(disk.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(std::fread(head, 1, 16, f), 16u);
    std::fclose(f);
    EXPECT_EQ(std::string(head, 16), "converted marker");

    // A qcow2 that reads another file (a backing file) is refused.
    const std::string child = vmd_->dir() + "/child.qcow2";
    ASSERT_EQ(
        std::system(("qemu-img create -q -f qcow2 -F qcow2 -b " + qcow2 + " " + child).c_str()), 0);
    r = vmd_->post("/v1/images", {{"name", "child"}, {"path", child}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find("backing file"), std::string::npos) << r.body;
}

TEST_F(VmdApi, BadRequestsToEveryResourceGet4xxJsonAndVmdServesOn) {
    vmd_->import_image("plain", "console=ttyS0");
    const std::string id =
        vmd_->post("/v1/instances?wait=true", {{"image", "plain"}}).json()["instances"][0]["id"];
    ASSERT_EQ(vmd_->post("/v1/volumes", {{"name", "data"}, {"size_bytes", 1 << 20}}).status, 201);
    const std::vector<std::string> posts = {
        "/v1/images",
        "/v1/volumes",
        "/v1/instances",
        "/v1/volumes/data/attach",
        "/v1/volumes/data/detach",
        "/v1/instances/" + id + "/start",
        "/v1/instances/" + id + "/stop",
        "/v1/instances/" + id + "/reboot",
        "/v1/instances/" + id + "/terminate",
    };
    const std::vector<std::string> bodies = {"{not json",
                                             "[1,2]",
                                             "\"text\"",
                                             R"({"name": 7, "size_bytes": "x", "image": false,
            "timeout_s": "soon", "force": "yes", "hard": 1, "instance": [], "path": {}})",
                                             R"({"unknown_field": 1})",
                                             std::string(100 * 1024, ' ')};
    int checked = 0;
    for (const auto& path : posts) {
        for (const auto& body : bodies) {
            const auto r = vmd_->request("POST", path, body);
            SCOPED_TRACE("POST " + path + " " + body.substr(0, 40));
            EXPECT_GE(r.status, 400);
            EXPECT_LT(r.status, 500) << r.body;
            EXPECT_TRUE(r.json().is_object() && r.json().contains("error")) << r.body;
            ++checked;
        }
    }
    const std::vector<std::pair<std::string, std::string>> others = {
        {"GET", "/v1/instances/i-000000000000"},
        {"GET", "/v1/images/img-000000000000"},
        {"GET", "/v1/volumes/vol-000000000000"},
        {"DELETE", "/v1/images/nosuch"},
        {"DELETE", "/v1/volumes/nosuch"},
        {"GET", "/v1/instances/nosuch/wait?state=running"},
        {"GET", "/v1/instances/nosuch/console"},
        {"POST", "/v1/instances/nosuch/stop"},
        {"GET", "/v1/instances/" + id + "/wait?state=sleeping"},
        {"GET", "/v1/instances/" + id + "/wait?state=running&timeout_s=forever"},
        {"GET", "/v1/instances/" + id + "/console?offset=-5"},
        {"GET", "/v1/instances?colour=red"},
        {"PUT", "/v1/instances"},
        {"DELETE", "/v1/instances/" + id},
        {"PATCH", "/v1/health"},
        {"GET", "/nothing/here"},
        {"GET", "/v1/instances/" + id + "/dance"},
    };
    for (const auto& [method, path] : others) {
        const auto r = vmd_->request(method, path, "");
        SCOPED_TRACE(method + " " + path);
        EXPECT_GE(r.status, 400);
        EXPECT_LT(r.status, 500) << r.body;
        EXPECT_TRUE(r.json().is_object() && r.json().contains("error")) << r.body;
        ++checked;
    }
    EXPECT_EQ(checked, 71);
    // A body past libevent's own limit gets its 413 (not JSON) and the connection closes.
    const auto huge = vmd_->request("POST", "/v1/instances", std::string(2 << 20, ' '));
    if (huge.status != 0) {
        EXPECT_EQ(huge.status, 413);
    }
    EXPECT_EQ(vmd_->get("/v1/health").status, 200);
    EXPECT_EQ(vmd_->get("/v1/instances/" + id).json()["state"], "running") << "nothing changed";
    EXPECT_EQ(vmd_->get("/v1/instances").json().size(), 1u);
    EXPECT_EQ(vmd_->get("/v1/volumes").json().size(), 1u);
    EXPECT_TRUE(vmd_->running());
}

}  // namespace
}  // namespace vmd_test
