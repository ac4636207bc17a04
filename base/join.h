#pragma once
// CompletionJoin: one completion for work split into parts (the ranges of a
// discard, the clusters of an overlay read). It runs once, when the last part
// is done, with the first error among them (a negative errno) or 0. All parts
// are added before any can finish: completions run later, on the I/O thread.

#include <cstddef>
#include <functional>
#include <utility>

namespace base {

class CompletionJoin {
  public:
    explicit CompletionJoin(std::function<void(int result)> done, std::size_t parts = 0)
        : parts_(parts), done_(std::move(done)) {}

    void add_part() { ++parts_; }
    std::size_t parts() const { return parts_; }

    void part_done(int result) {
        if (result < 0 && result_ == 0) {
            result_ = result;
        }
        if (--parts_ == 0) {
            auto done = std::move(done_);
            done(result_);
        }
    }

  private:
    std::size_t parts_;
    int result_ = 0;
    std::function<void(int result)> done_;
};

}  // namespace base
