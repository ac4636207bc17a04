// The I/O thread: signals from other threads reach their handlers on it,
// its hooks run there, and it stops when asked. Run under ThreadSanitizer
// too (build/bin/unit-tests-tsan): the hand-over between a vCPU's kick and
// the device's handler is what it checks.

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "vmm/io_thread.h"

namespace vmm {
namespace {

using namespace std::chrono_literals;

TEST(VmmIoThread, SignalsFromOtherThreadsReachTheirHandlers) {
    base::Fd kick(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    ASSERT_TRUE(kick.valid());
    std::mutex mutex;
    std::condition_variable cv;
    int handled = 0;        // written on the I/O thread, under mutex
    std::vector<int> seen;  // device state: only the I/O thread touches it
    std::atomic<int> rounds{0};
    std::atomic<bool> started{false};
    {
        IoThread io;
        io.on_start([&] { started = true; });
        io.after_each_round([&] { ++rounds; });
        io.watch(kick.get(), [&] {
            seen.push_back(static_cast<int>(seen.size()));
            std::lock_guard lock(mutex);
            ++handled;
            cv.notify_all();
        });
        io.start();
        std::vector<std::thread> vcpus;
        for (int v = 0; v < 4; ++v) {
            vcpus.emplace_back([&] {
                for (int i = 0; i < 50; ++i) {
                    const std::uint64_t one = 1;
                    ASSERT_EQ(write(kick.get(), &one, sizeof one), 8);
                    std::this_thread::sleep_for(100us);
                }
            });
        }
        for (auto& t : vcpus) {
            t.join();
        }
        std::unique_lock lock(mutex);
        EXPECT_TRUE(cv.wait_for(lock, 10s, [&] { return handled > 0; }));
        lock.unlock();
        io.stop();
    }
    EXPECT_TRUE(started.load());
    EXPECT_GT(rounds.load(), 0);
    EXPECT_EQ(static_cast<int>(seen.size()), handled) << "read after the thread ended";
    EXPECT_LE(handled, 200) << "eventfd signals coalesce, never multiply";
}

}  // namespace
}  // namespace vmm
