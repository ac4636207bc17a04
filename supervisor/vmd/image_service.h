#pragma once
// Images: imported from a caller's file (opened with the caller's rights),
// kept as raw under <state>/images/<id>/, with the kernel and initrd they
// boot with. An import answers 202 once the files are open and the image
// row is committed; the copy or conversion runs on a worker and shows its
// progress on the image.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/unix_http_server.h"
#include "supervisor/vmd/caller.h"
#include "supervisor/vmd/context.h"
#include "supervisor/vmd/reply.h"

namespace supervisor::vmd {

class ImageService {
  public:
    explicit ImageService(Context& context) : ctx_(context) {}

    // Imports that a restart interrupted fail (their files go); deletions
    // finish.
    void recover();

    nlohmann::json list(const Caller& caller);
    nlohmann::json get(const Caller& caller, const std::string& ref);
    void import(const Caller& caller, const std::string& body, Reply reply);
    nlohmann::json remove(const Caller& caller, const std::string& ref);

  private:
    struct Import;
    void copy(std::shared_ptr<Import> job);
    void finish(const std::shared_ptr<Import>& job);
    void set_progress(const std::string& id, double progress);

    Context& ctx_;
    std::map<std::string, Workers::Cancel> running_;
};

}  // namespace supervisor::vmd
