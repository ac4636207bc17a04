// A thread the host refuses is a HostError naming it (base/error.h), not a
// std::system_error that main() would report as a bug of ours.

#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <cstring>
#include <string>

#include "vmm/named_thread.h"

namespace vmm {
namespace {

TEST(VmmNamedThread, RunsTheBodyUnderItsName) {
    std::atomic<bool> named{false};
    char name[16] = {};
    std::thread t = start_named_thread("vmm-test", [&] {
        while (!named.load()) {  // the name is set once the thread exists
            std::this_thread::yield();
        }
        pthread_getname_np(pthread_self(), name, sizeof name);
    });
    named = true;
    t.join();
    EXPECT_STREQ(name, "vmm-test");
}

TEST(VmmNamedThread, AThreadTheHostRefusesIsAHostError) {
    // A stack no host can map makes pthread_create fail as a lack of
    // memory or threads does.
    pthread_attr_t saved;
    ASSERT_EQ(pthread_getattr_default_np(&saved), 0);
    pthread_attr_t huge;
    pthread_attr_init(&huge);
    pthread_attr_setstacksize(&huge, std::size_t{1} << 46);
    ASSERT_EQ(pthread_setattr_default_np(&huge), 0);
    std::string message;
    try {
        std::thread t = start_named_thread("vmm-refused", [] {});
        t.join();
    } catch (const base::HostError& e) {
        message = e.what();
    }
    pthread_setattr_default_np(&saved);
    pthread_attr_destroy(&huge);
    pthread_attr_destroy(&saved);
    EXPECT_NE(message.find("cannot start the vmm-refused thread"), std::string::npos) << message;
}

}  // namespace
}  // namespace vmm
