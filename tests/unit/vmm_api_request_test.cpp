// The control API's answers without the transport (vmm/api_request.h):
// whatever a request holds, the answer is a status and a JSON object.

#include <gtest/gtest.h>

#include <string>

#include "vmm/api_request.h"

namespace vmm {
namespace {

class FixedController : public VmController {
  public:
    nlohmann::json status() const override { return {{"state", "running"}}; }
    nlohmann::json metrics() const override { return {{"vm_exits", 1}}; }
    ActionResult act(const std::string& action) override {
        return {400, "unknown action '" + action + "'"};
    }
};

nlohmann::json parsed(const ApiReply& reply) {
    return nlohmann::json::parse(reply.body, nullptr, false);
}

TEST(ApiRequest, AnswersTheEndpoints) {
    FixedController c;
    const ApiReply vm = answer_api_request(c, "GET", "/vm", "");
    EXPECT_EQ(vm.status, 200);
    EXPECT_EQ(parsed(vm)["state"], "running");
    const ApiReply action = answer_api_request(c, "PUT", "/vm/actions", R"({"action":"dance"})");
    EXPECT_EQ(action.status, 400);
    EXPECT_EQ(parsed(action)["error"], "unknown action 'dance'");
    EXPECT_EQ(answer_api_request(c, "POST", "/vm", "").status, 405);
}

}  // namespace
}  // namespace vmm
