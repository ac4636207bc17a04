#include "supervisor/vmd/tcp_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

namespace supervisor::vmd {

TcpProbe::TcpProbe(EventLoop& loop, net::Ipv4Address address, std::uint16_t port,
                   std::function<void()> on_answer, Timing timing)
    : loop_(loop),
      address_(address),
      port_(port),
      target_(address.to_string() + ":" + std::to_string(port)),
      on_answer_(std::move(on_answer)),
      timing_(timing),
      timer_(loop, [this] { on_timer(); }) {
    // The first knock from the loop, not from here: its answer may destroy
    // the probe, which its owner may not hold yet.
    timer_.arm(std::chrono::milliseconds(0));
}

TcpProbe::~TcpProbe() = default;

void TcpProbe::attempt() {
    watch_.reset();
    socket_.reset(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ++attempts_;
    if (!socket_.valid()) {
        // Out of descriptors for now: the next attempt may find one.
        timer_.arm(timing_.interval);
        return;
    }
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port_);
    sa.sin_addr.s_addr = htonl(address_.value());
    if (connect(socket_.get(), reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) {
        answer();
        return;
    }
    if (errno != EINPROGRESS) {
        socket_.reset();  // refused or unreachable at once: knock again later
        timer_.arm(timing_.interval);
        return;
    }
    watch_ = std::make_unique<EventLoop::Watch>(
        loop_, socket_.get(), [this] { on_connect_end(); }, EventLoop::Watch::On::kWritable);
    timer_.arm(timing_.attempt_timeout);
}

void TcpProbe::on_connect_end() {
    int error = 0;
    socklen_t size = sizeof error;
    if (getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
        error = errno;
    }
    if (error == 0) {
        answer();
        return;
    }
    watch_.reset();
    socket_.reset();
    timer_.arm(timing_.interval);
}

void TcpProbe::on_timer() {
    // An attempt still in flight has had its time: drop it and knock again.
    attempt();
}

void TcpProbe::answer() {
    answered_ = true;
    timer_.disarm();
    watch_.reset();
    socket_.reset();
    auto fn = on_answer_;  // it may destroy this probe
    fn();
}

}  // namespace supervisor::vmd
