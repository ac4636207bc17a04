#pragma once
// Copies a disk file the cheap way: a reflink (FICLONE) where the file
// system shares blocks, else a sparse copy that skips holes and all-zero
// blocks. Runs on a worker thread; progress and cancellation are the
// caller's.

#include <atomic>
#include <cstdint>
#include <functional>

namespace supervisor::vmd {

struct CopyResult {
    bool reflinked = false;
    bool cancelled = false;
};

// Copies `size` bytes of `src` into `dst` (which it truncates to `size`)
// and syncs `dst`. `progress` gets bytes done so far (now and then).
// Throws HostError.
CopyResult copy_disk(int src, int dst, std::int64_t size,
                     const std::function<void(std::int64_t)>& progress,
                     const std::atomic<bool>& cancel);

// Bytes the file takes on disk (st_blocks).
std::int64_t allocated_bytes(int fd);

}  // namespace supervisor::vmd
