// The reboot-loop rule (vmm/reboot_loop.h) with made-up times, and its
// option. Booted for real by tests/integration/vmm_reboot_test.cpp.

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/error.h"
#include "vmm/config.h"
#include "vmm/reboot_loop.h"

namespace vmm {
namespace {

using namespace std::chrono_literals;
using Clock = RebootLoopDetector::Clock;

// A fake clock: boots that last a given time, one after another.
class Guest {
  public:
    explicit Guest(RebootLoopLimit limit) : detector_(limit) {}
    // One boot of `length` that ends in the guest's reset; true: loop found.
    bool boot_and_reset(Clock::duration length) {
        const Clock::time_point started = now_;
        now_ += length;
        const bool loop = detector_.guest_rebooted(started, now_);
        now_ += 50ms;  // the VMM's own reboot work
        return loop;
    }
    RebootLoopDetector& detector() { return detector_; }

  private:
    RebootLoopDetector detector_;
    Clock::time_point now_{};  // any origin: only differences count
};

TEST(RebootLoop, DefaultIsTenQuickBootsWithinAMinuteEach) {
    const RebootLoopLimit limit;
    EXPECT_EQ(limit.boots, 10u);
    EXPECT_EQ(limit.within_s, 60u);
    EXPECT_TRUE(limit.enabled());
}

TEST(RebootLoop, FastResetsAgainAndAgainAreALoopAtTheLimit) {
    Guest guest({5, 30});
    for (int i = 1; i <= 4; ++i) {
        EXPECT_FALSE(guest.boot_and_reset(2s)) << "boot " << i;
    }
    EXPECT_TRUE(guest.boot_and_reset(2s)) << "the 5th quick boot in a row";
    EXPECT_EQ(guest.detector().quick_boots(), 5u);
}

TEST(RebootLoop, TriplesFaultsWithinMicrosecondsAreCaughtToo) {
    Guest guest({5, 30});
    int boots = 0;
    while (!guest.boot_and_reset(1us) && boots < 100) {
        ++boots;
    }
    EXPECT_EQ(boots + 1, 5);
}

TEST(RebootLoop, ABootThatLastsStartsTheCountOver) {
    Guest guest({5, 30});
    for (int round = 0; round < 10; ++round) {
        for (int i = 0; i < 4; ++i) {
            ASSERT_FALSE(guest.boot_and_reset(5s));
        }
        EXPECT_FALSE(guest.boot_and_reset(30s)) << "30 s is not less than 30 s";
        EXPECT_EQ(guest.detector().quick_boots(), 0u);
    }
}

TEST(RebootLoop, ALegitimateGuestRebootsAsOftenAsItLikes) {
    // A guest that runs a minute and reboots, a thousand times: never a loop,
    // whether or not it ever writes the test image's "ready" code.
    Guest guest(RebootLoopLimit{});
    for (int i = 0; i < 1000; ++i) {
        ASSERT_FALSE(guest.boot_and_reset(61s)) << "reboot " << i;
    }
    // Nor one that reboots at once a few times in a row (updates, tests).
    for (int i = 0; i < 9; ++i) {
        ASSERT_FALSE(guest.boot_and_reset(1s)) << "quick reboot " << i;
    }
}

TEST(RebootLoop, TheOwnersRebootStartsTheCountOver) {
    Guest guest({3, 30});
    EXPECT_FALSE(guest.boot_and_reset(1s));
    EXPECT_FALSE(guest.boot_and_reset(1s));
    guest.detector().owner_rebooted();
    EXPECT_EQ(guest.detector().quick_boots(), 0u);
    EXPECT_FALSE(guest.boot_and_reset(1s));
    EXPECT_FALSE(guest.boot_and_reset(1s));
    EXPECT_TRUE(guest.boot_and_reset(1s));
}

TEST(RebootLoop, OffNeverStops) {
    Guest guest({0, 30});
    EXPECT_FALSE(guest.detector().limit().enabled());
    for (int i = 0; i < 10000; ++i) {
        ASSERT_FALSE(guest.boot_and_reset(1ms));
    }
}

TEST(RebootLoop, OneBootLimitEndsAtTheFirstQuickReset) {
    Guest guest({1, 10});
    EXPECT_FALSE(guest.boot_and_reset(11s));
    EXPECT_TRUE(guest.boot_and_reset(9s));
}

// ---- the option ----------------------------------------------------------

RebootLoopLimit parsed(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kernel", "/k"});
    return parse_command_line(args).config.reboot_loop;
}

std::string error_of(std::vector<std::string> args) {
    try {
        parsed(std::move(args));
    } catch (const base::InvalidInput& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(RebootLoopOption, TakesBootsSlashSecondsOrOff) {
    EXPECT_EQ(parsed({}).boots, 10u);
    const RebootLoopLimit l = parsed({"--reboot-loop", "3/120"});
    EXPECT_EQ(l.boots, 3u);
    EXPECT_EQ(l.within_s, 120u);
    EXPECT_FALSE(parsed({"--reboot-loop=off"}).enabled());
}

TEST(RebootLoopOption, RefusesMalformedValuesNamingTheOption) {
    for (const char* bad :
         {"", "5", "5/", "/30", "0/30", "5/0", "x/30", "5/30s", "-1/30", "1001/30", "5/86401"}) {
        EXPECT_NE(error_of({"--reboot-loop", bad}).find("--reboot-loop"), std::string::npos)
            << "'" << bad << "': " << error_of({"--reboot-loop", bad});
    }
}

TEST(RebootLoopOption, ComesFromTheJsonConfigToo) {
    VmConfig c;
    apply_json_config(R"({"kernel": "/k", "reboot-loop": "2/10"})", "t.json", c);
    EXPECT_EQ(c.reboot_loop.boots, 2u);
    EXPECT_EQ(c.reboot_loop.within_s, 10u);
    apply_json_config(R"({"reboot-loop": "off"})", "t.json", c);
    EXPECT_FALSE(c.reboot_loop.enabled());
    EXPECT_THROW(apply_json_config(R"({"reboot-loop": 5})", "t.json", c), base::InvalidInput);
}

}  // namespace
}  // namespace vmm
