#pragma once
// One vmd per state directory: an exclusive flock on <state>/vmd.lock,
// held for vmd's whole life (the kernel drops it when vmd dies, however it
// dies), with the holder's pid in the file for the refusal message.

#include <string>

#include "base/fd.h"

namespace supervisor::vmd {

class StateLock {
  public:
    // Throws HostError "another vmd (pid N) is using DIR ..." when held.
    explicit StateLock(const std::string& state_dir);

  private:
    base::Fd fd_;
};

}  // namespace supervisor::vmd
