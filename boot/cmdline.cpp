#include "boot/cmdline.h"

#include <algorithm>
#include <cstdint>

#include "base/error.h"
#include "base/hex.h"
#include "x86/layout.h"

namespace boot {

namespace {

void check_no_nul(std::string_view text) {
    const auto pos = text.find('\0');
    if (pos != std::string_view::npos) {
        throw base::InvalidInput("kernel command line contains a NUL byte at offset " +
                                 std::to_string(pos) + "; remove it");
    }
}

void check_length(std::size_t length, std::size_t max_chars) {
    if (length > max_chars) {
        throw base::InvalidInput("kernel command line of " + std::to_string(length) +
                                 " bytes is longer than the limit of " + std::to_string(max_chars) +
                                 " bytes; shorten it");
    }
}

}  // namespace

std::size_t max_cmdline_chars() {
    return layout::kCmdlineMax - 1;
}

Cmdline::Cmdline(std::size_t max_chars) : max_chars_(std::min(max_chars, max_cmdline_chars())) {}

Cmdline& Cmdline::append(std::string_view item) {
    check_no_nul(item);
    if (item.empty()) {
        return *this;
    }
    const std::size_t new_size = text_.size() + (text_.empty() ? 0 : 1) + item.size();
    check_length(new_size, max_chars_);
    if (!text_.empty()) {
        text_ += ' ';
    }
    text_ += item;
    return *this;
}

Cmdline& Cmdline::append(std::string_view key, std::string_view value) {
    check_no_nul(key);
    check_no_nul(value);
    if (key.empty() || key.find_first_of(" \t\n=\"") != std::string_view::npos) {
        throw base::InvalidInput("kernel command line key '" + std::string(key) +
                                 "' is empty or contains a space, '=' or '\"'");
    }
    if (value.find('"') != std::string_view::npos) {
        throw base::InvalidInput("kernel command line value for '" + std::string(key) +
                                 "' contains a '\"', which the kernel cannot parse");
    }
    std::string item(key);
    item += '=';
    if (value.find_first_of(" \t\n") != std::string_view::npos) {
        item += '"';
        item += value;
        item += '"';
    } else {
        item += value;
    }
    return append(item);
}

void write_cmdline(base::GuestMemory& mem, std::string_view text, std::size_t max_chars) {
    check_no_nul(text);
    check_length(text.size(), std::min(max_chars, max_cmdline_chars()));
    auto dst = mem.span(layout::kCmdline, text.size() + 1);
    if (!dst) {
        throw base::InvalidInput("guest memory is too small to hold the kernel command line at " +
                                 base::hex(layout::kCmdline));
    }
    std::copy(text.begin(), text.end(), dst->begin());
    (*dst)[text.size()] = 0;
}

}  // namespace boot
