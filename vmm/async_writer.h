#pragma once
// AsyncWriter: output for a file descriptor whose reader the VMM does not
// control (the console's stdout, the events file), queued in a bounded
// buffer and written by a thread of its own. Whoever produces it (a vCPU,
// the I/O thread, the boot loop) never waits for the reader: what does not
// fit in the queue is dropped and counted. So a reader that stops, a full
// pipe or a full disk cost output, never a stalled vCPU or a VMM that
// cannot exit: the destructor gives the thread a bounded time to flush,
// then interrupts its write with a signal (kInterruptSignal, whose handler
// does nothing and does not restart the call).

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "base/fd.h"

namespace vmm {

class AsyncWriter {
  public:
    struct Counters {
        std::uint64_t written_bytes = 0;
        std::uint64_t dropped_bytes = 0;  // refused (queue full, writer closed) or lost to an error
        std::uint64_t dropped_writes = 0;  // push() calls refused
        std::uint64_t write_errors = 0;    // write() failures (ENOSPC, EIO, EPIPE, ...)
    };

    // Takes `fd`; `thread_name` is at most 15 characters. Throws HostError
    // when the thread cannot be started.
    AsyncWriter(base::Fd fd, std::size_t capacity, const char* thread_name,
                std::chrono::milliseconds flush_timeout);
    ~AsyncWriter();
    AsyncWriter(const AsyncWriter&) = delete;
    AsyncWriter& operator=(const AsyncWriter&) = delete;

    // Queues all of `bytes` when the queue then holds at most `limit` bytes
    // (at most the capacity), else drops them all and counts. Never waits
    // for the reader; thread-safe.
    bool push(std::span<const std::uint8_t> bytes, std::size_t limit);
    bool push(std::string_view text, std::size_t limit);
    bool push(std::string_view text) { return push(text, capacity_); }

    // Waits until everything queued so far is written (true) or `timeout`
    // passed (false).
    bool flush(std::chrono::milliseconds timeout);

    Counters counters() const;
    std::size_t capacity() const { return capacity_; }

    static int interrupt_signal();

  private:
    struct Shared;  // shared with the thread, which may outlive a write that never returns

    const std::size_t capacity_;
    const std::chrono::milliseconds flush_timeout_;
    std::shared_ptr<Shared> shared_;
    std::thread thread_;
};

}  // namespace vmm
