#pragma once
// A devices::IrqLine for unit tests: records every level a device drives.

#include <vector>

#include "devices/irq.h"

namespace devices::testing {

class RecordingIrq : public IrqLine {
  public:
    void set_level(bool high) override { levels.push_back(high); }
    bool high() const { return !levels.empty() && levels.back(); }
    // Low-to-high changes: what an edge-triggered interrupt controller sees.
    int rising_edges() const {
        int n = 0;
        bool prev = false;
        for (bool l : levels) {
            n += l && !prev ? 1 : 0;
            prev = l;
        }
        return n;
    }
    std::vector<bool> levels;
};

}  // namespace devices::testing
