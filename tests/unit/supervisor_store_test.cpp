// vmd's store against a temporary database: the RAII layer, migrations, each
// repository, and what a process killed in the middle of a transaction
// leaves behind (the old state, whole).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "base/error.h"
#include "supervisor/store/attachments.h"
#include "supervisor/store/client_tokens.h"
#include "supervisor/store/images.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/leases.h"
#include "supervisor/store/processes.h"
#include "supervisor/store/schema.h"
#include "supervisor/store/sqlite.h"
#include "supervisor/store/volumes.h"

namespace supervisor::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vmd-store-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        path_ = dir_ + "/vmd.db";
    }
    void TearDown() override { fs::remove_all(dir_); }
    std::unique_ptr<Database> open() {
        auto db = std::make_unique<Database>(path_);
        migrate(*db);
        return db;
    }
    std::string dir_;
    std::string path_;
};

ImageRecord sample_image(const std::string& id, Owner owner = 0) {
    ImageRecord r;
    r.id = id;
    r.name = "name-" + id;
    r.owner = owner;
    r.state = "available";
    r.progress = 1;
    r.format = "raw";
    r.size_bytes = 1 << 20;
    r.allocated_bytes = 4096;
    r.cmdline = "console=ttyS0";
    r.ready_probe = "debug-port";
    r.created_at = 1000;
    return r;
}

InstanceRecord sample_instance(const std::string& id, Owner owner = 0) {
    InstanceRecord r;
    r.id = id;
    r.name = "web-" + id;
    r.owner = owner;
    r.state = "pending";
    r.image = "img-000000000001";
    r.ready_probe = "debug-port";
    r.mac = "02:00:00:00:00:01";
    r.created_at = 2000;
    return r;
}

TEST_F(StoreTest, OpensInWalModeWithFullSync) {
    auto db = open();
    Statement mode(*db, "PRAGMA journal_mode");
    ASSERT_TRUE(mode.step());
    EXPECT_EQ(mode.text(0), "wal");
    Statement sync(*db, "PRAGMA synchronous");
    ASSERT_TRUE(sync.step());
    EXPECT_EQ(sync.int64(0), 2);  // FULL
    Statement fk(*db, "PRAGMA foreign_keys");
    ASSERT_TRUE(fk.step());
    EXPECT_EQ(fk.int64(0), 1);
}

TEST_F(StoreTest, MigrationSetsTheVersionAndIsIdempotent) {
    {
        auto db = open();
        EXPECT_EQ(db->user_version(), schema_version());
        images::insert(*db, sample_image("img-1"));
    }
    auto db = open();  // a second migrate on an up-to-date database changes nothing
    EXPECT_EQ(db->user_version(), schema_version());
    EXPECT_TRUE(images::get(*db, "img-1").has_value());
}

TEST_F(StoreTest, ADatabaseFromANewerVmdIsRefused) {
    {
        Database db(path_);
        db.set_user_version(schema_version() + 1);
    }
    Database db(path_);
    try {
        migrate(db);
        FAIL() << "a newer schema was accepted";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
    }
}

TEST_F(StoreTest, TransactionRollsBackUnlessCommitted) {
    auto db = open();
    {
        Transaction tx(*db);
        images::insert(*db, sample_image("img-a"));
    }
    EXPECT_FALSE(images::get(*db, "img-a").has_value());
    EXPECT_FALSE(db->in_transaction());
    {
        Transaction tx(*db);
        images::insert(*db, sample_image("img-b"));
        tx.commit();
    }
    EXPECT_TRUE(images::get(*db, "img-b").has_value());
}

TEST_F(StoreTest, ErrorsNameTheStatement) {
    auto db = open();
    try {
        Statement(*db, "SELECT nope FROM images");
        FAIL();
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find("nope"), std::string::npos) << e.what();
    }
    images::insert(*db, sample_image("img-dup"));
    EXPECT_THROW(images::insert(*db, sample_image("img-dup")), base::HostError);
}

TEST_F(StoreTest, ImagesRoundTripAndNamesAreUniquePerOwner) {
    auto db = open();
    ImageRecord a = sample_image("img-a", 1000);
    a.kernel = "/boot/vmlinuz";
    a.reason = std::nullopt;
    images::insert(*db, a);
    images::insert(*db, sample_image("img-b", 0));
    auto got = images::get(*db, "img-a");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->name, "name-img-a");
    EXPECT_EQ(got->owner, 1000);
    EXPECT_EQ(got->kernel, "/boot/vmlinuz");
    EXPECT_FALSE(got->initrd.has_value());
    EXPECT_DOUBLE_EQ(got->progress, 1);
    got->state = "failed";
    got->reason = "bad";
    images::update(*db, *got);
    EXPECT_EQ(images::get(*db, "img-a")->reason, "bad");
    EXPECT_EQ(images::list(*db).size(), 2u);
    EXPECT_EQ(images::list(*db, 1000).size(), 1u);
    EXPECT_TRUE(images::find_by_name(*db, 1000, "name-img-a"));
    EXPECT_FALSE(images::find_by_name(*db, 0, "name-img-a"));
    ImageRecord same_name = sample_image("img-c", 1000);
    same_name.name = "name-img-a";
    EXPECT_THROW(images::insert(*db, same_name), base::HostError);
    same_name.owner = 1001;  // another owner may use the name
    EXPECT_NO_THROW(images::insert(*db, same_name));
    images::remove(*db, "img-a");
    EXPECT_FALSE(images::get(*db, "img-a"));
}

TEST_F(StoreTest, InstancesRoundTripAndTerminatedNamesAreFree) {
    auto db = open();
    InstanceRecord r = sample_instance("i-1", 1000);
    r.persistent = true;
    r.boot_volume = "vol-1";
    r.deadline = 12345;
    r.action = R"({"op":"stop"})";
    r.started_at = 99;
    images::insert(*db, sample_image("img-000000000001"));
    instances::insert(*db, r);
    auto got = instances::get(*db, "i-1");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->name, r.name);
    EXPECT_TRUE(got->persistent);
    EXPECT_EQ(got->boot_volume, "vol-1");
    EXPECT_EQ(got->deadline, 12345);
    EXPECT_EQ(got->action, r.action);
    EXPECT_EQ(got->started_at, 99);
    EXPECT_FALSE(got->ready_at);
    EXPECT_EQ(got->disk_errors, "[]");

    InstanceRecord twin = sample_instance("i-2", 1000);
    twin.name = r.name;
    EXPECT_THROW(instances::insert(*db, twin), base::HostError) << "name in use";
    got->state = "terminated";
    got->terminated_at = 500;
    instances::update(*db, *got);
    EXPECT_NO_THROW(instances::insert(*db, twin)) << "a terminated instance frees its name";
    EXPECT_EQ(instances::find_by_name(*db, 1000, r.name)->id, "i-2");
    EXPECT_EQ(instances::in_states(*db, {"terminated"}).size(), 1u);
    EXPECT_EQ(instances::using_image(*db, "img-000000000001").size(), 1u);

    processes::insert(*db, ProcessRecord{0, "i-1", 1, 42, 7, "/cg/i-1", 0, 1, 2, 0, {}, {}});
    const auto purged = instances::purge_terminated(*db, 501);
    EXPECT_EQ(purged, std::vector<std::string>{"i-1"});
    EXPECT_FALSE(instances::get(*db, "i-1"));
    EXPECT_FALSE(processes::latest_of(*db, "i-1"));
    EXPECT_TRUE(instances::get(*db, "i-2"));
}

TEST_F(StoreTest, VolumesAndAttachments) {
    auto db = open();
    instances::insert(*db, sample_instance("i-1"));
    VolumeRecord v{"vol-1", "data", 0, "available", {}, 1 << 30, false, {}, 10};
    volumes::insert(*db, v);
    volumes::insert(
        *db,
        VolumeRecord{"vol-2", "root", 0, "creating", {}, 1 << 20, true, "img-000000000001", 11});
    EXPECT_EQ(volumes::in_state(*db, "creating").size(), 1u);
    attachments::insert(*db, {"vol-1", "i-1", 20});
    attachments::insert(*db, {"vol-2", "i-1", 21});
    EXPECT_EQ(attachments::of_volume(*db, "vol-1")->instance, "i-1");
    const auto of = attachments::of_instance(*db, "i-1");
    ASSERT_EQ(of.size(), 2u);
    EXPECT_EQ(of[0].volume, "vol-1");
    EXPECT_THROW(attachments::insert(*db, {"vol-1", "i-1", 22}), base::HostError)
        << "a volume is attached to one instance at most";
    EXPECT_THROW(volumes::remove(*db, "vol-1"), base::HostError)
        << "an attached volume's row cannot go (foreign key)";
    attachments::remove(*db, "vol-1");
    EXPECT_NO_THROW(volumes::remove(*db, "vol-1"));
    EXPECT_THROW(attachments::insert(*db, {"vol-x", "i-1", 1}), base::HostError)
        << "attachments name real volumes";
}

TEST_F(StoreTest, ProcessesTrackTheLiveOne) {
    auto db = open();
    instances::insert(*db, sample_instance("i-1"));
    ProcessRecord p;
    p.instance = "i-1";
    p.start_no = 1;
    p.cgroup = "/sys/fs/cgroup/vmm-platform/i-1";
    p.spawned_at = 5;
    p.id = processes::insert(*db, p);
    EXPECT_GT(p.id, 0);
    EXPECT_EQ(processes::live_of(*db, "i-1")->id, p.id);
    p.pid = 1234;
    p.start_time = 98765;
    p.events_offset = 300;
    processes::update(*db, p);
    auto got = processes::get(*db, p.id);
    EXPECT_EQ(got->pid, 1234);
    EXPECT_EQ(got->start_time, 98765);
    EXPECT_EQ(got->events_offset, 300);
    p.exited_at = 9;
    p.exit_status = 0;
    processes::update(*db, p);
    EXPECT_FALSE(processes::live_of(*db, "i-1"));
    EXPECT_TRUE(processes::live(*db).empty());
    EXPECT_EQ(processes::latest_of(*db, "i-1")->exit_status, 0);
}

TEST_F(StoreTest, ClientTokensArePerOwner) {
    auto db = open();
    client_tokens::insert(*db, {1000, "tok", R"({"count":2})", R"(["i-1","i-2"])", 1});
    EXPECT_EQ(client_tokens::get(*db, 1000, "tok")->instances, R"(["i-1","i-2"])");
    EXPECT_FALSE(client_tokens::get(*db, 1001, "tok"));
    EXPECT_THROW(client_tokens::insert(*db, {1000, "tok", "{}", "[]", 2}), base::HostError);
    EXPECT_NO_THROW(client_tokens::insert(*db, {1001, "tok", "{}", "[]", 2}));
}

// A child process writes inside a transaction and is SIGKILLed before it
// commits: the database keeps the old state, whole. A child that commits
// and is killed right after keeps the new one (synchronous=FULL, WAL).
TEST_F(StoreTest, AProcessKilledInsideATransactionLeavesTheOldState) {
    {
        auto db = open();
        instances::insert(*db, sample_instance("i-1"));
    }
    auto child = [&](bool commit) {
        const pid_t pid = fork();
        if (pid == 0) {
            Database db(path_);
            Transaction tx(db);
            auto r = *instances::get(db, "i-1");
            r.state = "starting";
            instances::update(db, r);
            ProcessRecord p;
            p.instance = "i-1";
            p.cgroup = "/cg";
            processes::insert(db, p);
            volumes::insert(db, VolumeRecord{"vol-9", "v", 0, "creating", {}, 1, false, {}, 1});
            if (commit) {
                tx.commit();
            }
            kill(getpid(), SIGKILL);
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        ASSERT_TRUE(WIFSIGNALED(status));
        EXPECT_EQ(WTERMSIG(status), SIGKILL);
    };
    child(false);
    {
        auto db = open();
        EXPECT_EQ(instances::get(*db, "i-1")->state, "pending");
        EXPECT_FALSE(processes::latest_of(*db, "i-1"));
        EXPECT_FALSE(volumes::get(*db, "vol-9"));
    }
    child(true);
    auto db = open();
    EXPECT_EQ(instances::get(*db, "i-1")->state, "starting");
    EXPECT_TRUE(processes::live_of(*db, "i-1"));
    EXPECT_TRUE(volumes::get(*db, "vol-9"));
}

TEST_F(StoreTest, LeasesAreUniquePerAddressAndPerInstanceAndReleaseIsIdempotent) {
    auto db = open();
    instances::insert(*db, sample_instance("i-1"));
    instances::insert(*db, sample_instance("i-2"));
    LeaseStore table(*db);
    const auto a = *net::Ipv4Address::parse("198.18.0.2");
    const auto b = *net::Ipv4Address::parse("198.18.0.3");
    table.insert({"i-1", a});
    EXPECT_THROW(table.insert({"i-2", a}), base::HostError) << "UNIQUE(address)";
    EXPECT_THROW(table.insert({"i-1", b}), base::HostError) << "one lease per instance";
    EXPECT_THROW(table.insert({"i-404", b}), base::HostError) << "an instance that exists";
    table.insert({"i-2", b});
    EXPECT_EQ(table.leases(), (std::vector<net::Lease>{{"i-1", a}, {"i-2", b}}));
    EXPECT_TRUE(table.erase("i-1"));
    EXPECT_FALSE(table.erase("i-1"));
    EXPECT_EQ(table.leases(), (std::vector<net::Lease>{{"i-2", b}}));
}

TEST_F(StoreTest, ALeaseCommitsOrVanishesWithItsTransaction) {
    auto db = open();
    instances::insert(*db, sample_instance("i-1"));
    const net::AddressPool pool(net::Ipv4Cidr::parse("198.18.0.0/24"),
                                *net::Ipv4Address::parse("198.18.0.1"));
    {
        Transaction tx(*db);
        LeaseStore table(*db);
        EXPECT_EQ(net::lease_address(pool, table, "i-1").to_string(), "198.18.0.2");
    }  // rolled back: a start that crashed before its commit
    EXPECT_TRUE(LeaseStore(*db).leases().empty());
    {
        Transaction tx(*db);
        LeaseStore table(*db);
        net::lease_address(pool, table, "i-1");
        tx.commit();
    }
    auto again = open();
    EXPECT_EQ(LeaseStore(*again).leases(),
              (std::vector<net::Lease>{{"i-1", *net::Ipv4Address::parse("198.18.0.2")}}));
}

TEST_F(StoreTest, PurgingATerminatedInstanceDropsItsLeaseRow) {
    auto db = open();
    auto r = sample_instance("i-1");
    r.state = "terminated";
    r.terminated_at = 10;
    instances::insert(*db, r);
    LeaseStore(*db).insert({"i-1", *net::Ipv4Address::parse("198.18.0.2")});
    EXPECT_EQ(instances::purge_terminated(*db, 100), std::vector<std::string>{"i-1"});
    EXPECT_TRUE(LeaseStore(*db).leases().empty());
}

}  // namespace
}  // namespace supervisor::store
