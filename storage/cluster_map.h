#pragma once
// ClusterMap: the state of every cluster of an ephemeral disk (see
// overlay_disk.h), two bits per cluster, stored by chunks of 16384 clusters.
// A chunk whose clusters all share one state is just that state (no bits):
// the map costs 16 bytes per chunk plus 4 KiB for each chunk that mixes
// states, so memory follows how scattered the writes are, not the disk size.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace storage {

enum class ClusterState : std::uint8_t {
    kBase = 0,     // read from the base image
    kOverlay = 1,  // read from the overlay, which holds the whole cluster
    kZero = 2,     // reads as zeros (discarded or write-zeroed)
};

class ClusterMap {
  public:
    static constexpr std::uint64_t kClustersPerChunk = 16384;

    explicit ClusterMap(std::uint64_t clusters);  // all kBase

    std::uint64_t clusters() const { return clusters_; }
    ClusterState get(std::uint64_t cluster) const;
    void set(std::uint64_t first, std::uint64_t count, ClusterState state);
    // How many clusters from `first` on (at most `max`) share the state of `first`.
    std::uint64_t run_length(std::uint64_t first, std::uint64_t max) const;
    // Heap memory the map uses.
    std::size_t memory_bytes() const;

  private:
    static constexpr std::uint64_t kWordsPerChunk = kClustersPerChunk / 32;
    struct Chunk {
        ClusterState uniform = ClusterState::kBase;  // when `words` is null
        std::unique_ptr<std::uint64_t[]> words;      // 32 clusters a word
    };
    void set_in_chunk(Chunk& chunk, std::uint64_t first, std::uint64_t count, ClusterState state);

    std::uint64_t clusters_;
    std::vector<Chunk> chunks_;
    std::size_t mixed_chunks_ = 0;
};

}  // namespace storage
