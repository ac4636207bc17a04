#include "supervisor/vmd/workers.h"

namespace supervisor::vmd {

Workers::~Workers() {
    *alive_ = false;
    for (auto& [id, job] : threads_) {
        job.second->store(true);
    }
    for (auto& [id, job] : threads_) {
        job.first.join();
    }
}

Workers::Cancel Workers::run(std::function<void(const std::atomic<bool>& cancel)> work,
                             std::function<void()> done) {
    const std::uint64_t id = next_++;
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    std::weak_ptr<bool> alive = alive_;
    std::thread thread(
        [this, id, cancel, alive, work = std::move(work), done = std::move(done)]() mutable {
            work(*cancel);
            // `this` is alive until every thread is joined, so posting is safe;
            // the posted job checks that the Workers are still there.
            loop_.post([this, id, alive, done = std::move(done)] {
                if (alive.expired() || !*alive.lock()) {
                    return;
                }
                auto it = threads_.find(id);
                if (it != threads_.end()) {
                    it->second.first.join();
                    threads_.erase(it);
                }
                done();
            });
        });
    threads_.emplace(id, std::make_pair(std::move(thread), cancel));
    return cancel;
}

}  // namespace supervisor::vmd
