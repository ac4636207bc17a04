#pragma once
// A tap interface the VMM attaches a virtio-net device to. Opened with
// IFF_VNET_HDR so every frame carries the 12-byte virtio-net header, which
// lets checksum and segmentation offloads pass between guest and host
// untouched. The interface must exist or the VMM must be allowed to create
// it (CAP_NET_ADMIN); it is left as it was found when the VMM exits.

#include <string>

#include "base/fd.h"

namespace net {

class Tap {
  public:
    // The virtio-net header size the tap is configured for (virtio 1.x).
    static constexpr int kVnetHeaderBytes = 12;

    // Throws InvalidInput naming the interface when it cannot be opened
    // (missing /dev/net/tun, no permission, name too long or in use).
    explicit Tap(const std::string& name);

    // Which offloads the guest accepts on receive (TUN_F_CSUM, TUN_F_TSO4,
    // TUN_F_TSO6); the kernel then hands us only frames the guest can take.
    // False when the kernel refuses.
    bool set_offload(unsigned tun_flags);

    int fd() const { return fd_.get(); }
    const std::string& name() const { return name_; }

  private:
    base::Fd fd_;
    std::string name_;
};

}  // namespace net
