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

// Bytes that are not UTF-8 cannot be written as JSON as they are: an error
// message quoting them once threw out of the request handler.
TEST(ApiRequest, PathsThatAreNotUtf8GetAJsonAnswer) {
    FixedController c;
    for (const std::string path : {"/vm\xff", "/\xc3", "/\xed\xa0\x80"}) {
        ApiReply reply{0, ""};
        EXPECT_NO_THROW(reply = answer_api_request(c, "GET", path, "")) << path;
        EXPECT_EQ(reply.status, 404);
        const auto json = parsed(reply);
        ASSERT_TRUE(json.is_object()) << reply.body;
        EXPECT_NE(json["error"].get<std::string>().find("no such endpoint: /"), std::string::npos);
    }
    ApiReply reply{0, ""};
    EXPECT_NO_THROW(reply = answer_api_request(c, "GET\xff", "/vm/actions", ""));
    EXPECT_EQ(reply.status, 405);
    EXPECT_TRUE(parsed(reply).is_object()) << reply.body;
}

// nlohmann's parser reports a number that overflows a double as
// out_of_range, not parse_error: such a body once got a 500, as if the VMM
// had failed, instead of the client's 400.
TEST(ApiRequest, ABodyWithANumberTooLargeIsTheClientsError) {
    FixedController c;
    const ApiReply reply = answer_api_request(c, "PUT", "/vm/actions", R"({"action": 1e999})");
    EXPECT_EQ(reply.status, 400) << reply.body;
    EXPECT_NE(parsed(reply)["error"].get<std::string>().find("not valid JSON"), std::string::npos);
}

}  // namespace
}  // namespace vmm
