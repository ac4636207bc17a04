#pragma once
// The kernel command line: built from items, checked, and written to
// layout::kCmdline as a NUL-terminated string.

#include <cstddef>
#include <string>
#include <string_view>

#include "base/guest_memory.h"

namespace boot {

// x86 COMMAND_LINE_SIZE (2048) less its NUL: the limit for a kernel that
// does not state its own (a vmlinux, PVH).
inline constexpr std::size_t kDefaultKernelCmdlineChars = 2047;

// Largest command line (without its NUL) that fits the room at
// layout::kCmdline.
std::size_t max_cmdline_chars();

class Cmdline {
  public:
    // `max_chars` excludes the terminating NUL.
    explicit Cmdline(std::size_t max_chars = max_cmdline_chars());

    // Appends a raw item ("quiet", "console=ttyS0"), space separated. Throws
    // base::InvalidInput for NUL bytes or when the line grows past max_chars.
    Cmdline& append(std::string_view item);
    // Appends key=value; a value with spaces is double-quoted. Rejects empty
    // keys, keys with spaces, '=' or quotes, and values with quotes.
    Cmdline& append(std::string_view key, std::string_view value);

    const std::string& str() const { return text_; }
    std::size_t size() const { return text_.size(); }
    std::size_t max_chars() const { return max_chars_; }

  private:
    std::size_t max_chars_;
    std::string text_;
};

// Writes `text` plus a NUL at layout::kCmdline. Throws base::InvalidInput for
// NUL bytes inside, more than `max_chars` characters, or memory too small.
void write_cmdline(base::GuestMemory& mem, std::string_view text, std::size_t max_chars);

}  // namespace boot
