#pragma once
// OverlayDisk: an ephemeral copy-on-write disk.
//
// Format. The base image is opened read-only (shared lock) and never
// changes. Guest writes go to a private overlay file of the same size, at the
// same offsets, so the overlay needs no index of its own: it is sparse, and
// only what the guest wrote takes space. The overlay is created with O_TMPFILE
// in the overlay directory (or mkstemp() and unlinked at once), so no name
// ever points at it and it vanishes with the process, even on SIGKILL.
//
// The disk is cut into clusters of kClusterSize bytes. Each cluster is in one
// of three states (storage/cluster_map.h): base (read it from the image),
// overlay (the overlay holds the whole cluster), zero (discarded or
// write-zeroed: reads give zeros; the overlay's copy, if any, was punched
// out). A cluster only becomes "overlay" once a write of the whole cluster
// has completed, so a read never sees a cluster half taken from the overlay.
// A write that covers only part of a base or zero cluster first fills it: the
// cluster is read from the base (or taken as zeros) into a bounce buffer, the
// new bytes are merged in, and the whole cluster is written to the overlay.
// Writes, discards and write-zeroes are serialized per cluster: one that
// touches a cluster of a request still in flight waits for that request, so
// two partial writes to halves of one cluster both survive. Reads are not
// held back; racing a write they see the old or the new data, never a mix
// from the wrong place.
//
// Why this way: 4 KiB clusters match the page size and the block size the
// guest is told to use, so in practice no write needs a fill; same-offset
// overlay and a two-bit map keep it simple and cheap (see ClusterMap for the
// memory cost). flush() completes at once: the overlay dies with the process,
// there is nothing to make durable. `direct` is ignored: the base is read
// through the page cache, which the overlay's partial fills want anyway.
//
// The disk lives as long as the object, and so survives the VMM's in-process
// reboot.

#include <cstdint>
#include <memory>
#include <string>

#include "storage/disk.h"

namespace storage {

class OverlayDisk final : public Disk {
  public:
    static constexpr std::uint64_t kClusterSize = 4096;

    // Opens options.path read-only (shared lock, see open_image()) and creates
    // the overlay in options.overlay_dir (empty: $TMPDIR, else /var/tmp).
    // Throws base::InvalidInput for a bad image or an unusable overlay directory.
    static std::unique_ptr<OverlayDisk> open(base::IoRing& ring, const DiskOptions& options);
    ~OverlayDisk() override;

    std::uint64_t size() const override;
    bool read_only() const override { return false; }
    void read(std::uint64_t offset, std::span<const iovec> iov, Completion done) override;
    void write(std::uint64_t offset, std::span<const iovec> iov, Completion done) override;
    void flush(Completion done) override;  // completes with 0, see above
    // Both read back as zeros afterwards; whole clusters are punched out of
    // the overlay, partial ones written with zeros.
    void discard(std::uint64_t offset, std::uint64_t len, Completion done) override;
    void write_zeroes(std::uint64_t offset, std::uint64_t len, bool may_unmap,
                      Completion done) override;
    std::uint64_t allocated_bytes() const override;  // the overlay's, st_blocks * 512
    // Writes waiting for a cluster end with -ECANCELED without starting.
    void cancel() override;

    // Heap memory of the cluster map.
    std::size_t map_bytes() const;

  private:
    struct State;
    explicit OverlayDisk(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;  // shared with requests in flight
};

}  // namespace storage
