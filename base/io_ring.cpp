#include "base/io_ring.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/error.h"

namespace base {

namespace {

// user_data of our own cancel requests, whose completions nobody waits for.
constexpr std::uint64_t kInternal = 0;

// How long the destructor waits for the kernel to give back operations.
constexpr auto kDrainLimit = std::chrono::seconds(5);

__kernel_timespec to_timespec(std::chrono::milliseconds ms) {
    __kernel_timespec ts{};
    ts.tv_sec = ms.count() / 1000;
    ts.tv_nsec = (ms.count() % 1000) * 1000000;
    return ts;
}

}  // namespace

struct IoRing::Op {
    enum class Kind : std::uint8_t {
        kReadv,
        kWritev,
        kRead,
        kWrite,
        kFsync,
        kFallocate,
        kPoll,
        kNop,
        kTimeout
    };
    Kind kind = Kind::kNop;
    bool in_use = false;
    int fd = -1;
    std::uint64_t offset = 0;
    std::uint64_t len = 0;
    unsigned flags = 0;  // fsync flags, fallocate mode, poll mask
    void* buf = nullptr;
    std::vector<iovec> iov;  // our copy; its capacity is reused
    __kernel_timespec ts{};  // kTimeout
    Completion done;
};

IoRing::IoRing(unsigned entries) {
    const int r = io_uring_queue_init(entries, &ring_, 0);
    if (r < 0) {
        throw HostError("io_uring_queue_init(" + std::to_string(entries) +
                        "): " + std::strerror(-r) +
                        " (the VMM needs io_uring: Linux 5.6 or later, not disabled by "
                        "sysctl kernel.io_uring_disabled or a seccomp policy)");
    }
}

IoRing::~IoRing() {
    // Operations that never reached the kernel are simply dropped.
    for (Op* op : overflow_) {
        release(op);
    }
    overflow_.clear();
    for (Op* op : cancelled_) {
        release(op);
    }
    cancelled_.clear();

    if (in_flight_ > 0) {
        for (auto& op : ops_) {
            if (op->in_use && !queue_cancel(*op)) {
                break;  // reads and writes of regular files end on their own anyway
            }
        }
        const auto deadline = std::chrono::steady_clock::now() + kDrainLimit;
        while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline) {
            __kernel_timespec ts = to_timespec(std::chrono::milliseconds(100));
            io_uring_cqe* cqe = nullptr;
            io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
            reap(~std::size_t{0}, false);
        }
    }
    if (in_flight_ > 0) {
        // The kernel still holds buffers we were given: leak our records of
        // them rather than let a late completion write into freed memory.
        std::fprintf(stderr, "vmm: io_uring: %zu operations still in flight at exit\n", in_flight_);
        for (auto& op : ops_) {
            if (op->in_use) {
                [[maybe_unused]] Op* leaked = op.release();
            }
        }
    }
    io_uring_queue_exit(&ring_);
}

IoRing::Op* IoRing::take_op() {
    Op* op;
    if (free_.empty()) {
        ops_.push_back(std::make_unique<Op>());
        op = ops_.back().get();
    } else {
        op = free_.back();
        free_.pop_back();
    }
    op->in_use = true;
    ++in_flight_;
    return op;
}

void IoRing::release(Op* op) {
    op->in_use = false;
    op->done = nullptr;
    op->iov.clear();
    op->buf = nullptr;
    --in_flight_;
    free_.push_back(op);
}

void IoRing::prep(io_uring_sqe* sqe, Op& op) {
    using K = Op::Kind;
    switch (op.kind) {
        case K::kReadv:
            io_uring_prep_readv(sqe, op.fd, op.iov.data(), static_cast<unsigned>(op.iov.size()),
                                op.offset);
            break;
        case K::kWritev:
            io_uring_prep_writev(sqe, op.fd, op.iov.data(), static_cast<unsigned>(op.iov.size()),
                                 op.offset);
            break;
        case K::kRead:
            io_uring_prep_read(sqe, op.fd, op.buf, static_cast<unsigned>(op.len), op.offset);
            break;
        case K::kWrite:
            io_uring_prep_write(sqe, op.fd, op.buf, static_cast<unsigned>(op.len), op.offset);
            break;
        case K::kFsync:
            io_uring_prep_fsync(sqe, op.fd, op.flags);
            break;
        case K::kFallocate:
            io_uring_prep_fallocate(sqe, op.fd, static_cast<int>(op.flags),
                                    static_cast<off_t>(op.offset), static_cast<off_t>(op.len));
            break;
        case K::kPoll:
            io_uring_prep_poll_add(sqe, op.fd, op.flags);
            break;
        case K::kNop:
            io_uring_prep_nop(sqe);
            break;
        case K::kTimeout:
            // The kernel copies the timespec when it takes the entry.
            io_uring_prep_timeout(sqe, &op.ts, 0, 0);
            break;
    }
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(&op));
}

void IoRing::queue(Op* op) {
    if (overflow_.empty()) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            io_uring_submit(&ring_);
            sqe = io_uring_get_sqe(&ring_);
        }
        if (sqe != nullptr) {
            prep(sqe, *op);
            return;
        }
    }
    overflow_.push_back(op);
}

void IoRing::flush_overflow() {
    while (!overflow_.empty()) {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (sqe == nullptr) {
            if (io_uring_submit(&ring_) <= 0) {
                return;  // the kernel is busy: retry after reaping completions
            }
            sqe = io_uring_get_sqe(&ring_);
            if (sqe == nullptr) {
                return;
            }
        }
        prep(sqe, *overflow_.front());
        overflow_.pop_front();
    }
}

void IoRing::readv(int fd, std::span<const iovec> iov, std::uint64_t offset, Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kReadv;
    op->fd = fd;
    op->offset = offset;
    op->iov.assign(iov.begin(), iov.end());
    op->done = std::move(done);
    queue(op);
}

void IoRing::writev(int fd, std::span<const iovec> iov, std::uint64_t offset, Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kWritev;
    op->fd = fd;
    op->offset = offset;
    op->iov.assign(iov.begin(), iov.end());
    op->done = std::move(done);
    queue(op);
}

void IoRing::read(int fd, std::span<std::uint8_t> buf, std::uint64_t offset, Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kRead;
    op->fd = fd;
    op->offset = offset;
    op->buf = buf.data();
    op->len = buf.size();
    op->done = std::move(done);
    queue(op);
}

void IoRing::write(int fd, std::span<const std::uint8_t> buf, std::uint64_t offset,
                   Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kWrite;
    op->fd = fd;
    op->offset = offset;
    op->buf = const_cast<std::uint8_t*>(buf.data());
    op->len = buf.size();
    op->done = std::move(done);
    queue(op);
}

void IoRing::fsync(int fd, bool datasync, Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kFsync;
    op->fd = fd;
    op->flags = datasync ? IORING_FSYNC_DATASYNC : 0;
    op->done = std::move(done);
    queue(op);
}

void IoRing::fallocate(int fd, int mode, std::uint64_t offset, std::uint64_t len, Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kFallocate;
    op->fd = fd;
    op->flags = static_cast<unsigned>(mode);
    op->offset = offset;
    op->len = len;
    op->done = std::move(done);
    queue(op);
}

void IoRing::poll(int fd, short events, Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kPoll;
    op->fd = fd;
    op->flags = static_cast<unsigned short>(events);
    op->done = std::move(done);
    queue(op);
}

void IoRing::nop(Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kNop;
    op->done = std::move(done);
    queue(op);
}

void IoRing::timeout(std::chrono::milliseconds after, Completion done) {
    Op* op = take_op();
    op->kind = Op::Kind::kTimeout;
    op->ts = to_timespec(std::max(after, std::chrono::milliseconds(0)));
    op->done = std::move(done);
    queue(op);
}

bool IoRing::queue_cancel(const Op& op) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
        io_uring_submit(&ring_);
        sqe = io_uring_get_sqe(&ring_);
    }
    if (sqe == nullptr) {
        return false;
    }
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(&op), 0);
    io_uring_sqe_set_data64(sqe, kInternal);
    return true;
}

void IoRing::cancel_fd(int fd) {
    if (fd < 0) {
        return;
    }
    for (auto it = overflow_.begin(); it != overflow_.end();) {
        if ((*it)->fd == fd) {
            cancelled_.push_back(*it);
            it = overflow_.erase(it);
        } else {
            ++it;
        }
    }
    bool queued = false;
    for (auto& op : ops_) {
        if (!op->in_use || op->fd != fd ||
            std::find(cancelled_.begin(), cancelled_.end(), op.get()) != cancelled_.end()) {
            continue;
        }
        if (!queue_cancel(*op)) {
            break;  // cancelling is best effort: the rest ends on its own
        }
        queued = true;
    }
    // Now, so that no operation can finish and its slot be reused for another
    // one before the kernel looks for it.
    if (queued) {
        io_uring_submit(&ring_);
    }
}

int IoRing::run_cancelled() {
    int ran = 0;
    for (std::size_t n = cancelled_.size(); n > 0 && !cancelled_.empty(); --n) {
        Op* op = cancelled_.front();
        cancelled_.pop_front();
        Completion done = std::move(op->done);
        release(op);
        if (done) {
            done(-ECANCELED);
            ++ran;
        }
    }
    return ran;
}

int IoRing::reap(std::size_t limit, bool call) {
    int ran = 0;
    io_uring_cqe* cqe = nullptr;
    for (std::size_t n = 0; n < limit && io_uring_peek_cqe(&ring_, &cqe) == 0; ++n) {
        const std::uint64_t data = io_uring_cqe_get_data64(cqe);
        const int result = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        if (data == kInternal || data == LIBURING_UDATA_TIMEOUT) {
            continue;
        }
        Op* op = reinterpret_cast<Op*>(data);
        // A timeout that expired is its success.
        const int answer = op->kind == Op::Kind::kTimeout && result == -ETIME ? 0 : result;
        Completion done = std::move(op->done);
        release(op);  // before the callback, which may reuse the slot
        if (call && done) {
            done(answer);
            ++ran;
        }
    }
    return ran;
}

int IoRing::run(std::optional<std::chrono::milliseconds> timeout) {
    flush_overflow();
    if (!timeout && in_flight_ == 0) {
        return 0;
    }
    if (!cancelled_.empty()) {
        timeout = std::chrono::milliseconds(0);  // they complete now: do not wait
    }
    io_uring_cqe* cqe = nullptr;
    int r;
    if (!timeout) {
        r = io_uring_submit_and_wait(&ring_, 1);
    } else if (timeout->count() <= 0) {
        r = io_uring_submit(&ring_);
    } else {
        __kernel_timespec ts = to_timespec(*timeout);
        r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (r == -EBUSY || r == -EAGAIN) {
        // The kernel takes no more submissions until completions are reaped;
        // wait for those without submitting.
        if (!timeout) {
            io_uring_wait_cqe(&ring_, &cqe);
        } else if (timeout->count() > 0) {
            __kernel_timespec ts = to_timespec(*timeout);
            io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
        }
    }
    // Only what is ready now: completions of operations the callbacks submit
    // wait for the next run(), so one run() cannot go on forever.
    const int ran = reap(io_uring_cq_ready(&ring_), true) + run_cancelled();
    flush_overflow();
    return ran;
}

}  // namespace base
