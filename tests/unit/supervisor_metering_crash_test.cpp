// The ledger's crash rules. A child process records samples and is SIGKILLed
// at random points, again and again, against one database: every figure the
// child reported as recorded is there, at most the sample in flight is
// lost, and nothing is counted twice. And a property: any interleaving of
// samples, repeated samples and closes, partial reads, restarts and crashes
// (a write dropped uncommitted and the database reopened) bills exactly
// what one clean run of the same lives bills.
//
// Seeds come from std::random_device and are printed on failure; set
// METERING_SEED to replay one.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <random>

#include "supervisor/metering/ledger.h"
#include "supervisor/metering/meters.h"
#include "tests/unit/metering_test_db.h"

namespace supervisor::metering {
namespace {

using testing::LedgerTestBase;
using testing::sum_of;
using testing::totals_map;

std::uint32_t test_seed() {
    if (const char* s = std::getenv("METERING_SEED")) {
        return static_cast<std::uint32_t>(std::strtoul(s, nullptr, 10));
    }
    return std::random_device{}();
}

// The vmm's cumulative counters at its k-th sample: strictly growing.
struct Step {
    std::int64_t cpu, rx, tx;
};
Step step(std::int64_t k) {
    return {k * 1000 + k % 7, k * 1500, k * 300 + k % 3};
}
constexpr std::int64_t kVolumeBytes = 3 * kBytesPerGib + 12345;  // carries every time
std::int64_t storage_at(std::int64_t k) {
    return static_cast<std::int64_t>(static_cast<__int128>(kVolumeBytes) * (k * 1000) /
                                     kBytesPerGib);
}

// Kills and reaps the child if a failed assertion leaves the test early.
struct ChildGuard {
    pid_t pid = -1;
    ~ChildGuard() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
};

class MeterLedgerCrash : public LedgerTestBase {
  protected:
    // Records samples base, base+1, ... (each sample then a storage accrual,
    // two transactions) and writes k to `fd` after both committed; runs
    // until killed.
    [[noreturn]] void child(std::int64_t base, int fd) {
        try {
            store::Database db(path_);
            for (std::int64_t k = base; k < base + 1'000'000; ++k) {
                const Step s = step(k);
                record_sample(db, 1, Counters{s.cpu, s.rx, s.tx}, k * 1000);
                accrue_storage(db, k * 1000);
                if (write(fd, &k, sizeof k) != sizeof k) {
                    _exit(4);
                }
            }
            _exit(0);
        } catch (...) {
            _exit(3);
        }
    }
};

TEST_F(MeterLedgerCrash, AKilledWriterLosesAtMostTheSampleInFlightAndCountsNothingTwice) {
    const std::uint32_t seed = test_seed();
    SCOPED_TRACE("seed " + std::to_string(seed) + " (METERING_SEED replays it)");
    std::mt19937 rng(seed);
    {
        auto db = open();
        begin_process(*db, 1, 1000, "i-1", 0);
        storage_begin(*db, kKindVolume, "vol-1", 1000, kVolumeBytes, 0);
    }
    // The last sample known to be in the ledger: its counters, and its
    // storage accrual (the next transaction, which may be a sample behind).
    std::int64_t committed = 0;
    std::int64_t committed_storage = 0;
    std::int64_t base = 1;
    for (int round = 0; round < 25; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        int fds[2];
        ASSERT_EQ(pipe(fds), 0);
        const pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            child(base, fds[1]);
        }
        ChildGuard guard{pid};
        close(fds[1]);
        // Let the child record 0 to 3 samples first, so that most kills
        // land in the middle of its work, then kill it at a random moment.
        std::optional<std::int64_t> reported;
        std::int64_t k = 0;
        for (int n = static_cast<int>(rng() % 4); n > 0; --n) {
            pollfd ready{fds[0], POLLIN, 0};
            ASSERT_EQ(poll(&ready, 1, 10'000), 1) << "the child recorded nothing in 10 s";
            ASSERT_EQ(read(fds[0], &k, sizeof k), static_cast<ssize_t>(sizeof k));
            reported = k;
        }
        usleep(static_cast<useconds_t>(rng() % 10'000));
        kill(pid, SIGKILL);
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        guard.pid = -1;
        ASSERT_TRUE(WIFSIGNALED(status)) << "the child exited by itself: " << status;
        while (read(fds[0], &k, sizeof k) == sizeof k) {
            reported = k;
        }
        close(fds[0]);

        // What must be in the ledger, and what may be (the sample in flight).
        const std::int64_t must = reported.value_or(committed);
        const std::int64_t may = reported ? *reported + 1 : base;
        auto db = open();
        const auto p = process_meter(*db, 1);
        ASSERT_TRUE(p);
        // The ledger holds exactly what the stored counters say was billed.
        EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), p->cpu_us);
        EXPECT_EQ(sum_of(*db, "i-1", kNetRxBytes), p->net_rx_bytes);
        EXPECT_EQ(sum_of(*db, "i-1", kNetTxBytes), p->net_tx_bytes);
        const bool at_must = p->cpu_us == step(must).cpu;
        const bool at_may = p->cpu_us == step(may).cpu;
        ASSERT_TRUE(at_must || at_may) << "billed " << p->cpu_us << " µs; reported sample " << must
                                       << " (" << step(must).cpu << " µs)";
        const Step s = step(at_must ? must : may);
        EXPECT_EQ(p->net_rx_bytes, s.rx);
        EXPECT_EQ(p->net_tx_bytes, s.tx);
        const std::int64_t storage = sum_of(*db, "vol-1", kStorageGibMs);
        const std::int64_t storage_must = reported.value_or(committed_storage);
        ASSERT_TRUE(storage == storage_at(storage_must) || storage == storage_at(may))
            << storage << " GiB-ms; reported sample " << storage_must;
        committed = at_must ? must : may;
        committed_storage = storage == storage_at(storage_must) ? storage_must : may;
        // vmd was down a while: the vmm's counters went on without samples.
        base = committed + 1 + static_cast<std::int64_t>(rng() % 3);
    }

    // The vmm exits; its final figures close it: everything, exactly once.
    auto db = open();
    const std::int64_t last = base + 2;
    const Step s = step(last);
    EXPECT_TRUE(close_process(*db, 1, Counters{s.cpu, s.rx, s.tx}, last * 1000));
    storage_end(*db, kKindVolume, "vol-1", last * 1000);
    EXPECT_EQ(sum_of(*db, "i-1", kCpuUs), s.cpu);
    EXPECT_EQ(sum_of(*db, "i-1", kNetRxBytes), s.rx);
    EXPECT_EQ(sum_of(*db, "i-1", kNetTxBytes), s.tx);
    EXPECT_EQ(sum_of(*db, "vol-1", kStorageGibMs), storage_at(last));
}

// One vmm process's life, as the property test generates it.
struct Life {
    std::int64_t process = 0;
    Millis start = 0;
    Millis end = 0;
    Step final{};
    std::vector<std::pair<Millis, Millis>> boots;  // started, ready
};

class MeterLedgerProperty : public LedgerTestBase {};

TEST_F(MeterLedgerProperty, AnyInterleavingBillsWhatOneCleanRunBills) {
    const std::uint32_t seed = test_seed();
    SCOPED_TRACE("seed " + std::to_string(seed) + " (METERING_SEED replays it)");
    std::mt19937 rng(seed);
    auto random = [&](std::int64_t below) {
        return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(below));
    };
    constexpr std::int64_t kRootBytes = kBytesPerGib + 777;
    constexpr std::int64_t kVolBytes = 5 * kBytesPerGib + 3;

    for (int run = 0; run < 20; ++run) {
        SCOPED_TRACE("run " + std::to_string(run));
        // The lives of one instance's vmm processes, one after the other.
        std::vector<Life> lives;
        Millis t = random(1000);
        for (std::int64_t i = 1; i <= 1 + random(5); ++i) {
            Life life;
            life.process = i;
            life.start = t + random(100'000);
            life.end = life.start + 1 + random(600'000);
            life.final = {random(1'000'000'000), random(10'000'000'000), random(10'000'000'000)};
            Millis b = life.start;
            for (int n = 0; n <= random(3) && b < life.end; ++n) {
                const Millis ready = b + random(5000);
                life.boots.emplace_back(b, ready);
                b = ready + 1 + random(60'000);
            }
            lives.push_back(life);
            t = life.end;
        }
        const Millis horizon = t + random(100'000);

        // Operations on the ledger, each at a time; a state change is redone
        // after a crash (vmd finds it undone in its store), a sample is not.
        struct Op {
            Millis at;
            bool state_change;
            std::function<void(store::Database&)> run;
        };
        std::vector<Op> clean;
        std::vector<Op> messy;
        auto both = [&](Millis at, std::function<void(store::Database&)> f) {
            clean.push_back({at, true, f});
            messy.push_back({at, true, f});
        };
        both(0, [](store::Database& db) {
            storage_begin(db, kKindVolume, "vol-1", 1000, kVolBytes, 0);
        });
        for (const Life& life : lives) {
            const auto p = life.process;
            both(life.start, [p, life](store::Database& db) {
                begin_process(db, p, 1000, "i-1", life.start);
                storage_begin(db, kKindInstance, "i-1", 1000, kRootBytes, life.start);
            });
            std::int64_t boot_no = 0;
            for (const auto& [started, ready] : life.boots) {
                const std::int64_t n = ++boot_no;
                const Millis s = started;
                const Millis r = ready;
                messy.push_back({s, true, [p, n, s](store::Database& db) {
                                     record_boot(db, p, n, s, std::nullopt);
                                 }});
                both(std::min(r, life.end),
                     [p, n, s, r](store::Database& db) { record_boot(db, p, n, s, r); });
            }
            // Samples: cumulative counters growing towards the final ones,
            // some read only in part, some repeated.
            std::vector<Millis> times;
            for (int n = random(12); n > 0; --n) {
                times.push_back(life.start + random(life.end - life.start));
            }
            std::sort(times.begin(), times.end());
            std::vector<std::int64_t> fractions;  // per mille of the final counters
            for (std::size_t n = 0; n < times.size(); ++n) {
                fractions.push_back(random(1001));
            }
            std::sort(fractions.begin(), fractions.end());
            for (std::size_t n = 0; n < times.size(); ++n) {
                const std::int64_t f = fractions[n];
                Counters c{life.final.cpu * f / 1000, life.final.rx * f / 1000,
                           life.final.tx * f / 1000};
                if (random(4) == 0) {
                    c.net_rx_bytes.reset();  // the vmm did not answer
                    c.net_tx_bytes.reset();
                }
                if (random(8) == 0) {
                    c.cpu_us.reset();
                }
                const Millis at = times[n];
                for (int repeat = random(5) == 0 ? 2 : 1; repeat > 0; --repeat) {
                    messy.push_back({at, false, [p, c, at](store::Database& db) {
                                         record_sample(db, p, c, at);
                                     }});
                }
            }
            const Step fin = life.final;
            const Millis end = life.end;
            for (int repeat = random(3) == 0 ? 2 : 1; repeat > 0; --repeat) {
                messy.push_back({end, true, [p, fin, end](store::Database& db) {
                                     close_process(db, p, Counters{fin.cpu, fin.rx, fin.tx}, end);
                                     storage_end(db, kKindInstance, "i-1", end);
                                 }});
            }
            clean.push_back({end, true, [p, fin, end](store::Database& db) {
                                 close_process(db, p, Counters{fin.cpu, fin.rx, fin.tx}, end);
                                 storage_end(db, kKindInstance, "i-1", end);
                             }});
        }
        // The 60 s timer's storage accruals, at any moment.
        for (int n = random(15); n > 0; --n) {
            const Millis at = random(horizon);
            messy.push_back({at, false, [at](store::Database& db) { accrue_storage(db, at); }});
        }
        both(horizon,
             [horizon](store::Database& db) { storage_end(db, kKindVolume, "vol-1", horizon); });
        auto by_time = [](const Op& a, const Op& b) { return a.at < b.at; };
        std::stable_sort(clean.begin(), clean.end(), by_time);
        std::stable_sort(messy.begin(), messy.end(), by_time);

        const std::string name = "run" + std::to_string(run);
        auto clean_db = open(name + "-clean.db");
        for (const Op& op : clean) {
            op.run(*clean_db);
        }
        auto db = open(name + "-messy.db");
        db->exec("PRAGMA synchronous=OFF");  // crashes here are simulated, not real
        int crashes = 0;
        for (const Op& op : messy) {
            if (random(6) == 0) {
                // A crash in the middle of the write: it never commits, and
                // everything vmd held in memory is gone with the database.
                {
                    store::Transaction tx(*db);
                    op.run(*db);
                }
                db = open(name + "-messy.db");
                db->exec("PRAGMA synchronous=OFF");
                ++crashes;
                if (!op.state_change) {
                    continue;  // a lost sample: the next one's counters bring it back
                }
            }
            op.run(*db);
        }

        EXPECT_EQ(totals_map(*db), totals_map(*clean_db)) << crashes << " crashes";
        // And the clean run bills what the lives used, exactly.
        std::int64_t cpu = 0;
        std::int64_t running_ms = 0;
        for (const Life& life : lives) {
            cpu += life.final.cpu;
            running_ms += life.end - life.start;
        }
        EXPECT_EQ(sum_of(*clean_db, "i-1", kCpuUs), cpu);
        EXPECT_EQ(sum_of(*clean_db, "i-1", kStorageGibMs),
                  static_cast<std::int64_t>(static_cast<__int128>(kRootBytes) * running_ms /
                                            kBytesPerGib));
        EXPECT_EQ(
            sum_of(*clean_db, "vol-1", kStorageGibMs),
            static_cast<std::int64_t>(static_cast<__int128>(kVolBytes) * horizon / kBytesPerGib));
    }
}

}  // namespace
}  // namespace supervisor::metering
