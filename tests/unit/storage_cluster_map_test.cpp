#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "storage/cluster_map.h"

namespace storage {
namespace {

constexpr std::uint64_t kChunk = ClusterMap::kClustersPerChunk;

TEST(ClusterMap, StartsAllBase) {
    ClusterMap m(3 * kChunk + 5);
    EXPECT_EQ(m.get(0), ClusterState::kBase);
    EXPECT_EQ(m.get(3 * kChunk + 4), ClusterState::kBase);
    EXPECT_EQ(m.run_length(0, ~0ull), 3 * kChunk + 5);
    EXPECT_EQ(m.run_length(10, 7), 7u);
}

TEST(ClusterMap, SetsAndRuns) {
    ClusterMap m(kChunk * 2);
    m.set(30, 5, ClusterState::kOverlay);
    m.set(35, 40, ClusterState::kZero);
    EXPECT_EQ(m.get(29), ClusterState::kBase);
    EXPECT_EQ(m.get(30), ClusterState::kOverlay);
    EXPECT_EQ(m.get(34), ClusterState::kOverlay);
    EXPECT_EQ(m.get(35), ClusterState::kZero);
    EXPECT_EQ(m.get(74), ClusterState::kZero);
    EXPECT_EQ(m.get(75), ClusterState::kBase);
    EXPECT_EQ(m.run_length(0, 1000), 30u);
    EXPECT_EQ(m.run_length(30, 1000), 5u);
    EXPECT_EQ(m.run_length(31, 1000), 4u);
    EXPECT_EQ(m.run_length(35, 1000), 40u);
    EXPECT_EQ(m.run_length(75, ~0ull), 2 * kChunk - 75);
}

TEST(ClusterMap, WholeChunksCostNoBits) {
    ClusterMap m(64 * kChunk);  // a 4 TiB disk of 4 KiB clusters
    const std::size_t empty = m.memory_bytes();
    EXPECT_LT(empty, 2048u);
    m.set(0, 64 * kChunk, ClusterState::kZero);  // e.g. mkfs discarding everything
    EXPECT_EQ(m.memory_bytes(), empty);
    m.set(5, 1, ClusterState::kOverlay);
    EXPECT_EQ(m.memory_bytes(), empty + kChunk / 4);
    // Filling the rest of the chunk cluster by cluster collapses it again.
    for (std::uint64_t c = 0; c < kChunk; ++c) {
        m.set(c, 1, ClusterState::kOverlay);
    }
    EXPECT_EQ(m.memory_bytes(), empty);
    EXPECT_EQ(m.run_length(0, ~0ull), kChunk);
}

TEST(ClusterMap, MatchesAPlainVector) {
    const std::uint64_t n = 3 * kChunk + 77;  // last chunk partial
    ClusterMap m(n);
    std::vector<ClusterState> model(n, ClusterState::kBase);
    std::mt19937_64 rng(7);
    for (int i = 0; i < 3000; ++i) {
        const std::uint64_t first = rng() % n;
        const std::uint64_t len = 1 + rng() % (i % 10 == 0 ? 2 * kChunk : 100);
        const auto s = static_cast<ClusterState>(rng() % 3);
        m.set(first, len, s);
        for (std::uint64_t c = first; c < std::min(n, first + len); ++c) {
            model[c] = s;
        }
        const std::uint64_t probe = rng() % n;
        ASSERT_EQ(m.get(probe), model[probe]);
        std::uint64_t expect = 0;
        const std::uint64_t limit = 1 + rng() % (3 * kChunk);
        while (probe + expect < n && expect < limit && model[probe + expect] == model[probe]) {
            ++expect;
        }
        ASSERT_EQ(m.run_length(probe, limit), expect) << i;
    }
    for (std::uint64_t c = 0; c < n; ++c) {
        ASSERT_EQ(m.get(c), model[c]) << c;
    }
}

}  // namespace
}  // namespace storage
