// EventLog: the supervisor's view of a VM. Guest-driven events are
// deduplicated and rate-limited, lifecycle events never; no emitter waits
// for the reader. The clock is the test's, so the rate limit is exact.

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/stalled_reader.h"
#include "vmm/events.h"

namespace vmm {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class VmmEvents : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = "/tmp/vmm-events-test-" + std::to_string(getpid()) + ".jsonl";
        unlink(path_.c_str());
        config_.kind = EventsConfig::Kind::kPath;
        config_.path = path_;
        limits_.clock = [this] { return now_; };
    }
    void TearDown() override { unlink(path_.c_str()); }

    std::vector<nlohmann::json> lines() {
        std::vector<nlohmann::json> out;
        std::ifstream in(path_);
        std::string line;
        while (std::getline(in, line)) {
            out.push_back(nlohmann::json::parse(line));
        }
        return out;
    }

    std::string path_;
    EventsConfig config_;
    EventLog::Limits limits_;
    Clock::time_point now_ = Clock::now();
};

// `rep outsb` of one code: thousands of identical events make one line.
TEST_F(VmmEvents, AGuestRepeatingItselfMakesOneLine) {
    EventLog::Counters c;
    {
        EventLog log(config_, "vm1", limits_);
        for (int i = 0; i < 100000; ++i) {
            log.emit_guest("progress", {{"boot", 1}, {"code", 7}});
        }
        c = log.counters();
    }
    EXPECT_EQ(c.lines, 1u);
    EXPECT_EQ(c.guest_deduplicated, 99999u);
    const auto got = lines();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0]["event"], "progress");
    EXPECT_EQ(got[0]["code"], 7);
    EXPECT_EQ(got[0]["vm"], "vm1");
}

// Codes that change every time pass a token bucket: a burst, then the
// rate; the next line written says how many were dropped before it.
TEST_F(VmmEvents, AGuestFloodIsRateLimitedAndTheGapIsCounted) {
    limits_.guest_burst = 4;
    limits_.guest_per_second = 2;
    {
        EventLog log(config_, "vm1", limits_);
        for (int i = 0; i < 1000; ++i) {
            log.emit_guest("progress", {{"boot", 1}, {"code", i % 2}});
        }
        now_ += 500ms;  // one token
        log.emit_guest("progress", {{"boot", 1}, {"code", 9}});
        log.emit_guest("progress", {{"boot", 1}, {"code", 8}});  // none left
        const auto c = log.counters();
        EXPECT_EQ(c.lines, 5u);
        EXPECT_EQ(c.guest_rate_limited, 997u);
    }
    const auto got = lines();
    ASSERT_EQ(got.size(), 5u);
    EXPECT_FALSE(got[3].contains("suppressed"));
    EXPECT_EQ(got[4]["code"], 9);
    EXPECT_EQ(got[4]["suppressed"], 996);
}

// What the supervisor follows a VM by is never rate-limited, however hard
// the guest floods at the same time.
TEST_F(VmmEvents, LifecycleEventsAreNeverRateLimited) {
    {
        EventLog log(config_, "vm1", limits_);
        for (int i = 0; i < 10000; ++i) {
            log.emit_guest("progress", {{"boot", 1}, {"code", i % 256}});
            if (i % 100 == 0) {
                log.emit("rebooting", {{"detail", "the guest reset the machine"}, {"n", i}});
            }
        }
        log.emit("exit", {{"status", 0}});
        EXPECT_EQ(log.counters().lifecycle_dropped, 0u);
    }
    int lifecycle = 0;
    for (const auto& line : lines()) {
        lifecycle += line["event"] != "progress" ? 1 : 0;
    }
    EXPECT_EQ(lifecycle, 101);
    EXPECT_EQ(lines().back()["event"], "exit");
}

// A reader that stops (a supervisor stuck, a pipe nobody drains): emitting
// never blocks, guest-driven lines are dropped first, and the lifecycle
// lines still fit; the log's end does not wait for the reader either.
TEST_F(VmmEvents, AStoppedReaderBlocksNoEmitterAndNoExit) {
    testing::StalledReader reader;
    ASSERT_TRUE(reader.ok());
    config_.path = reader.path();
    limits_.guest_burst = 1000000;  // only the queue limits here
    limits_.flush_timeout = 200ms;
    auto log = std::make_unique<EventLog>(config_, "vm1", limits_);
    const std::string detail(900, 'd');
    // A blocked write never ends; the limit only has to be longer than the
    // slowest build (ThreadSanitizer) takes for the loop.
    EXPECT_TRUE(testing::finishes_within(60s, reader, [&] {
        for (int i = 0; i < 5000; ++i) {
            log->emit_guest("progress", {{"boot", 1}, {"code", i}, {"detail", detail}});
        }
    })) << "a guest event waited for the reader";
    auto c = log->counters();
    EXPECT_GT(c.dropped_queue_full, 4000u);
    EXPECT_TRUE(testing::finishes_within(60s, reader, [&] {
        for (int i = 0; i < 50; ++i) {
            log->emit("rebooting", {{"detail", detail}});
        }
    })) << "a lifecycle event waited for the reader";
    c = log->counters();
    EXPECT_EQ(c.lifecycle_dropped, 0u) << "the guest's lines took the lifecycle events' room";
    const auto end = Clock::now();
    EXPECT_TRUE(testing::finishes_within(60s, reader, [&] { log.reset(); }));
    EXPECT_LT(Clock::now() - end, 200ms + 1500ms);
}

TEST_F(VmmEvents, ATextThatIsNotUtf8CostsACharacterNotTheVmm) {
    {
        EventLog log(config_, "vm1", limits_);
        EXPECT_NO_THROW(log.emit("error", {{"detail", std::string("bad \xff\xfe byte")}}));
        EXPECT_NO_THROW(log.emit_guest("progress", {{"detail", std::string("\xc3")}}));
    }
    const auto got = lines();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_NE(got[0]["detail"].get<std::string>().find("bad "), std::string::npos);
}

TEST_F(VmmEvents, MetricsCountWhatWasDropped) {
    EventLog log(config_, "vm1", limits_);
    log.emit_guest("progress", {{"code", 1}});
    log.emit_guest("progress", {{"code", 1}});
    const auto m = log.metrics();
    EXPECT_EQ(m["lines"], 1);
    EXPECT_EQ(m["guest_deduplicated"], 1);
    for (const char* key : {"guest_rate_limited", "dropped_queue_full", "lifecycle_dropped",
                            "written_bytes", "dropped_bytes", "write_errors"}) {
        EXPECT_TRUE(m.contains(key)) << key;
    }
}

}  // namespace
}  // namespace vmm
