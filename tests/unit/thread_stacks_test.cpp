// The VMM's threads get stacks too small for a transparent huge page.

#include "vmm/thread_stacks.h"

#include <gtest/gtest.h>

#include <thread>

#include "base/error.h"

namespace {

std::size_t stack_of_a_new_thread() {
    std::size_t size = 0;
    std::thread([&] { size = vmm::current_thread_stack_size(); }).join();
    return size;
}

TEST(ThreadStacks, ThreadsStartedAfterwardsGetTheSizeAndNoRoomForAHugePage) {
    const std::size_t before = stack_of_a_new_thread();
    ASSERT_GT(before, 0u);
    vmm::set_thread_stack_size();
    const std::size_t after = stack_of_a_new_thread();
    vmm::set_thread_stack_size(before);  // the rest of this test binary as it was
    EXPECT_EQ(after, vmm::kThreadStackBytes);
    EXPECT_LT(vmm::kThreadStackBytes, std::size_t{2} << 20)
        << "a stack of 2 MiB or more can hold a 2 MiB-aligned stretch";
    EXPECT_EQ(stack_of_a_new_thread(), before);
}

TEST(ThreadStacks, ASizeTheCLibraryRefusesIsAHostErrorNamingIt) {
    try {
        vmm::set_thread_stack_size(1);
        FAIL() << "a 1-byte stack was accepted";
    } catch (const base::HostError& e) {
        EXPECT_NE(std::string(e.what()).find("1 bytes"), std::string::npos) << e.what();
    }
}

}  // namespace
