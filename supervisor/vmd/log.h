#pragma once
// One line per action on stderr ("vmd: ..."), which systemd's journal or
// the terminal keeps.

#include <string>

namespace supervisor::vmd {

void log_line(const std::string& message);

}  // namespace supervisor::vmd
