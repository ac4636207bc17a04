#pragma once
// IoRing: one io_uring with a completion callback per operation.
//
// Threading: not thread-safe. One thread (the VM's I/O thread) submits and
// runs completions; set-up code may submit before that thread starts.
//
// Every operation is asynchronous: its Completion runs later, from run(), on
// the thread calling run(), never from inside the submitting call. The result
// is what the kernel answered: bytes transferred (or the poll mask) on success,
// -errno on failure. Operations are never dropped: when the submission queue
// is full the queued ones are submitted to make room, and if the kernel cannot
// take more right now the operation waits in an overflow list for run().
//
// Waking a thread blocked in run(): arm a poll() on an eventfd and write to
// the eventfd (vmm::IoThread does this). The ring's own fd() becomes readable
// when completions are ready, for an owner that wants to nest this ring in
// another event loop.

#include <liburing.h>
#include <sys/uio.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace base {

class IoRing {
  public:
    using Completion = std::function<void(int result)>;

    // Offset for read/write on streams (eventfds, taps, pipes): "the current
    // position", i.e. no offset.
    static constexpr std::uint64_t kStreamOffset = ~std::uint64_t{0};

    // Throws HostError when the kernel has no usable io_uring.
    explicit IoRing(unsigned entries = 256);
    // Cancels what can be cancelled and waits (bounded, a few seconds) for every
    // operation the kernel holds, so that no kernel write lands in freed memory.
    // Completions still pending are destroyed without being called.
    ~IoRing();
    IoRing(const IoRing&) = delete;
    IoRing& operator=(const IoRing&) = delete;

    // The iovec array is copied: the caller's array may go away at once; the
    // buffers it points to must live until the completion.
    void readv(int fd, std::span<const iovec> iov, std::uint64_t offset, Completion done);
    void writev(int fd, std::span<const iovec> iov, std::uint64_t offset, Completion done);
    void read(int fd, std::span<std::uint8_t> buf, std::uint64_t offset, Completion done);
    void write(int fd, std::span<const std::uint8_t> buf, std::uint64_t offset, Completion done);
    void fsync(int fd, bool datasync, Completion done);
    void fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t len, Completion done);
    // One-shot poll; the result is the ready event mask.
    void poll(int fd, short events, Completion done);
    // Completes with 0 on the next run(): a way to answer asynchronously.
    void nop(Completion done);
    // Completes with 0 once `after` has passed (a run() waits for it like for
    // any other completion).
    void timeout(std::chrono::milliseconds after, Completion done);

    // Asks the kernel to end every operation on `fd` early. Each still ends
    // with exactly one completion: -ECANCELED where the cancel caught it (not
    // started yet, or waiting, like a read of an empty pipe), its own result
    // where the kernel was already running it (a read of a regular file in
    // progress runs to its end). Operations not handed to the kernel yet end
    // with -ECANCELED on the next run(). The cancel requests go to the kernel
    // at once.
    void cancel_fd(int fd);

    // Submits what is queued, waits for at least one completion (forever when
    // `timeout` is empty, not at all when it is zero), then runs the callbacks
    // of the completions that are ready. Callbacks may submit more operations;
    // those go to the kernel on the next run(). Returns the number of callbacks
    // run. With nothing in flight and no timeout it returns 0 at once.
    int run(std::optional<std::chrono::milliseconds> timeout);

    // Operations submitted (or queued) whose completion has not run yet.
    std::size_t in_flight() const { return in_flight_; }
    int fd() const { return ring_.ring_fd; }

  private:
    struct Op;
    Op* take_op();
    void release(Op* op);
    void queue(Op* op);
    void prep(io_uring_sqe* sqe, Op& op);
    void flush_overflow();
    int reap(std::size_t limit, bool call);
    // Queues an IORING_OP_ASYNC_CANCEL for `op`; false when no submission
    // queue entry could be had.
    bool queue_cancel(const Op& op);
    int run_cancelled();

    io_uring ring_{};
    std::vector<std::unique_ptr<Op>> ops_;  // every Op ever made; reused
    std::vector<Op*> free_;
    std::deque<Op*> overflow_;   // waiting for a submission queue entry, in order
    std::deque<Op*> cancelled_;  // cancelled before they reached the kernel
    std::size_t in_flight_ = 0;
};

}  // namespace base
