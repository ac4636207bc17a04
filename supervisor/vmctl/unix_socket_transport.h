#pragma once
// HTTP/1.1 to vmd on its Unix socket, with cpp-httplib's client.

#include <string>

#include "supervisor/vmctl/api_client.h"

namespace vmctl {

class UnixSocketTransport : public Transport {
  public:
    explicit UnixSocketTransport(std::string socket_path) : socket_path_(std::move(socket_path)) {}
    HttpResponse send(const HttpRequest& request) override;

  private:
    std::string socket_path_;
};

}  // namespace vmctl
