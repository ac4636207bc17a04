// libFuzzer target: the control API's answers (vmm/api_request.h) to any
// method, path and body, against a fake VmController. Input:
//   byte 0: the method (GET, PUT, POST, DELETE, PATCH, HEAD, another)
//   byte 1: the path's length n, then n bytes of path (none: "/")
//   rest:   the body
//
// Invariants: nothing throws; the answer is one JSON object and a newline,
// with an "error" string exactly when the status is 4xx (never 5xx: the fake
// controller does not fail); the status follows the route (404 for an
// unknown path, 405 for a wrong method, 413 for a body over the limit); the
// controller acts only on a PUT to /vm/actions with an "action" string, and
// gets that string.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "tests/fuzz/fuzz_input.h"
#include "vmm/api_request.h"

namespace {

using fuzz::check;

class FakeController final : public vmm::VmController {
  public:
    nlohmann::json status() const override {
        return {{"state", paused_ ? "paused" : "running"}, {"boot_count", 1}};
    }
    nlohmann::json metrics() const override { return {{"vm_exits", {{"io", 7}}}}; }
    ActionResult act(const std::string& action) override {
        acted = action;
        if (action == "pause" || action == "resume") {
            const bool pause = action == "pause";
            if (pause == paused_) {
                return {409, "cannot " + action + " while the VM is " +
                                 (paused_ ? "paused" : "running")};
            }
            paused_ = pause;
            return {202, ""};
        }
        if (action == "power-button" || action == "ctrl-alt-del" || action == "reboot" ||
            action == "kill") {
            return {202, ""};
        }
        return {400, "unknown action '" + action + "'"};
    }
    std::optional<std::string> acted;

  private:
    bool paused_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const char* const kMethods[] = {"GET",   "PUT",  "POST",       "DELETE",
                                           "PATCH", "HEAD", "this method"};
    fuzz::Input in(data, size);
    const std::string method = kMethods[in.u8() % 7];
    const auto path_bytes = in.bytes(in.u8());
    const std::string path =
        path_bytes.empty() ? "/" : std::string(path_bytes.begin(), path_bytes.end());
    const auto body_bytes = in.rest();
    const std::string body(body_bytes.begin(), body_bytes.end());

    FakeController controller;
    const vmm::ApiReply reply = vmm::answer_api_request(controller, method, path, body);

    if (fuzz::verbose()) {
        std::fprintf(stderr, "%s %s -> %d %s", method.c_str(), path.c_str(), reply.status,
                     reply.body.c_str());
    }
    check(!reply.body.empty() && reply.body.back() == '\n', "the answer does not end in a newline");
    const auto json = nlohmann::json::parse(reply.body, nullptr, false);
    check(json.is_object(), "the answer is not one JSON object");
    const bool error = json.contains("error") && json["error"].is_string();
    check(reply.status >= 200 && reply.status < 500, "the answer's status is not 2xx or 4xx");
    check(error == (reply.status >= 400), "an error without a 4xx status, or the other way");

    const bool known = path == "/vm" || path == "/metrics" || path == "/vm/actions";
    check((reply.status == 404) == !known, "404 does not follow the path");
    if (!known) {
        return 0;
    }
    const std::string allowed = path == "/vm/actions" ? "PUT" : "GET";
    check((reply.status == 405) == (method != allowed), "405 does not follow the method");
    if (method != allowed || path != "/vm/actions") {
        check(!controller.acted, "the controller acted on a request that is no action");
        return 0;
    }
    check((reply.status == 413) == (body.size() > vmm::ApiServer::kMaxBodyBytes),
          "413 does not follow the body's size");
    const auto request = nlohmann::json::parse(body, nullptr, false);
    const bool action = body.size() <= vmm::ApiServer::kMaxBodyBytes && request.is_object() &&
                        request.contains("action") && request["action"].is_string();
    check(action == controller.acted.has_value(), "the controller acted on a bad body, or not");
    if (action) {
        check(*controller.acted == request["action"].get<std::string>(),
              "the controller got another action than the body's");
        check(reply.status != 202 || json["accepted"] == request["action"],
              "an accepted action is not echoed");
    }
    return 0;
}
