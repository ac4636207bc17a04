#include "vmm/io_thread.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "vmm/named_thread.h"

namespace vmm {

IoThread::IoThread(unsigned ring_entries)
    : ring_(std::make_unique<base::IoRing>(ring_entries)),
      wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (!wake_.valid()) {
        base::throw_errno("eventfd for the I/O thread");
    }
    watch(wake_.get(), [] {});
}

IoThread::~IoThread() {
    stop();
}

void IoThread::watch(int fd, std::function<void()> on_signal) {
    watches_.push_back(std::make_unique<Watch>(Watch{fd, std::move(on_signal)}));
}

void IoThread::on_start(std::function<void()> hook) {
    start_hooks_.push_back(std::move(hook));
}

void IoThread::after_each_round(std::function<void()> hook) {
    round_hooks_.push_back(std::move(hook));
}

void IoThread::arm(Watch& w) {
    ring_->poll(w.fd, POLLIN, [this, &w](int result) {
        if (stopping_.load(std::memory_order_acquire)) {
            return;
        }
        if (result < 0) {
            std::fprintf(stderr, "vmm: I/O thread: poll on fd %d failed: %s\n", w.fd,
                         std::strerror(-result));
            return;
        }
        std::uint64_t count;
        while (::read(w.fd, &count, sizeof count) == sizeof count) {
        }
        w.on_signal();
        arm(w);
    });
}

void IoThread::start() {
    for (auto& w : watches_) {
        arm(*w);
    }
    thread_ = start_named_thread("vmm-io", [this] {
        for (auto& hook : start_hooks_) {
            hook();
        }
        loop();
    });
}

void IoThread::loop() {
    while (!stopping_.load(std::memory_order_acquire)) {
        ring_->run(std::nullopt);
        for (auto& hook : round_hooks_) {
            hook();
        }
    }
}

void IoThread::stop() {
    if (!thread_.joinable()) {
        return;
    }
    stopping_.store(true, std::memory_order_release);
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
}

}  // namespace vmm
