#include "supervisor/vmd/ids.h"

#include <sys/random.h>

#include <cstdint>
#include <cstdio>

#include "base/error.h"

namespace supervisor::vmd {

namespace {

constexpr std::size_t kHexDigits = 12;

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

}  // namespace

std::string new_id(const std::string& prefix) {
    std::uint8_t bytes[kHexDigits / 2];
    std::size_t got = 0;
    while (got < sizeof bytes) {
        const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
        if (n < 0) {
            base::throw_errno("getrandom for a new id");
        }
        got += static_cast<std::size_t>(n);
    }
    std::string id = prefix + "-";
    for (std::uint8_t b : bytes) {
        char hex[3];
        std::snprintf(hex, sizeof hex, "%02x", b);
        id += hex;
    }
    return id;
}

bool looks_like_id(const std::string& text, const std::string& prefix) {
    if (text.size() != prefix.size() + 1 + kHexDigits || text.rfind(prefix + "-", 0) != 0) {
        return false;
    }
    for (std::size_t i = prefix.size() + 1; i < text.size(); ++i) {
        if (!is_hex(text[i])) {
            return false;
        }
    }
    return true;
}

void check_name(const std::string& kind, const std::string& name) {
    if (name.empty() || name.size() > 63) {
        throw base::InvalidInput(kind + " name '" + name + "' must be 1 to 63 characters");
    }
    const auto alnum = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    };
    if (!alnum(name[0])) {
        throw base::InvalidInput(kind + " name '" + name + "' must start with a letter or digit");
    }
    for (char c : name) {
        if (!alnum(c) && c != '-' && c != '_' && c != '.') {
            throw base::InvalidInput(kind + " name '" + name +
                                     "' may hold only letters, digits, '-', '_' and '.'");
        }
    }
    for (const char* prefix : {"img", "vol", "i"}) {
        if (looks_like_id(name, prefix)) {
            throw base::InvalidInput(kind + " name '" + name +
                                     "' looks like an id; choose another");
        }
    }
}

std::string mac_for(const std::string& instance_id) {
    // The id's 12 hex digits after "i-": the last 10 make bytes 2..6.
    std::string hex = instance_id.size() >= 10 ? instance_id.substr(instance_id.size() - 10)
                                               : std::string(10, '0');
    std::string mac = "02";
    for (std::size_t i = 0; i < 10; i += 2) {
        mac += ":" + hex.substr(i, 2);
    }
    return mac;
}

}  // namespace supervisor::vmd
