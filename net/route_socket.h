#pragma once
// The host's network interfaces through rtnetlink (libnl-route-3), never by
// running `ip`: find, list, create bridges, add addresses, enslave, bring up
// and delete links. One RouteSocket owns one netlink socket and acts in the
// network namespace of the thread that made it.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/ipv4.h"
#include "net/mac.h"

struct nl_sock;

namespace net {

// A link as the kernel lists it.
struct LinkInfo {
    std::string name;
    int index = 0;
    std::string kind;  // "bridge", "tun" (taps too), "veth", ...; "" for a plain device
    int master = 0;    // the bridge's index, 0 when not enslaved
    bool up = false;   // IFF_UP
    // RFC 2863 "up": up with carrier (a tap: a process holds it open),
    // and the kernel has acted on it (a bridge port then forwards).
    bool operational = false;
    MacAddress mac{};  // its Ethernet address (zero for a link without one)
};

// Throws InvalidInput unless `name` can name an interface and be written into
// a filter rule as it is: 1 to 15 of [A-Za-z0-9_.-], not starting with '.' or '-'.
void check_interface_name(const std::string& name);

class RouteSocket {
  public:
    // Throws HostError when no netlink socket can be had.
    RouteSocket();
    ~RouteSocket();
    RouteSocket(const RouteSocket&) = delete;
    RouteSocket& operator=(const RouteSocket&) = delete;

    std::optional<LinkInfo> find_link(const std::string& name);
    std::vector<LinkInfo> links();
    // The IPv4 addresses on a link (none when it does not exist).
    std::vector<Ipv4Interface> ipv4_addresses(const std::string& link);

    // Creates a bridge with this MAC (a bridge whose MAC is set keeps it,
    // instead of taking the lowest of its ports' and changing as taps come
    // and go, which would leave guests with a stale ARP entry for their
    // gateway). Throws HostError, InvalidInput when the name is taken.
    void add_bridge(const std::string& name, const MacAddress& mac);
    // Adds address/prefix with its broadcast address; already there: nothing.
    void add_ipv4_address(const std::string& link, const Ipv4Interface& address);
    // Enslaves `link` to the bridge `master`.
    void set_master(const std::string& link, const std::string& master);
    void set_up(const std::string& link);
    // Deletes the link; false when there was none.
    bool delete_link(const std::string& name);

  private:
    LinkInfo require_link(const std::string& name);

    nl_sock* sock_ = nullptr;
};

}  // namespace net
