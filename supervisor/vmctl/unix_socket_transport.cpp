#include "supervisor/vmctl/unix_socket_transport.h"

#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace vmctl {

namespace {

constexpr time_t kConnectTimeoutS = 5;

// Why connecting failed, said so that the user knows what to do.
std::string connect_failure(const std::string& socket_path) {
    struct stat st {};
    std::string why;
    if (stat(socket_path.c_str(), &st) != 0) {
        why = std::string(std::strerror(errno));
    } else if (!S_ISSOCK(st.st_mode)) {
        why = "not a socket";
    } else if (access(socket_path.c_str(), R_OK | W_OK) != 0) {
        why = std::string(std::strerror(errno));
    } else {
        why = "nobody answers (is vmd running?)";
    }
    return "cannot reach vmd at " + socket_path + ": " + why +
           "; start vmd, or name its socket with --socket or VMCTL_SOCKET";
}

}  // namespace

HttpResponse UnixSocketTransport::send(const HttpRequest& request) {
    httplib::Client client(socket_path_);
    client.set_address_family(AF_UNIX);
    client.set_connection_timeout(kConnectTimeoutS, 0);
    client.set_read_timeout(request.timeout.count(), 0);
    client.set_write_timeout(request.timeout.count(), 0);
    httplib::Result result = request.method == "GET" ? client.Get(request.path)
                             : request.method == "POST"
                                 ? client.Post(request.path, request.body, "application/json")
                                 : client.Delete(request.path);
    if (!result) {
        if (result.error() == httplib::Error::Connection) {
            throw base::HostError(connect_failure(socket_path_));
        }
        const std::string what = request.method + " " + request.path;
        if (result.error() == httplib::Error::Read) {
            throw base::HostError("vmd did not answer " + what + " within " +
                                  std::to_string(request.timeout.count()) +
                                  " s (or closed the connection)");
        }
        throw base::HostError("talking to vmd at " + socket_path_ + " (" + what +
                              ") failed: " + httplib::to_string(result.error()));
    }
    HttpResponse response;
    response.status = result->status;
    response.body = result->body;
    response.console_offset = result->get_header_value("X-Console-Offset");
    return response;
}

}  // namespace vmctl
