#include "storage/cluster_map.h"

#include <algorithm>
#include <bit>

namespace storage {

namespace {

// `state` in all 32 two-bit fields of a word.
std::uint64_t pattern(ClusterState state) {
    return static_cast<std::uint64_t>(state) * 0x5555555555555555ull;
}

// Bits of clusters [from, from + n) of a word, n >= 1, from + n <= 32.
std::uint64_t field_mask(unsigned from, unsigned n) {
    const std::uint64_t bits = n == 32 ? ~0ull : (1ull << (2 * n)) - 1;
    return bits << (2 * from);
}

}  // namespace

ClusterMap::ClusterMap(std::uint64_t clusters)
    : clusters_(clusters), chunks_((clusters + kClustersPerChunk - 1) / kClustersPerChunk) {}

ClusterState ClusterMap::get(std::uint64_t cluster) const {
    const Chunk& chunk = chunks_[cluster / kClustersPerChunk];
    if (!chunk.words) {
        return chunk.uniform;
    }
    const std::uint64_t local = cluster % kClustersPerChunk;
    return static_cast<ClusterState>((chunk.words[local / 32] >> (2 * (local % 32))) & 3);
}

void ClusterMap::set(std::uint64_t first, std::uint64_t count, ClusterState state) {
    count = std::min(count, clusters_ - std::min(first, clusters_));
    while (count > 0) {
        const std::uint64_t index = first / kClustersPerChunk;
        const std::uint64_t local = first % kClustersPerChunk;
        const std::uint64_t n = std::min(count, kClustersPerChunk - local);
        set_in_chunk(chunks_[index], local, n, state);
        first += n;
        count -= n;
    }
}

void ClusterMap::set_in_chunk(Chunk& chunk, std::uint64_t first, std::uint64_t count,
                              ClusterState state) {
    const std::uint64_t index = static_cast<std::uint64_t>(&chunk - chunks_.data());
    const std::uint64_t valid = std::min(kClustersPerChunk, clusters_ - index * kClustersPerChunk);
    if (first == 0 && count >= valid) {
        if (chunk.words) {
            chunk.words.reset();
            --mixed_chunks_;
        }
        chunk.uniform = state;
        return;
    }
    if (!chunk.words) {
        if (chunk.uniform == state) {
            return;
        }
        chunk.words = std::make_unique<std::uint64_t[]>(kWordsPerChunk);
        std::fill_n(chunk.words.get(), kWordsPerChunk, pattern(chunk.uniform));
        ++mixed_chunks_;
    }
    const std::uint64_t p = pattern(state);
    std::uint64_t c = first;
    const std::uint64_t end = first + count;
    while (c < end) {
        const unsigned in_word = static_cast<unsigned>(c % 32);
        const unsigned n = static_cast<unsigned>(std::min<std::uint64_t>(32 - in_word, end - c));
        const std::uint64_t mask = field_mask(in_word, n);
        std::uint64_t& word = chunk.words[c / 32];
        word = (word & ~mask) | (p & mask);
        c += n;
    }
    // Collapse a chunk that became uniform again (e.g. written cluster by cluster).
    for (std::uint64_t w = 0; w < valid / 32; ++w) {
        if (chunk.words[w] != p) {
            return;
        }
    }
    if (valid % 32 != 0) {
        const std::uint64_t mask = field_mask(0, static_cast<unsigned>(valid % 32));
        if ((chunk.words[valid / 32] & mask) != (p & mask)) {
            return;
        }
    }
    chunk.words.reset();
    --mixed_chunks_;
    chunk.uniform = state;
}

std::uint64_t ClusterMap::run_length(std::uint64_t first, std::uint64_t max) const {
    if (first >= clusters_) {
        return 0;
    }
    max = std::min(max, clusters_ - first);
    const ClusterState state = get(first);
    const std::uint64_t p = pattern(state);
    std::uint64_t c = first;
    const std::uint64_t end = first + max;
    while (c < end) {
        const Chunk& chunk = chunks_[c / kClustersPerChunk];
        if (!chunk.words) {
            if (chunk.uniform != state) {
                break;
            }
            c = std::min(end, (c / kClustersPerChunk + 1) * kClustersPerChunk);
            continue;
        }
        const std::uint64_t local = c % kClustersPerChunk;
        const unsigned in_word = static_cast<unsigned>(local % 32);
        const std::uint64_t differ = (chunk.words[local / 32] ^ p) >> (2 * in_word);
        const std::uint64_t left = std::min<std::uint64_t>(32 - in_word, end - c);
        if (differ == 0) {
            c += left;
            continue;
        }
        const std::uint64_t same = static_cast<std::uint64_t>(std::countr_zero(differ)) / 2;
        c += std::min(same, left);
        if (same < left) {
            break;
        }
    }
    return c - first;
}

std::size_t ClusterMap::memory_bytes() const {
    return chunks_.capacity() * sizeof(Chunk) +
           mixed_chunks_ * kWordsPerChunk * sizeof(std::uint64_t);
}

}  // namespace storage
