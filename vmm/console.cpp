#include "vmm/console.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>

#include "base/error.h"
#include "vmm/named_thread.h"

namespace vmm {

ConsoleInput::ConsoleInput(int input_fd, Feed feed)
    : input_fd_(input_fd), feed_(std::move(feed)), stop_event_(eventfd(0, EFD_CLOEXEC)) {
    if (!stop_event_.valid()) {
        base::throw_errno("eventfd for the console thread");
    }
    thread_ = start_named_thread("console", [this] { loop(); });
    // After the thread: a constructor that throws must not leave the
    // terminal raw.
    if (isatty(input_fd_) && tcgetattr(input_fd_, &saved_tty_) == 0) {
        termios raw = saved_tty_;
        cfmakeraw(&raw);
        raw.c_lflag |= ISIG;  // Ctrl-C still ends the VMM
        raw.c_oflag |= OPOST | ONLCR;
        restore_tty_ = tcsetattr(input_fd_, TCSANOW, &raw) == 0;
    }
}

ConsoleInput::~ConsoleInput() {
    const std::uint64_t one = 1;
    if (write(stop_event_.get(), &one, sizeof one) < 0) {
        // The thread is joined below either way; it polls the event.
    }
    thread_.join();
    if (restore_tty_) {
        tcsetattr(input_fd_, TCSANOW, &saved_tty_);
    }
}

void ConsoleInput::loop() {
    std::uint8_t buf[256];
    for (;;) {
        pollfd fds[2] = {{stop_event_.get(), POLLIN, 0}, {input_fd_, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if (fds[0].revents != 0) {
            return;
        }
        if (fds[1].revents == 0) {
            continue;
        }
        const ssize_t n = read(input_fd_, buf, sizeof buf);
        if (n <= 0) {
            return;  // end of input: the guest keeps running without a console
        }
        std::span<const std::uint8_t> pending(buf, static_cast<std::size_t>(n));
        while (!pending.empty()) {
            pending = pending.subspan(feed_(pending));
            if (!pending.empty()) {
                // The UART's FIFO is full: wait for the guest to drain it.
                pollfd stop{stop_event_.get(), POLLIN, 0};
                if (poll(&stop, 1, 2) > 0) {
                    return;
                }
            }
        }
    }
}

}  // namespace vmm
