#pragma once
// The control API's answers, apart from the HTTP transport: a request's
// method, path and body in, a status and a JSON body out (the endpoints are
// listed in api_server.h). ApiServer feeds it what evhttp parsed; being
// pure, it is tested and fuzzed without a socket.

#include <string>
#include <string_view>

#include "vmm/api_server.h"

namespace vmm {

struct ApiReply {
    int status;
    std::string body;  // JSON text and a newline
};

// `method` is the request's method name ("GET", "PUT", ...), `path` its
// URI's path without query or fragment.
ApiReply answer_api_request(VmController& controller, std::string_view method,
                            const std::string& path, std::string_view body);

}  // namespace vmm
