#include "net/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"

namespace net {

Tap::Tap(const std::string& name) : name_(name) {
    if (name.empty() || name.size() >= IFNAMSIZ) {
        throw base::InvalidInput("tap interface name '" + name + "' must be 1 to " +
                                 std::to_string(IFNAMSIZ - 1) + " characters");
    }
    // Non-blocking: the device polls the tap through io_uring and then
    // reads and writes frames until the tap says EAGAIN.
    fd_.reset(open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
    if (!fd_.valid()) {
        throw base::InvalidInput("cannot open /dev/net/tun for tap '" + name +
                                 "': " + std::strerror(errno) +
                                 " (load the tun module and run with CAP_NET_ADMIN)");
    }
    ifreq req{};
    std::memcpy(req.ifr_name, name.c_str(), name.size());
    req.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd_.get(), TUNSETIFF, &req) < 0) {
        throw base::InvalidInput("cannot attach to tap '" + name + "': " + std::strerror(errno) +
                                 (errno == EBUSY ? " (another process holds it)"
                                                 : " (create it with `ip tuntap add dev " + name +
                                                       " mode tap` or run with CAP_NET_ADMIN)"));
    }
    int header = kVnetHeaderBytes;
    if (ioctl(fd_.get(), TUNSETVNETHDRSZ, &header) < 0) {
        base::throw_errno("TUNSETVNETHDRSZ on tap " + name);
    }
    if (!set_offload(0)) {
        base::throw_errno("TUNSETOFFLOAD on tap " + name);
    }
}

bool Tap::set_offload(unsigned tun_flags) {
    return ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(tun_flags)) == 0;
}

}  // namespace net
