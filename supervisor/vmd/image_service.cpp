#include "supervisor/vmd/image_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "base/error.h"
#include "supervisor/lifecycle/ready_probe.h"
#include "supervisor/store/images.h"
#include "supervisor/store/instances.h"
#include "supervisor/vmd/api_error.h"
#include "supervisor/vmd/as_user.h"
#include "supervisor/vmd/clock.h"
#include "supervisor/vmd/disk_copy.h"
#include "supervisor/vmd/files.h"
#include "supervisor/vmd/ids.h"
#include "supervisor/vmd/image_format.h"
#include "supervisor/vmd/json_body.h"
#include "supervisor/vmd/log.h"
#include "supervisor/vmd/lookup.h"
#include "supervisor/vmd/views.h"

namespace supervisor::vmd {

namespace {

base::Fd create_file(const std::string& path) {
    base::Fd fd(open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) {
        base::throw_errno("cannot create " + path);
    }
    return fd;
}

std::int64_t size_of(int fd) {
    struct stat st {};
    fstat(fd, &st);
    return st.st_size;
}

}  // namespace

struct ImageService::Import {
    base::PeerCredentials who;
    std::string id;
    std::string name;
    std::string path;
    std::optional<std::string> kernel_path;
    std::optional<std::string> initrd_path;
    base::Fd disk;
    base::Fd kernel;
    base::Fd initrd;
    ImageInfo info;
    std::string error;  // set by the worker when it failed
    bool cancelled = false;
    std::int64_t allocated = 0;
};

void ImageService::recover() {
    for (auto& image : store::images::list(ctx_.db)) {
        if (image.state == "importing") {
            remove_path(ctx_.layout.image_dir(image.id));
            store::Transaction tx(ctx_.db);
            image.state = "failed";
            image.reason = "vmd restarted during the import; import it again";
            store::images::update(ctx_.db, image);
            tx.commit();
            log_line("image " + image.id + " (" + image.name + "): import interrupted: failed");
        } else if (image.state == "deleting") {
            remove_path(ctx_.layout.image_dir(image.id));
            store::Transaction tx(ctx_.db);
            store::images::remove(ctx_.db, image.id);
            tx.commit();
            log_line("image " + image.id + " (" + image.name + "): deleted");
        }
    }
}

nlohmann::json ImageService::list(const Caller& caller) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& image : store::images::list(ctx_.db, caller.scope())) {
        if (image.state != "deleting") {
            out.push_back(image_view(image));
        }
    }
    return out;
}

nlohmann::json ImageService::get(const Caller& caller, const std::string& ref) {
    return image_view(find_image(ctx_.db, caller, ref));
}

void ImageService::import(const Caller& caller, const std::string& text, Reply reply) {
    JsonBody body(text, false);
    auto job = std::make_shared<Import>();
    job->who = caller.credentials;
    job->name = body.string("name");
    job->path = body.string("path");
    job->kernel_path = body.optional_string("kernel");
    job->initrd_path = body.optional_string("initrd");
    const auto cmdline = body.optional_string("cmdline");
    const std::string probe = body.optional_string("ready_probe").value_or("auto");
    body.finish();
    check_name("image", job->name);
    lifecycle::parse_ready_probe(probe);
    if (cmdline && (cmdline->size() > 4096 || cmdline->find('\0') != std::string::npos)) {
        throw base::InvalidInput("cmdline must be at most 4096 characters, without NUL");
    }
    if (job->initrd_path && !job->kernel_path) {
        throw base::InvalidInput("an initrd needs its kernel: give kernel too");
    }
    if (auto other = store::images::find_by_name(ctx_.db, caller.uid(), job->name)) {
        throw conflict("image name '" + job->name + "' is in use by " + other->id);
    }
    // Opening and inspecting may block (a slow file system, qemu-img): a
    // worker does it, and the answer comes when it is done.
    auto error = std::make_shared<std::exception_ptr>();
    ctx_.workers.run(
        [this, job, error](const std::atomic<bool>&) {
            try {
                job->disk = open_as_user(job->who, job->path);
                if (job->kernel_path) {
                    job->kernel = open_as_user(job->who, *job->kernel_path);
                }
                if (job->initrd_path) {
                    job->initrd = open_as_user(job->who, *job->initrd_path);
                }
                job->info = inspect_image(job->who, job->disk.get(), ctx_.options.qemu_img);
            } catch (...) {
                *error = std::current_exception();
            }
        },
        [this, job, error, cmdline, probe, reply] {
            answering_errors(reply, [&] {
                if (*error) {
                    std::rethrow_exception(*error);
                }
                if (auto other = store::images::find_by_name(
                        ctx_.db, static_cast<std::int64_t>(job->who.uid), job->name)) {
                    throw conflict("image name '" + job->name + "' is in use by " + other->id);
                }
                store::ImageRecord image;
                image.id = new_id("img");
                image.name = job->name;
                image.owner = job->who.uid;
                image.state = "importing";
                image.format = job->info.format;
                image.size_bytes = job->info.virtual_size;
                image.kernel = job->kernel_path;
                image.initrd = job->initrd_path;
                image.cmdline = cmdline;
                image.ready_probe = probe;
                image.created_at = now_ms();
                job->id = image.id;
                {
                    store::Transaction tx(ctx_.db);
                    store::images::insert(ctx_.db, image);
                    tx.commit();
                }
                log_line("image " + image.id + " (" + image.name + "): importing " + job->path +
                         " (" + job->info.format + ", " + std::to_string(image.size_bytes) +
                         " bytes) for uid " + std::to_string(image.owner));
                copy(job);
                reply(202, image_view(image));
            });
        });
}

void ImageService::copy(std::shared_ptr<Import> job) {
    const std::string dir = ctx_.layout.image_dir(job->id);
    const std::string id = job->id;
    running_[id] = ctx_.workers.run(
        [this, job, dir](const std::atomic<bool>& cancel) {
            try {
                ensure_dir(dir, 0700);
                const std::string partial = ctx_.layout.image_disk(job->id) + ".partial";
                base::Fd out = create_file(partial);
                crash_point("image-copy");
                auto last = std::chrono::steady_clock::now();
                double last_progress = 0;
                const auto report = [&](double progress) {
                    const auto now = std::chrono::steady_clock::now();
                    if (progress - last_progress >= 0.01 &&
                        now - last >= std::chrono::milliseconds(200)) {
                        last = now;
                        last_progress = progress;
                        ctx_.loop.post(
                            [this, id = job->id, progress] { set_progress(id, progress); });
                    }
                };
                const std::int64_t size = job->info.virtual_size;
                if (job->info.format == "raw") {
                    const auto result = copy_disk(
                        job->disk.get(), out.get(), size,
                        [&](std::int64_t done) { report(static_cast<double>(done) / size); },
                        cancel);
                    job->cancelled = result.cancelled;
                } else {
                    // qemu-img writes, as the caller, to a file of the
                    // caller's; vmd then copies it into a file of its own,
                    // which no descriptor of the caller's reaches.
                    const std::string converted = dir + "/converted.tmp";
                    base::Fd tmp = create_file(converted);
                    if (fchown(tmp.get(), job->who.uid, job->who.gid) != 0 ||
                        ftruncate(tmp.get(), size) != 0) {
                        base::throw_errno("cannot prepare " + converted);
                    }
                    convert_image(
                        job->who, job->disk.get(), tmp.get(), job->info, ctx_.options.qemu_img,
                        [&](double p) { report(p * 0.9); }, cancel);
                    if (cancel.load()) {
                        job->cancelled = true;
                    } else {
                        base::Fd result(open(converted.c_str(), O_RDONLY | O_CLOEXEC));
                        const auto copied = copy_disk(
                            result.get(), out.get(), size,
                            [&](std::int64_t done) {
                                report(0.9 + 0.1 * static_cast<double>(done) / size);
                            },
                            cancel);
                        job->cancelled = copied.cancelled;
                    }
                    unlink(converted.c_str());
                }
                if (job->cancelled) {
                    return;
                }
                job->allocated = allocated_bytes(out.get());
                const std::atomic<bool> never{false};
                for (auto [fd, path] :
                     {std::pair{job->kernel.get(), ctx_.layout.image_kernel(job->id)},
                      std::pair{job->initrd.get(), ctx_.layout.image_initrd(job->id)}}) {
                    if (fd >= 0) {
                        base::Fd file = create_file(path);
                        copy_disk(
                            fd, file.get(), size_of(fd), [](std::int64_t) {}, never);
                    }
                }
                out.reset();
                if (rename(partial.c_str(), ctx_.layout.image_disk(job->id).c_str()) != 0) {
                    base::throw_errno("cannot rename " + partial);
                }
                sync_dir(dir);
            } catch (const base::Error& e) {
                job->error = e.what();
            }
        },
        [this, job] { finish(job); });
}

void ImageService::set_progress(const std::string& id, double progress) {
    auto image = store::images::get(ctx_.db, id);
    if (!image || image->state != "importing") {
        return;
    }
    store::Transaction tx(ctx_.db);
    image->progress = progress;
    store::images::update(ctx_.db, *image);
    tx.commit();
}

void ImageService::finish(const std::shared_ptr<Import>& job) {
    running_.erase(job->id);
    auto image = store::images::get(ctx_.db, job->id);
    if (!image) {
        return;
    }
    if (image->state == "deleting" || job->cancelled) {
        remove_path(ctx_.layout.image_dir(job->id));
        store::Transaction tx(ctx_.db);
        store::images::remove(ctx_.db, job->id);
        tx.commit();
        log_line("image " + job->id + " (" + job->name + "): import cancelled; deleted");
        return;
    }
    store::Transaction tx(ctx_.db);
    if (!job->error.empty()) {
        image->state = "failed";
        image->reason = job->error;
        remove_path(ctx_.layout.image_dir(job->id));
        log_line("image " + job->id + " (" + job->name + "): import failed: " + job->error);
    } else {
        image->state = "available";
        image->progress = 1;
        image->allocated_bytes = job->allocated;
        log_line("image " + job->id + " (" + job->name + "): available");
    }
    store::images::update(ctx_.db, *image);
    tx.commit();
}

nlohmann::json ImageService::remove(const Caller& caller, const std::string& ref) {
    auto image = find_image(ctx_.db, caller, ref);
    const auto users = store::instances::using_image(ctx_.db, image.id);
    if (!users.empty()) {
        std::string ids;
        for (const auto& u : users) {
            ids += (ids.empty() ? "" : ", ") + u.id;
        }
        throw conflict("image " + image.id + " is used by " + ids + ": terminate them first");
    }
    {
        store::Transaction tx(ctx_.db);
        const bool importing = image.state == "importing";
        image.state = "deleting";
        store::images::update(ctx_.db, image);
        tx.commit();
        if (importing) {
            if (auto it = running_.find(image.id); it != running_.end()) {
                it->second->store(true);  // the import's end deletes it
            }
            log_line("image " + image.id + " (" + image.name + "): import cancelled");
            return image_view(image);
        }
    }
    remove_path(ctx_.layout.image_dir(image.id));
    store::Transaction tx(ctx_.db);
    store::images::remove(ctx_.db, image.id);
    tx.commit();
    log_line("image " + image.id + " (" + image.name + "): deleted");
    return image_view(image);
}

}  // namespace supervisor::vmd
