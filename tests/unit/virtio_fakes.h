#pragma once
// Backends a test or fuzzer drives by hand, so that what is asynchronous in
// the VMM (a disk request in io_uring, a tap becoming readable, a retry
// timer) happens exactly when the test says: no timing, no races.
//
// FakeDisk holds its requests until complete() (or cancel(), when it is told
// to end them there); its completion then does what the kernel would have
// done, including writing read data into guest memory at that moment.
// FakeNetBackend hands out the frames and errors it was given and runs the
// readiness and timer callbacks when fire_*() says so. Neither uses gtest:
// the fuzzers use them too.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <utility>
#include <vector>

#include "devices/virtio/net_backend.h"
#include "storage/disk.h"

namespace testing_support {

class FakeDisk final : public storage::Disk {
  public:
    enum class Op { kRead, kWrite, kFlush, kDiscard, kWriteZeroes };
    struct Request {
        Op op;
        std::uint64_t offset;
        std::uint64_t len;
        std::vector<iovec> iov;
        storage::Completion done;
    };

    FakeDisk(std::uint64_t size, bool read_only = false) : size_(size), read_only_(read_only) {}

    std::uint64_t size() const override { return size_; }
    bool read_only() const override { return read_only_; }
    void read(std::uint64_t offset, std::span<const iovec> iov, storage::Completion done) override {
        add(Op::kRead, offset, bytes(iov), iov, std::move(done));
    }
    void write(std::uint64_t offset, std::span<const iovec> iov,
               storage::Completion done) override {
        add(Op::kWrite, offset, bytes(iov), iov, std::move(done));
    }
    void flush(storage::Completion done) override { add(Op::kFlush, 0, 0, {}, std::move(done)); }
    void discard(std::uint64_t offset, std::uint64_t len, storage::Completion done) override {
        add(Op::kDiscard, offset, len, {}, std::move(done));
    }
    void write_zeroes(std::uint64_t offset, std::uint64_t len, bool,
                      storage::Completion done) override {
        add(Op::kWriteZeroes, offset, len, {}, std::move(done));
    }
    // Counts; with ends_requests_on_cancel, ends every pending request with
    // -ECANCELED (untouched buffers), as io_uring does for requests it had
    // not started.
    void cancel() override {
        ++cancels;
        if (cancel_hook) {
            cancel_hook();
        }
        if (ends_requests_on_cancel) {
            while (!pending.empty()) {
                finish(0, -ECANCELED);
            }
        }
    }

    // Carries out pending request `i` (reads land in their buffers now) and
    // completes it with its result, or with `error` (< 0) without doing it.
    void complete(std::size_t i, int error = 0) {
        Request& r = pending[i];
        if (error == 0 && r.offset <= size_ && r.len <= size_ - r.offset) {
            std::uint64_t at = r.offset;
            for (const iovec& part : r.iov) {
                copy(r.op == Op::kRead, at, static_cast<std::uint8_t*>(part.iov_base),
                     part.iov_len);
                at += part.iov_len;
            }
            if (r.op == Op::kDiscard || r.op == Op::kWriteZeroes) {
                for (std::uint64_t b = r.offset; b < r.offset + r.len;) {
                    const std::uint64_t n = std::min(kBlock - b % kBlock, r.offset + r.len - b);
                    std::memset(block(b)->second.data() + b % kBlock, 0, n);
                    b += n;
                }
            }
        } else if (error == 0) {
            error = -EINVAL;
        }
        finish(i, error);
    }
    void complete_all() {
        while (!pending.empty()) {
            complete(0);
        }
    }

    // The disk's content is sparse: what was never written reads as `fill`.
    std::uint8_t fill = 0;

    std::deque<Request> pending;
    int cancels = 0;
    bool ends_requests_on_cancel = false;
    std::function<void()> cancel_hook;
    std::function<void(const Request&)> on_request;  // sees each request as it comes

  private:
    static std::uint64_t bytes(std::span<const iovec> iov) {
        std::uint64_t n = 0;
        for (const iovec& part : iov) {
            n += part.iov_len;
        }
        return n;
    }
    void add(Op op, std::uint64_t offset, std::uint64_t len, std::span<const iovec> iov,
             storage::Completion done) {
        pending.push_back({op, offset, len, {iov.begin(), iov.end()}, std::move(done)});
        if (on_request) {
            on_request(pending.back());
        }
    }
    void finish(std::size_t i, int result) {
        storage::Completion done = std::move(pending[i].done);
        pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
        done(result);
    }

    static constexpr std::uint64_t kBlock = 4096;
    std::map<std::uint64_t, std::vector<std::uint8_t>>::iterator block(std::uint64_t at) {
        auto [it, fresh] = blocks_.try_emplace(at / kBlock);
        if (fresh) {
            it->second.assign(kBlock, fill);
        }
        return it;
    }
    // Between the disk at `at` and `len` bytes at `p`, block by block.
    void copy(bool to_memory, std::uint64_t at, std::uint8_t* p, std::uint64_t len) {
        while (len > 0) {
            const std::uint64_t n = std::min(kBlock - at % kBlock, len);
            const auto it = blocks_.find(at / kBlock);
            if (to_memory) {
                if (it == blocks_.end()) {
                    std::memset(p, fill, n);
                } else {
                    std::memcpy(p, it->second.data() + at % kBlock, n);
                }
            } else {
                std::memcpy(block(at)->second.data() + at % kBlock, p, n);
            }
            at += n;
            p += n;
            len -= n;
        }
    }
    std::uint64_t size_;
    std::map<std::uint64_t, std::vector<std::uint8_t>> blocks_;
    bool read_only_;
};

class FakeNetBackend final : public devices::virtio::NetBackend {
  public:
    ssize_t read_frame(std::span<std::uint8_t> frame) override {
        ++reads;
        if (!read_errors.empty()) {
            const int e = read_errors.front();
            if (!keep_failing) {
                read_errors.pop_front();
            }
            return -e;
        }
        if (rx.empty()) {
            return -EAGAIN;
        }
        std::vector<std::uint8_t> f = std::move(rx.front());
        rx.pop_front();
        const std::size_t n = std::min(f.size(), frame.size());
        if (n > 0) {
            std::memcpy(frame.data(), f.data(), n);
        }
        return static_cast<ssize_t>(n);
    }
    ssize_t write_frame(std::span<const iovec> iov) override {
        if (tx_full) {
            return -EAGAIN;
        }
        if (tx_error != 0) {
            return -tx_error;
        }
        std::vector<std::uint8_t> f;
        for (const iovec& part : iov) {
            const auto* p = static_cast<const std::uint8_t*>(part.iov_base);
            f.insert(f.end(), p, p + part.iov_len);
        }
        tx.push_back(std::move(f));
        return static_cast<ssize_t>(tx.back().size());
    }
    bool set_offload(unsigned flags) override {
        offload = flags;
        return true;
    }
    void when_ready(bool readable, std::function<void()> ready) override {
        (readable ? readable_waiters : writable_waiters).push_back(std::move(ready));
    }
    void after(std::chrono::milliseconds delay, std::function<void()> then) override {
        timers.emplace_back(delay, std::move(then));
    }

    // Runs the callbacks waiting now (not those they add); returns how many.
    std::size_t fire_readable() { return fire(readable_waiters); }
    std::size_t fire_writable() { return fire(writable_waiters); }
    std::size_t fire_timers() {
        std::vector<std::function<void()>> due;
        for (auto& t : timers) {
            due.push_back(std::move(t.second));
        }
        timers.clear();
        for (auto& f : due) {
            f();
        }
        return due.size();
    }

    std::deque<std::vector<std::uint8_t>> rx;   // frames (with header) to receive
    std::deque<int> read_errors;                // errno values the next reads fail with
    bool keep_failing = false;                  // the front error stays
    std::vector<std::vector<std::uint8_t>> tx;  // frames transmitted
    bool tx_full = false;
    int tx_error = 0;
    unsigned offload = 0;
    int reads = 0;
    std::vector<std::function<void()>> readable_waiters, writable_waiters;
    std::vector<std::pair<std::chrono::milliseconds, std::function<void()>>> timers;

  private:
    static std::size_t fire(std::vector<std::function<void()>>& waiters) {
        std::vector<std::function<void()>> now;
        now.swap(waiters);
        for (auto& f : now) {
            f();
        }
        return now.size();
    }
};

}  // namespace testing_support
