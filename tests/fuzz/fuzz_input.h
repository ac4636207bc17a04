#pragma once
// A fuzz input read front to back, little-endian, zeros once it runs out:
// unlike libFuzzer's FuzzedDataProvider (which takes integers from the end),
// a seed written by hand (tests/fuzz/make_seeds.py) reads as it is laid out.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

namespace fuzz {

class Input {
  public:
    Input(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

    bool empty() const { return pos_ >= size_; }
    std::size_t left() const { return size_ - pos_; }

    std::uint8_t u8() { return empty() ? 0 : data_[pos_++]; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | u8() << 8); }
    std::uint32_t u32() { return std::uint32_t{u16()} | std::uint32_t{u16()} << 16; }
    std::uint64_t u64() { return std::uint64_t{u32()} | std::uint64_t{u32()} << 32; }

    // Up to `n` bytes (fewer at the end of the input).
    std::span<const std::uint8_t> bytes(std::size_t n) {
        n = std::min(n, left());
        std::span<const std::uint8_t> out(data_ + pos_, n);
        pos_ += n;
        return out;
    }
    std::span<const std::uint8_t> rest() { return bytes(left()); }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

// FUZZ_VERBOSE=1 in the environment: say what each input did (for checking
// that a seed reaches what it was made for, or reading a reproducer).
inline bool verbose() {
    static const bool on = std::getenv("FUZZ_VERBOSE") != nullptr;
    return on;
}

// A broken invariant: abort, so that libFuzzer keeps the input. The message
// says which one.
[[noreturn]] inline void fail(const char* what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
}

inline void check(bool ok, const char* what) {
    if (!ok) {
        fail(what);
    }
}

}  // namespace fuzz
