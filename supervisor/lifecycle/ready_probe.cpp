#include "supervisor/lifecycle/ready_probe.h"

#include "base/error.h"

namespace supervisor::lifecycle {

namespace {

constexpr const char* kForms = "auto, debug-port, tcp:PORT (PORT 1..65535) or none";

}  // namespace

ReadyProbe parse_ready_probe(const std::string& text) {
    ReadyProbe p;
    if (text == "auto") {
        p.kind = ReadyProbe::Kind::kAuto;
        p.port = ReadyProbe::kAutoPort;
        return p;
    }
    if (text == "debug-port") {
        p.kind = ReadyProbe::Kind::kDebugPort;
        return p;
    }
    if (text == "none") {
        p.kind = ReadyProbe::Kind::kNone;
        return p;
    }
    if (text.rfind("tcp:", 0) == 0) {
        const std::string digits = text.substr(4);
        std::uint32_t port = 0;
        bool ok = !digits.empty() && digits.size() <= 5 && digits[0] != '0';
        for (char c : digits) {
            ok = ok && c >= '0' && c <= '9';
            port = ok ? port * 10 + static_cast<std::uint32_t>(c - '0') : port;
        }
        if (!ok || port < 1 || port > 65535) {
            throw base::InvalidInput("ready_probe '" + text +
                                     "': the port must be a number from 1 to 65535 (e.g. tcp:22)");
        }
        p.kind = ReadyProbe::Kind::kTcp;
        p.port = static_cast<std::uint16_t>(port);
        return p;
    }
    throw base::InvalidInput("ready_probe must be " + std::string(kForms) + ", not '" + text + "'");
}

}  // namespace supervisor::lifecycle
