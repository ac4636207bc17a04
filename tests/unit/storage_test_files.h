#pragma once
// Helpers for the storage tests: a scratch directory under /tmp, files in it,
// and a way to wait for one asynchronous completion.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/io_ring.h"

namespace storage::test_files {

class TempDir {
  public:
    TempDir() {
        std::string pattern = "/tmp/storage-test-XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr) {
            ADD_FAILURE() << "mkdtemp failed";
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    std::size_t entries() const {
        std::size_t n = 0;
        for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(path_)) {
            ++n;
        }
        return n;
    }

  private:
    std::string path_;
};

inline std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> v(n);
    for (auto& b : v) {
        b = static_cast<std::uint8_t>(rng());
    }
    return v;
}

inline void write_file(const std::string& path, const std::vector<std::uint8_t>& data) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << path;
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n =
            ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
        ASSERT_GT(n, 0);
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
}

inline std::vector<std::uint8_t> read_file(const std::string& path) {
    std::vector<std::uint8_t> data;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ADD_FAILURE() << "cannot open " << path;
        return data;
    }
    struct stat st {};
    ::fstat(fd, &st);
    data.resize(static_cast<std::size_t>(st.st_size));
    std::size_t done = 0;
    while (done < data.size()) {
        const ssize_t n =
            ::pread(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
        if (n <= 0) {
            break;
        }
        done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return data;
}

// Runs the ring until `result` is set; fails (and returns) if it never is.
inline void run_until(base::IoRing& ring, const std::optional<int>& result) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!result && std::chrono::steady_clock::now() < deadline) {
        ring.run(std::chrono::milliseconds(100));
    }
    EXPECT_TRUE(result.has_value()) << "completion never came";
}

// Starts an operation with a completion and waits for it; returns its result.
inline int await(base::IoRing& ring, const std::function<void(base::IoRing::Completion)>& start) {
    std::optional<int> result;
    start([&result](int r) { result = r; });
    run_until(ring, result);
    return result.value_or(-9999);
}

// Runs the ring until nothing is in flight.
inline void drain(base::IoRing& ring) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (ring.in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        ring.run(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(ring.in_flight(), 0u);
}

}  // namespace storage::test_files
