#include "net/bridge_filter.h"

#include <linux/netlink.h>
#include <nftables/libnftables.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/error.h"
#include "net/route_socket.h"

namespace net {

namespace {

// Chains, sets and maps, named after the tap or owner they serve.
std::string from_chain(const PortFilter& p) {
    return "from_" + p.tap;
}
std::string to_chain(const PortFilter& p) {
    return "to_" + p.tap;
}
std::string owner_set(const PortFilter& p) {
    return "owner_" + std::to_string(p.owner);
}

std::string quoted(const std::string& name) {
    return "\"" + name + "\"";
}

}  // namespace

void FilterConfig::validate() const {
    bool word = !table.empty() && table.size() <= 64;
    for (char c : table) {
        word = word && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    }
    if (!word || table[0] < 'a' || table[0] > 'z') {
        throw base::InvalidInput("nftables table name '" + table +
                                 "' must be a lower-case word: letters, digits and '_'");
    }
    check_interface_name(tap_prefix);
    if (!network.contains(gateway)) {
        throw base::InvalidInput("gateway " + gateway.to_string() + " is not in " +
                                 network.to_string());
    }
}

void PortFilter::validate(const FilterConfig& config) const {
    check_interface_name(tap);
    if (tap.rfind(config.tap_prefix, 0) != 0 || tap.size() == config.tap_prefix.size()) {
        throw base::InvalidInput("tap " + tap + " does not start with the platform's prefix '" +
                                 config.tap_prefix + "'");
    }
    if ((mac[0] & 1) != 0) {
        throw base::InvalidInput("MAC " + format_mac(mac) + " of tap " + tap +
                                 " is a multicast address");
    }
}

std::string add_port_commands(const FilterConfig& config, const PortFilter& port) {
    config.validate();
    port.validate(config);
    const std::string t = "bridge " + config.table + " ";
    const std::string from = from_chain(port);
    const std::string to = to_chain(port);
    const std::string mac = format_mac(port.mac);
    const std::string ip = port.address.to_string();
    std::string s;
    s += "add set " + t + owner_set(port) + " { type ifname; }\n";
    s += "add element " + t + owner_set(port) + " { " + quoted(port.tap) + " }\n";
    // What the instance sends: its own MAC and address, IPv4 and ARP only.
    s += "add chain " + t + from + "\n";
    s += "flush chain " + t + from + "\n";
    s += "add rule " + t + from + " ether saddr != " + mac + " drop\n";
    s += "add rule " + t + from + " ether type != { ip, arp } drop\n";
    s += "add rule " + t + from + " ether type ip ip saddr != " + ip + " drop\n";
    s += "add rule " + t + from + " ether type arp arp saddr ether != " + mac + " drop\n";
    s += "add rule " + t + from + " ether type arp arp saddr ip != { " + ip + ", 0.0.0.0 } drop\n";
    // What the bridge forwards to it: only from its owner's taps.
    s += "add chain " + t + to + "\n";
    s += "flush chain " + t + to + "\n";
    s += "add rule " + t + to + " iifname != @" + owner_set(port) + " drop\n";
    s += "add element " + t + "from_port { " + quoted(port.tap) + " : goto " + from + " }\n";
    s += "add element " + t + "to_port { " + quoted(port.tap) + " : goto " + to + " }\n";
    return s;
}

std::string remove_port_commands(const FilterConfig& config, const PortFilter& port) {
    config.validate();
    port.validate(config);
    // nft 1.0.6 has no `destroy`: each object is added first (a no-op where
    // it exists) so that deleting it cannot fail, all in one transaction.
    const std::string t = "bridge " + config.table + " ";
    const std::string from = from_chain(port);
    const std::string to = to_chain(port);
    const std::string tap = quoted(port.tap);
    std::string s;
    s += "add set " + t + owner_set(port) + " { type ifname; }\n";
    s += "add chain " + t + from + "\n";
    s += "add chain " + t + to + "\n";
    s += "add element " + t + owner_set(port) + " { " + tap + " }\n";
    s += "add element " + t + "from_port { " + tap + " : goto " + from + " }\n";
    s += "add element " + t + "to_port { " + tap + " : goto " + to + " }\n";
    s += "delete element " + t + "from_port { " + tap + " }\n";
    s += "delete element " + t + "to_port { " + tap + " }\n";
    s += "delete element " + t + owner_set(port) + " { " + tap + " }\n";
    s += "flush chain " + t + from + "\n";
    s += "flush chain " + t + to + "\n";
    s += "delete chain " + t + from + "\n";
    s += "delete chain " + t + to + "\n";
    return s;
}

std::string table_commands(const FilterConfig& config, const std::vector<PortFilter>& ports) {
    config.validate();
    const std::string t = "bridge " + config.table;
    const std::string any_tap = quoted(config.tap_prefix + "*");
    std::string s;
    s += "add table " + t + "\n";
    s += "delete table " + t + "\n";
    s += "table " + t + " {\n";
    s += "    map from_port { type ifname : verdict; }\n";
    s += "    map to_port { type ifname : verdict; }\n";
    s += "    chain prerouting {\n";
    s += "        type filter hook prerouting priority filter; policy accept;\n";
    s += "        iifname vmap @from_port\n";
    s += "        iifname " + any_tap + " drop\n";
    s += "    }\n";
    s += "    chain forward {\n";
    s += "        type filter hook forward priority filter; policy accept;\n";
    s += "        oifname vmap @to_port\n";
    s += "        oifname " + any_tap + " drop\n";
    s += "    }\n";
    s += "    chain input {\n";
    s += "        type filter hook input priority filter; policy accept;\n";
    s += "        iifname " + any_tap + " ip daddr " + config.network.to_string() +
         " ip daddr != " + config.gateway.to_string() + " drop\n";
    s += "    }\n";
    s += "}\n";
    for (const PortFilter& port : ports) {
        s += add_port_commands(config, port);
    }
    return s;
}

std::string remove_table_commands(const FilterConfig& config) {
    config.validate();
    return "add table bridge " + config.table + "\ndelete table bridge " + config.table + "\n";
}

namespace {

// libnftables ends the whole process (exit(3), "Unable to initialize Netlink
// socket") when it cannot open its netlink socket: a kernel without
// nf_tables would take vmd down with it. The same socket is tried here
// first, so that it is an error the caller can report.
void check_netfilter_netlink() {
    const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) {
        const int error = errno;
        throw base::HostError(std::string("nftables is not available: cannot open a netfilter "
                                          "netlink socket (") +
                              std::strerror(error) +
                              "); the kernel needs nf_tables (CONFIG_NF_TABLES, CONFIG_NF_TABLES_"
                              "BRIDGE: modprobe nf_tables)");
    }
    close(fd);
}

}  // namespace

Nftables::Nftables() : ctx_((check_netfilter_netlink(), nft_ctx_new(NFT_CTX_DEFAULT))) {
    if (ctx_ == nullptr) {
        throw base::HostError("libnftables cannot make a context");
    }
    if (nft_ctx_buffer_output(ctx_) != 0 || nft_ctx_buffer_error(ctx_) != 0) {
        nft_ctx_free(ctx_);
        throw base::HostError("libnftables cannot buffer its output");
    }
}

Nftables::~Nftables() {
    nft_ctx_free(ctx_);
}

std::string Nftables::run(const std::string& commands) {
    if (nft_run_cmd_from_buffer(ctx_, commands.c_str()) != 0) {
        std::string error = nft_ctx_get_error_buffer(ctx_);
        while (!error.empty() && error.back() == '\n') {
            error.pop_back();
        }
        throw base::HostError(
            "nftables refused the bridge filter (needs CAP_NET_ADMIN and "
            "nf_tables with the bridge family): " +
            error);
    }
    return nft_ctx_get_output_buffer(ctx_);
}

}  // namespace net
