#pragma once
// The serial console's host side: stdin fed to the guest's UART on a thread
// of its own (raw mode when stdin is a terminal, restored on exit).

#include <termios.h>

#include <functional>
#include <span>
#include <thread>

#include "base/fd.h"

namespace vmm {

class ConsoleInput {
  public:
    // `feed` returns how many bytes the UART took; the rest is offered again.
    using Feed = std::function<std::size_t(std::span<const std::uint8_t>)>;

    ConsoleInput(int input_fd, Feed feed);
    ~ConsoleInput();
    ConsoleInput(const ConsoleInput&) = delete;
    ConsoleInput& operator=(const ConsoleInput&) = delete;

  private:
    void loop();

    int input_fd_;
    Feed feed_;
    base::Fd stop_event_;
    bool restore_tty_ = false;
    termios saved_tty_{};
    std::thread thread_;
};

}  // namespace vmm
