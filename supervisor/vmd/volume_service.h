#pragma once
// Volumes: sparse raw files under <state>/volumes/, attached to an
// instance while no vmm has it open (stopped, failed or pending), and
// deleted only when attached to none.

#include <nlohmann/json.hpp>
#include <string>

#include "supervisor/store/records.h"
#include "supervisor/vmd/caller.h"
#include "supervisor/vmd/context.h"

namespace supervisor::vmd {

class VolumeService {
  public:
    explicit VolumeService(Context& context) : ctx_(context) {}

    // Creations and deletions a restart interrupted are finished or undone.
    void recover();

    nlohmann::json list(const Caller& caller);
    nlohmann::json get(const Caller& caller, const std::string& ref);
    nlohmann::json create(const Caller& caller, const std::string& body);
    nlohmann::json remove(const Caller& caller, const std::string& ref);
    nlohmann::json attach(const Caller& caller, const std::string& ref, const std::string& body);
    nlohmann::json detach(const Caller& caller, const std::string& ref, const std::string& body);

    // Data volumes one instance may have: the vmm takes 7 disks and cards
    // together, of which the root disk and (later) a network card and a seed
    // disk take one each.
    static constexpr std::size_t kMaxDataVolumes = 4;

  private:
    nlohmann::json view(const store::VolumeRecord& volume);
    Context& ctx_;
};

}  // namespace supervisor::vmd
