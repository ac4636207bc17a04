#include "storage/overlay_disk.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include "base/error.h"
#include "base/join.h"
#include "storage/cluster_map.h"
#include "storage/raw_disk.h"

namespace storage {

namespace {

constexpr std::uint64_t kCluster = OverlayDisk::kClusterSize;

// Walks an iovec array front to back, handing out consecutive byte ranges.
class IovCursor {
  public:
    explicit IovCursor(std::span<const iovec> iov) : iov_(iov) {}

    // The next `len` bytes as iovecs (they must exist).
    std::vector<iovec> take(std::uint64_t len) {
        std::vector<iovec> out;
        while (len > 0) {
            const iovec& part = iov_[index_];
            const std::uint64_t n = std::min<std::uint64_t>(len, part.iov_len - within_);
            if (n > 0) {
                out.push_back({static_cast<std::uint8_t*>(part.iov_base) + within_, n});
            }
            advance(n);
            len -= n;
        }
        return out;
    }
    void skip(std::uint64_t len) {
        while (len > 0) {
            const std::uint64_t n = std::min<std::uint64_t>(len, iov_[index_].iov_len - within_);
            advance(n);
            len -= n;
        }
    }

  private:
    void advance(std::uint64_t n) {
        within_ += n;
        if (within_ == iov_[index_].iov_len) {
            ++index_;
            within_ = 0;
        }
    }
    std::span<const iovec> iov_;
    std::size_t index_ = 0;
    std::uint64_t within_ = 0;
};

void copy_from(std::uint8_t* to, const std::vector<iovec>& from) {
    for (const iovec& part : from) {
        std::memcpy(to, part.iov_base, part.iov_len);
        to += part.iov_len;
    }
}

// One cluster-sized bounce buffer, aligned like a page.
struct alignas(4096) Bounce {
    std::uint8_t bytes[kCluster];
};

base::Fd create_overlay(const std::string& dir, std::uint64_t size) {
    const std::string where = "overlay directory '" + dir + "'";
    base::Fd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!fd.valid() && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
        // No O_TMPFILE here: make a name and remove it at once.
        std::string name = dir + "/vmm-overlay-XXXXXX";
        fd.reset(::mkostemp(name.data(), O_CLOEXEC));
        if (fd.valid() && ::unlink(name.c_str()) != 0) {
            base::throw_errno("unlink " + name);
        }
    }
    if (!fd.valid()) {
        const int err = errno;
        switch (err) {
            case ENOENT:
            case ENOTDIR:
                throw base::InvalidInput(where + " does not exist: create it or choose another");
            case EACCES:
            case EPERM:
            case EROFS:
                throw base::InvalidInput(where + " is not writable (" + std::strerror(err) +
                                         "): choose another");
            default:
                base::throw_errno("creating the ephemeral disk overlay in " + where);
        }
    }
    if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
        if (errno == EFBIG || errno == EINVAL) {
            throw base::InvalidInput(where + " cannot hold a sparse file of " +
                                     std::to_string(size) + " bytes: choose another");
        }
        base::throw_errno("sizing the ephemeral disk overlay in " + where);
    }
    return fd;
}

std::string default_overlay_dir() {
    const char* tmp = std::getenv("TMPDIR");
    return tmp != nullptr && *tmp != '\0' ? tmp : "/var/tmp";
}

}  // namespace

struct OverlayDisk::State : std::enable_shared_from_this<State> {
    State(base::IoRing& r, ImageFile b, base::Fd o)
        : ring(r),
          base(std::move(b)),
          overlay(std::move(o)),
          size(base.size),
          map((size + kCluster - 1) / kCluster) {}

    base::IoRing& ring;
    ImageFile base;
    base::Fd overlay;
    std::uint64_t size;
    ClusterMap map;

    // A write (`zero` false, bytes from `src`) or a discard / write-zeroes.
    struct Mutation {
        std::uint64_t offset, len;
        bool zero;
        std::vector<iovec> src;
        Completion done;
        std::uint64_t first = 0, last = 0;  // clusters
        std::size_t parts = 0;
        int result = 0;
        std::uint64_t epoch = 0;  // `cancels` when it started
    };

    // Clusters held by mutations in flight: first -> last (inclusive),
    // disjoint ranges; and the mutations waiting for theirs, in order.
    struct Waiter {
        std::uint64_t first, last;
        std::shared_ptr<Mutation> m;
    };
    std::map<std::uint64_t, std::uint64_t> locked;
    std::deque<Waiter> waiting;
    std::uint64_t cancels = 0;  // cancel() calls

    std::uint64_t cluster_start(std::uint64_t c) const { return c * kCluster; }
    std::uint64_t cluster_end(std::uint64_t c) const { return std::min((c + 1) * kCluster, size); }

    void answer(Completion done, int result) {
        ring.nop([done = std::move(done), result](int) { done(result); });
    }

    bool overlaps_locked(std::uint64_t first, std::uint64_t last) const {
        auto it = locked.upper_bound(last);
        if (it == locked.begin()) {
            return false;
        }
        --it;
        return it->second >= first;
    }

    // Starts `m` once its clusters are free.
    void lock(const std::shared_ptr<Mutation>& m) {
        bool wait = overlaps_locked(m->first, m->last);
        for (const Waiter& w : waiting) {
            wait = wait || (w.first <= m->last && m->first <= w.last);
        }
        if (wait) {
            waiting.push_back({m->first, m->last, m});
            return;
        }
        locked.emplace(m->first, m->last);
        start(m);
    }

    void unlock(std::uint64_t first) {
        locked.erase(first);
        std::vector<std::pair<std::uint64_t, std::uint64_t>> still_waiting;
        std::vector<std::shared_ptr<Mutation>> ready;
        for (auto it = waiting.begin(); it != waiting.end();) {
            bool blocked = overlaps_locked(it->first, it->last);
            for (const auto& [f, l] : still_waiting) {
                blocked = blocked || (f <= it->last && it->first <= l);
            }
            if (blocked) {
                still_waiting.emplace_back(it->first, it->last);
                ++it;
            } else {
                locked.emplace(it->first, it->last);
                ready.push_back(std::move(it->m));
                it = waiting.erase(it);
            }
        }
        for (auto& m : ready) {
            start(m);
        }
    }

    void cancel() {
        ++cancels;
        // Waiting ones never start; the others take no further step.
        std::deque<Waiter> dropped;
        dropped.swap(waiting);
        for (Waiter& w : dropped) {
            answer(std::move(w.m->done), -ECANCELED);
        }
        ring.cancel_fd(base.fd.get());
        ring.cancel_fd(overlay.get());
    }

    void read(std::uint64_t offset, std::span<const iovec> iov, Completion done) {
        const std::uint64_t len = iov_bytes(iov);
        if (!within(offset, len, size)) {
            answer(std::move(done), -EINVAL);
            return;
        }
        auto join = std::make_shared<base::CompletionJoin>(
            [self = shared_from_this(), done = std::move(done)](int r) { done(r); });
        IovCursor cursor(iov);
        const std::uint64_t end = offset + len;
        std::uint64_t at = offset;
        while (at < end) {
            const std::uint64_t c = at / kCluster;
            const std::uint64_t last = (end - 1) / kCluster;
            const ClusterState state = map.get(c);
            const std::uint64_t run = map.run_length(c, last - c + 1);
            const std::uint64_t stop = std::min(end, cluster_start(c + run));
            std::vector<iovec> part = cursor.take(stop - at);
            if (state == ClusterState::kZero) {
                for (const iovec& p : part) {
                    std::memset(p.iov_base, 0, p.iov_len);
                }
            } else {
                join->add_part();
                read_all(ring, state == ClusterState::kBase ? base.fd.get() : overlay.get(), part,
                         at, [join](int r) { join->part_done(r); });
            }
            at = stop;
        }
        if (join->parts() == 0) {
            join->add_part();
            ring.nop([join](int) { join->part_done(0); });
        }
    }

    void mutate(std::shared_ptr<Mutation> m) {
        if (!within(m->offset, m->len, size)) {
            answer(std::move(m->done), -EINVAL);
            return;
        }
        if (m->len == 0) {
            answer(std::move(m->done), 0);
            return;
        }
        m->first = m->offset / kCluster;
        m->last = (m->offset + m->len - 1) / kCluster;
        lock(m);
    }

    void part_done(const std::shared_ptr<Mutation>& m, int r) {
        if (r < 0 && m->result == 0) {
            m->result = r;
        }
        if (--m->parts == 0) {
            unlock(m->first);
            Completion done = std::move(m->done);
            done(m->result);
        }
    }

    // Runs with clusters [m->first, m->last] locked.
    void start(const std::shared_ptr<Mutation>& m) {
        auto self = shared_from_this();
        m->epoch = cancels;
        const std::uint64_t end = m->offset + m->len;
        const bool head_partial =
            m->offset > cluster_start(m->first) || end < cluster_end(m->first);
        const bool tail_partial = m->last != m->first && end < cluster_end(m->last);
        IovCursor cursor(m->src);

        if (head_partial) {
            const std::uint64_t stop = std::min(end, cluster_end(m->first));
            partial(m, m->first, m->offset, stop,
                    m->zero ? std::vector<iovec>{} : cursor.take(stop - m->offset));
        }
        const std::uint64_t full_first = m->first + (head_partial ? 1 : 0);
        const std::uint64_t full_end = m->last + 1 - (tail_partial ? 1 : 0);  // exclusive
        if (full_first < full_end) {
            const std::uint64_t from = cluster_start(full_first);
            const std::uint64_t to = cluster_end(full_end - 1);
            const std::uint64_t count = full_end - full_first;
            if (m->zero) {
                bool had_overlay = false;
                for (std::uint64_t c = full_first; c < full_end && !had_overlay;
                     c += map.run_length(c, full_end - c)) {
                    had_overlay = map.get(c) == ClusterState::kOverlay;
                }
                map.set(full_first, count, ClusterState::kZero);
                if (had_overlay) {
                    // Only frees space: the map already reads these as zeros,
                    // so a failure (or no hole punching) does no harm.
                    ++m->parts;
                    ring.fallocate(overlay.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, from,
                                   to - from, [self, m](int) { self->part_done(m, 0); });
                }
            } else {
                ++m->parts;
                write_all(ring, overlay.get(), cursor.take(to - from), from,
                          [self, m, full_first, count](int r) {
                              if (r == 0) {
                                  self->map.set(full_first, count, ClusterState::kOverlay);
                              }
                              self->part_done(m, r);
                          });
            }
        }
        if (tail_partial) {
            const std::uint64_t from = cluster_start(m->last);
            partial(m, m->last, from, end,
                    m->zero ? std::vector<iovec>{} : cursor.take(end - from));
        }
        if (m->parts == 0) {
            ++m->parts;
            ring.nop([self, m](int) { self->part_done(m, 0); });
        }
    }

    // Bytes [from, to) of cluster `c`: `data`, or zeros when it is empty.
    void partial(const std::shared_ptr<Mutation>& m, std::uint64_t c, std::uint64_t from,
                 std::uint64_t to, std::vector<iovec> data) {
        auto self = shared_from_this();
        const ClusterState state = map.get(c);
        if (state == ClusterState::kOverlay) {
            // The overlay holds the whole cluster: change just these bytes.
            if (m->zero) {
                data = {{const_cast<std::uint8_t*>(zeros().data()), to - from}};
            }
            ++m->parts;
            write_all(ring, overlay.get(), data, from, [self, m](int r) { self->part_done(m, r); });
            return;
        }
        if (state == ClusterState::kZero && m->zero) {
            return;  // already zeros
        }
        // Fill: the whole cluster, as it reads now, merged with the new bytes,
        // goes to the overlay.
        ++m->parts;
        auto bounce = std::make_shared<Bounce>();
        const std::uint64_t start = cluster_start(c);
        const std::uint64_t len = cluster_end(c) - start;
        auto merge_and_write = [self, m, c, from, to, start, len, bounce,
                                data = std::move(data)](int r) {
            if (r == 0 && self->cancels != m->epoch) {
                r = -ECANCELED;  // no new step after a cancel()
            }
            if (r < 0) {
                self->part_done(m, r);
                return;
            }
            if (m->zero) {
                std::memset(bounce->bytes + (from - start), 0, to - from);
            } else {
                copy_from(bounce->bytes + (from - start), data);
            }
            const iovec whole{bounce->bytes, len};
            write_all(self->ring, self->overlay.get(), std::span(&whole, 1), start,
                      [self, m, c, bounce](int result) {
                          if (result == 0) {
                              self->map.set(c, 1, ClusterState::kOverlay);
                          }
                          self->part_done(m, result);
                      });
        };
        if (state == ClusterState::kZero) {
            std::memset(bounce->bytes, 0, len);
            merge_and_write(0);
        } else {
            const iovec whole{bounce->bytes, len};
            read_all(ring, base.fd.get(), std::span(&whole, 1), start, std::move(merge_and_write));
        }
    }
};

std::unique_ptr<OverlayDisk> OverlayDisk::open(base::IoRing& ring, const DiskOptions& options) {
    ImageFile base = open_image(options.path, false, false);
    const std::string dir =
        options.overlay_dir.empty() ? default_overlay_dir() : options.overlay_dir;
    base::Fd overlay = create_overlay(dir, base.size);
    return std::unique_ptr<OverlayDisk>(
        new OverlayDisk(std::make_shared<State>(ring, std::move(base), std::move(overlay))));
}

OverlayDisk::OverlayDisk(std::shared_ptr<State> state) : state_(std::move(state)) {}

OverlayDisk::~OverlayDisk() = default;

std::uint64_t OverlayDisk::size() const {
    return state_->size;
}

void OverlayDisk::read(std::uint64_t offset, std::span<const iovec> iov, Completion done) {
    state_->read(offset, iov, std::move(done));
}

void OverlayDisk::write(std::uint64_t offset, std::span<const iovec> iov, Completion done) {
    auto m = std::make_shared<State::Mutation>();
    m->offset = offset;
    m->len = iov_bytes(iov);
    m->zero = false;
    m->src.assign(iov.begin(), iov.end());
    m->done = std::move(done);
    state_->mutate(std::move(m));
}

void OverlayDisk::flush(Completion done) {
    state_->answer(std::move(done), 0);
}

void OverlayDisk::discard(std::uint64_t offset, std::uint64_t len, Completion done) {
    write_zeroes(offset, len, true, std::move(done));
}

void OverlayDisk::write_zeroes(std::uint64_t offset, std::uint64_t len, bool, Completion done) {
    auto m = std::make_shared<State::Mutation>();
    m->offset = offset;
    m->len = len;
    m->zero = true;
    m->done = std::move(done);
    state_->mutate(std::move(m));
}

void OverlayDisk::cancel() {
    state_->cancel();
}

std::uint64_t OverlayDisk::allocated_bytes() const {
    struct stat st {};
    if (::fstat(state_->overlay.get(), &st) != 0) {
        return 0;
    }
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

std::size_t OverlayDisk::map_bytes() const {
    return state_->map.memory_bytes();
}

}  // namespace storage
