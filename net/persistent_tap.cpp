#include "net/persistent_tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "base/fd.h"

namespace net {

namespace {

// The kernel calls taps (and tuns) of either kind "tun".
constexpr const char* kTunKind = "tun";

void make_persistent(const TapSpec& spec) {
    base::Fd fd(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    if (!fd.valid()) {
        base::throw_errno("cannot open /dev/net/tun to create tap " + spec.name +
                          " (load the tun module)");
    }
    ifreq req{};
    std::memcpy(req.ifr_name, spec.name.c_str(), spec.name.size());
    req.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd.get(), TUNSETIFF, &req) < 0) {
        base::throw_errno("cannot create tap " + spec.name +
                          (errno == EBUSY ? " (a process holds it open)" : ""));
    }
    if (ioctl(fd.get(), TUNSETOWNER, static_cast<unsigned long>(spec.owner)) < 0) {
        base::throw_errno("cannot give tap " + spec.name + " to uid " + std::to_string(spec.owner));
    }
    if (spec.group && ioctl(fd.get(), TUNSETGROUP, static_cast<unsigned long>(*spec.group)) < 0) {
        base::throw_errno("cannot give tap " + spec.name + " to gid " +
                          std::to_string(*spec.group));
    }
    if (ioctl(fd.get(), TUNSETPERSIST, 1ul) < 0) {
        base::throw_errno("cannot make tap " + spec.name + " persistent");
    }
}

}  // namespace

void create_tap(RouteSocket& links, const TapSpec& spec) {
    check_interface_name(spec.name);
    const auto existing = links.find_link(spec.name);
    if (existing && existing->kind != kTunKind) {
        throw base::InvalidInput("cannot create tap " + spec.name + ": interface exists (" +
                                 (existing->kind.empty() ? "a device" : existing->kind) + ")");
    }
    make_persistent(spec);
    links.set_master(spec.name, spec.bridge);
    links.set_up(spec.name);
}

bool delete_tap(RouteSocket& links, const std::string& name) {
    const auto existing = links.find_link(name);
    if (!existing) {
        return false;
    }
    if (existing->kind != kTunKind) {
        throw base::InvalidInput("interface " + name + " is not a tap: not deleting it");
    }
    return links.delete_link(name);
}

std::vector<std::string> list_taps(RouteSocket& links, const std::string& prefix) {
    std::vector<std::string> names;
    for (const LinkInfo& link : links.links()) {
        if (link.kind == kTunKind && link.name.rfind(prefix, 0) == 0) {
            names.push_back(link.name);
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace net
