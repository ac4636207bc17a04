#include "net/route_socket.h"

#include <arpa/inet.h>
#include <linux/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/socket.h>

#include <cstring>

#include "base/error.h"

namespace net {

namespace {

// libnl objects are reference counted; each owner drops its reference once.
struct LinkPut {
    void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
    void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrPut {
    void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CacheFree {
    void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrPut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;

bool is_absent(int err) {
    err = err < 0 ? -err : err;
    return err == NLE_OBJ_NOTFOUND || err == NLE_NODEV;
}

[[noreturn]] void fail(const std::string& what, int err) {
    throw base::HostError(what + ": " + nl_geterror(err) +
                          (-err == NLE_PERM ? " (vmd needs CAP_NET_ADMIN)" : ""));
}

LinkInfo info_of(rtnl_link* link) {
    LinkInfo info;
    info.name = rtnl_link_get_name(link);
    info.index = rtnl_link_get_ifindex(link);
    const char* kind = rtnl_link_get_type(link);
    info.kind = kind == nullptr ? "" : kind;
    info.master = rtnl_link_get_master(link);
    info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
    info.operational = rtnl_link_get_operstate(link) == IF_OPER_UP;
    if (nl_addr* lladdr = rtnl_link_get_addr(link);
        lladdr != nullptr && nl_addr_get_len(lladdr) == info.mac.size()) {
        std::memcpy(info.mac.data(), nl_addr_get_binary_addr(lladdr), info.mac.size());
    }
    return info;
}

NlAddrPtr ipv4_nl_addr(Ipv4Address address) {
    const std::uint32_t be = htonl(address.value());
    NlAddrPtr a(nl_addr_build(AF_INET, &be, sizeof be));
    if (!a) {
        throw base::HostError("out of memory building a netlink address");
    }
    return a;
}

}  // namespace

void check_interface_name(const std::string& name) {
    bool ok = !name.empty() && name.size() < IFNAMSIZ && name[0] != '.' && name[0] != '-';
    for (char c : name) {
        ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-');
    }
    if (!ok) {
        throw base::InvalidInput("interface name '" + name + "' must be 1 to " +
                                 std::to_string(IFNAMSIZ - 1) +
                                 " letters, digits, '_', '.' or '-', not starting with '.' or '-'");
    }
}

RouteSocket::RouteSocket() : sock_(nl_socket_alloc()) {
    if (sock_ == nullptr) {
        throw base::HostError("cannot allocate a netlink socket (out of memory)");
    }
    if (const int err = nl_connect(sock_, NETLINK_ROUTE); err < 0) {
        nl_socket_free(sock_);
        fail("cannot open a NETLINK_ROUTE socket", err);
    }
}

RouteSocket::~RouteSocket() {
    nl_socket_free(sock_);
}

std::optional<LinkInfo> RouteSocket::find_link(const std::string& name) {
    rtnl_link* raw = nullptr;
    const int err = rtnl_link_get_kernel(sock_, 0, name.c_str(), &raw);
    if (err < 0) {
        if (is_absent(err)) {
            return std::nullopt;
        }
        fail("cannot look up interface " + name, err);
    }
    LinkPtr link(raw);
    return info_of(link.get());
}

LinkInfo RouteSocket::require_link(const std::string& name) {
    auto link = find_link(name);
    if (!link) {
        throw base::HostError("interface " + name + " does not exist");
    }
    return *link;
}

std::vector<LinkInfo> RouteSocket::links() {
    nl_cache* raw = nullptr;
    if (const int err = rtnl_link_alloc_cache(sock_, AF_UNSPEC, &raw); err < 0) {
        fail("cannot list network interfaces", err);
    }
    CachePtr cache(raw);
    std::vector<LinkInfo> all;
    for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
        all.push_back(info_of(reinterpret_cast<rtnl_link*>(o)));
    }
    return all;
}

std::vector<Ipv4Interface> RouteSocket::ipv4_addresses(const std::string& link) {
    const auto info = find_link(link);
    if (!info) {
        return {};
    }
    nl_cache* raw = nullptr;
    if (const int err = rtnl_addr_alloc_cache(sock_, &raw); err < 0) {
        fail("cannot list addresses", err);
    }
    CachePtr cache(raw);
    std::vector<Ipv4Interface> found;
    for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
        auto* addr = reinterpret_cast<rtnl_addr*>(o);
        nl_addr* local = rtnl_addr_get_local(addr);
        if (rtnl_addr_get_ifindex(addr) != info->index || rtnl_addr_get_family(addr) != AF_INET ||
            local == nullptr || nl_addr_get_len(local) != 4) {
            continue;
        }
        std::uint32_t be = 0;
        std::memcpy(&be, nl_addr_get_binary_addr(local), 4);
        found.push_back({Ipv4Address(ntohl(be)), rtnl_addr_get_prefixlen(addr)});
    }
    return found;
}

void RouteSocket::add_bridge(const std::string& name, const MacAddress& mac) {
    check_interface_name(name);
    if (find_link(name)) {
        throw base::InvalidInput("cannot create bridge " + name +
                                 ": an interface of that name exists already");
    }
    LinkPtr link(rtnl_link_bridge_alloc());
    if (!link) {
        throw base::HostError("out of memory building a bridge request");
    }
    rtnl_link_set_name(link.get(), name.c_str());
    NlAddrPtr lladdr(nl_addr_build(AF_LLC, mac.data(), mac.size()));
    rtnl_link_set_addr(link.get(), lladdr.get());
    if (const int err = rtnl_link_add(sock_, link.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0) {
        fail("cannot create bridge " + name, err);
    }
}

void RouteSocket::add_ipv4_address(const std::string& link, const Ipv4Interface& address) {
    for (const auto& present : ipv4_addresses(link)) {
        if (present == address) {
            return;
        }
    }
    const LinkInfo info = require_link(link);
    AddrPtr addr(rtnl_addr_alloc());
    if (!addr) {
        throw base::HostError("out of memory building an address request");
    }
    rtnl_addr_set_ifindex(addr.get(), info.index);
    rtnl_addr_set_family(addr.get(), AF_INET);
    NlAddrPtr local = ipv4_nl_addr(address.address);
    nl_addr_set_prefixlen(local.get(), address.prefix_length);
    rtnl_addr_set_local(addr.get(), local.get());
    rtnl_addr_set_prefixlen(addr.get(), address.prefix_length);
    NlAddrPtr broadcast = ipv4_nl_addr(address.network().broadcast());
    rtnl_addr_set_broadcast(addr.get(), broadcast.get());
    if (const int err = rtnl_addr_add(sock_, addr.get(), 0); err < 0) {
        fail("cannot add address " + address.to_string() + " to " + link, err);
    }
}

void RouteSocket::set_master(const std::string& link, const std::string& master) {
    const LinkInfo port = require_link(link);
    const LinkInfo bridge = require_link(master);
    if (port.master == bridge.index) {
        return;
    }
    if (const int err = rtnl_link_enslave_ifindex(sock_, bridge.index, port.index); err < 0) {
        fail("cannot attach " + link + " to bridge " + master, err);
    }
}

void RouteSocket::set_up(const std::string& link) {
    rtnl_link* raw = nullptr;
    if (const int err = rtnl_link_get_kernel(sock_, 0, link.c_str(), &raw); err < 0) {
        fail("cannot look up interface " + link, err);
    }
    LinkPtr current(raw);
    LinkPtr change(rtnl_link_alloc());
    if (!change) {
        throw base::HostError("out of memory building a link request");
    }
    rtnl_link_set_flags(change.get(), IFF_UP);
    if (const int err = rtnl_link_change(sock_, current.get(), change.get(), 0); err < 0) {
        fail("cannot bring " + link + " up", err);
    }
}

bool RouteSocket::delete_link(const std::string& name) {
    LinkPtr link(rtnl_link_alloc());
    if (!link) {
        throw base::HostError("out of memory building a link request");
    }
    rtnl_link_set_name(link.get(), name.c_str());
    const int err = rtnl_link_delete(sock_, link.get());
    if (err < 0) {
        if (is_absent(err)) {
            return false;
        }
        fail("cannot delete interface " + name, err);
    }
    return true;
}

}  // namespace net
