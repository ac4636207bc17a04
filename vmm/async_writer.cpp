#include "vmm/async_writer.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>

#include "vmm/named_thread.h"

namespace vmm {

namespace {

// How long the destructor keeps interrupting a write that does not return
// before it leaves the thread to the process's exit.
constexpr auto kInterruptFor = std::chrono::seconds(1);
constexpr auto kInterruptEvery = std::chrono::milliseconds(2);

void install_interrupt_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0;  // no SA_RESTART: a blocked write() returns EINTR
        sigaction(AsyncWriter::interrupt_signal(), &sa, nullptr);
    });
}

}  // namespace

struct AsyncWriter::Shared {
    explicit Shared(base::Fd f) : fd(std::move(f)) {}

    base::Fd fd;
    std::mutex mutex;
    std::condition_variable work;     // the thread waits for output or the end
    std::condition_variable drained;  // flush() and the destructor wait for the thread
    std::string pending;              // queued, not yet taken by the thread
    std::size_t in_flight = 0;        // taken by the thread, not yet written
    bool closing = false;             // the thread ends once the queue is empty
    bool broken = false;              // the reader is gone (EPIPE): drop everything
    bool exited = false;
    std::atomic<bool> abandon{false};  // give up the write in progress and end
    Counters counters;

    void run();
    void write_out(const std::string& chunk);
};

void AsyncWriter::Shared::run() {
    std::string chunk;
    for (;;) {
        {
            std::unique_lock lock(mutex);
            work.wait(lock, [&] { return !pending.empty() || closing; });
            if (pending.empty() || abandon.load()) {
                counters.dropped_bytes += pending.size();
                pending.clear();
                exited = true;
                drained.notify_all();
                return;
            }
            chunk.swap(pending);
            in_flight = chunk.size();
        }
        write_out(chunk);
        chunk.clear();
        std::lock_guard lock(mutex);
        in_flight = 0;
        drained.notify_all();
    }
}

void AsyncWriter::Shared::write_out(const std::string& chunk) {
    std::size_t done = 0;
    auto lose_rest = [&](bool error) {
        std::lock_guard lock(mutex);
        counters.dropped_bytes += chunk.size() - done;
        counters.write_errors += error ? 1 : 0;
    };
    while (done < chunk.size()) {
        if (abandon.load()) {
            lose_rest(false);
            return;
        }
        const ssize_t n = ::write(fd.get(), chunk.data() + done, chunk.size() - done);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            std::lock_guard lock(mutex);
            counters.written_bytes += static_cast<std::uint64_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;  // abandon is looked at first
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd.get(), POLLOUT, 0};  // a non-blocking fd we were given
            poll(&p, 1, 100);
            continue;
        }
        const bool gone = n < 0 && (errno == EPIPE || errno == EBADF);
        lose_rest(true);
        if (gone) {
            std::lock_guard lock(mutex);
            broken = true;
        }
        return;  // ENOSPC, EIO, ...: this output is lost, later output may fare better
    }
}

int AsyncWriter::interrupt_signal() {
    return SIGRTMIN + 2;
}

AsyncWriter::AsyncWriter(base::Fd fd, std::size_t capacity, const char* thread_name,
                         std::chrono::milliseconds flush_timeout)
    : capacity_(capacity),
      flush_timeout_(flush_timeout),
      shared_(std::make_shared<Shared>(std::move(fd))) {
    install_interrupt_handler();
    thread_ = start_named_thread(thread_name, [shared = shared_] { shared->run(); });
}

AsyncWriter::~AsyncWriter() {
    flush(flush_timeout_);
    {
        std::lock_guard lock(shared_->mutex);
        shared_->closing = true;
        if (!shared_->pending.empty() || shared_->in_flight != 0) {
            shared_->abandon = true;  // the reader is too slow or gone
        }
    }
    shared_->work.notify_all();
    // A write blocked on a stopped reader returns EINTR on the signal; one
    // sent just before the thread entered write() is repeated.
    const auto deadline = std::chrono::steady_clock::now() + kInterruptFor;
    std::unique_lock lock(shared_->mutex);
    while (!shared_->exited && std::chrono::steady_clock::now() < deadline) {
        if (shared_->abandon.load()) {
            pthread_kill(thread_.native_handle(), interrupt_signal());
        }
        shared_->drained.wait_for(lock, kInterruptEvery);
    }
    const bool exited = shared_->exited;
    lock.unlock();
    if (exited) {
        thread_.join();
    } else {
        // A write that even a signal cannot end (a hung network file system):
        // the thread keeps what it needs and ends with the process.
        std::fprintf(stderr, "vmm: an output thread is stuck in write(); leaving it behind\n");
        thread_.detach();
    }
}

bool AsyncWriter::push(std::span<const std::uint8_t> bytes, std::size_t limit) {
    return push(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), limit);
}

bool AsyncWriter::push(std::string_view text, std::size_t limit) {
    bool wake = false;
    {
        std::lock_guard lock(shared_->mutex);
        Shared& s = *shared_;
        if (s.broken || s.closing ||
            s.pending.size() + s.in_flight + text.size() > std::min(limit, capacity_)) {
            s.counters.dropped_bytes += text.size();
            ++s.counters.dropped_writes;
            return false;
        }
        wake = s.pending.empty();
        s.pending.append(text);
    }
    if (wake) {
        shared_->work.notify_one();
    }
    return true;
}

bool AsyncWriter::flush(std::chrono::milliseconds timeout) {
    std::unique_lock lock(shared_->mutex);
    return shared_->drained.wait_for(lock, timeout, [&] {
        return (shared_->pending.empty() && shared_->in_flight == 0) || shared_->exited;
    });
}

AsyncWriter::Counters AsyncWriter::counters() const {
    std::lock_guard lock(shared_->mutex);
    return shared_->counters;
}

}  // namespace vmm
