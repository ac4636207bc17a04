// vmctl image import | list | delete

#include <memory>

#include "supervisor/vmctl/commands.h"
#include "supervisor/vmctl/progress.h"

namespace vmctl {

namespace {

using namespace std::chrono_literals;

constexpr auto kImportPoll = 250ms;

struct ImportOptions {
    std::string name;
    std::string file;
    std::string kernel;
    std::string initrd;
    std::string cmdline;
    std::string ready_probe;
    bool no_wait = false;
    int timeout_s = 3600;
};

// vmd opens the files itself (with the caller's rights), from its own working directory.
std::string absolute(const Session& s, const std::string& path) {
    return (s.env.cwd / path).lexically_normal().string();
}

double progress_of(const nlohmann::json& image) {
    const auto it = image.find("progress");
    return it != image.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::uint64_t size_of(const nlohmann::json& image) {
    const auto it = image.find("size_bytes");
    return it != image.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

int import_image(Session& s, const ImportOptions& o) {
    nlohmann::json request{{"name", o.name}, {"path", absolute(s, o.file)}};
    if (!o.kernel.empty()) {
        request["kernel"] = absolute(s, o.kernel);
    }
    if (!o.initrd.empty()) {
        request["initrd"] = absolute(s, o.initrd);
    }
    if (!o.cmdline.empty()) {
        request["cmdline"] = o.cmdline;
    }
    if (!o.ready_probe.empty()) {
        request["ready_probe"] = o.ready_probe;  // vmd checks it
    }
    nlohmann::json image = s.api.post("/v1/images", request);
    const std::string id = cell(image, "id");
    const bool bar = s.env.err_is_terminal && s.output.format == Format::kTable;
    const auto polls = std::chrono::seconds(o.timeout_s) / kImportPoll;
    for (long i = 0; !o.no_wait && cell(image, "state") == "importing"; ++i) {
        if (i >= polls) {
            if (bar) {
                s.env.err << '\n';
            }
            throw base::HostError("image " + o.name + " (" + id + ") is still importing after " +
                                  std::to_string(o.timeout_s) +
                                  " s; vmd goes on with it: see `vmctl image list`");
        }
        if (bar) {
            s.env.err << "\rimporting " << o.name << " "
                      << progress_bar(progress_of(image), size_of(image)) << std::flush;
        }
        s.env.sleep(kImportPoll);
        image = s.api.get(resource_path("images", id));
    }
    if (bar && !o.no_wait) {
        s.env.err << "\rimporting " << o.name << " "
                  << progress_bar(progress_of(image), size_of(image)) << '\n';
    }
    if (cell(image, "state") == "failed") {
        throw base::HostError("importing " + o.name + " failed: " + cell(image, "reason"));
    }
    print_image(s.output, image);
    return 0;
}

}  // namespace

void add_image_commands(CLI::App& app, Action& action) {
    auto* group = app.add_subcommand("image", "import, list and delete disk images");
    group->require_subcommand(1);

    auto* import_verb = group->add_subcommand(
        "import",
        "copy a disk image into vmd (raw as it is, qcow2 and others converted); it boots with "
        "the given kernel, else vmd's default kernel");
    auto o = std::make_shared<ImportOptions>();
    import_verb->add_option("NAME", o->name, "the image's name")->required();
    import_verb->add_option("FILE", o->file, "the disk image file")
        ->required()
        ->check(CLI::ExistingFile);
    import_verb->add_option("--kernel", o->kernel, "kernel to boot it with (bzImage or ELF)")
        ->check(CLI::ExistingFile);
    import_verb->add_option("--initrd", o->initrd, "initrd to boot it with")
        ->check(CLI::ExistingFile);
    import_verb->add_option("--cmdline", o->cmdline, "the kernel command line");
    import_verb->add_option("--ready-probe", o->ready_probe,
                            "when its instances are running: auto (default: the debug port's ready "
                            "code or an answer on port 22), debug-port, tcp:PORT or none");
    import_verb->add_flag("--no-wait", o->no_wait, "return once vmd has accepted the import");
    import_verb
        ->add_option("--timeout", o->timeout_s, "seconds to wait for the import (default 3600)")
        ->check(CLI::PositiveNumber);
    import_verb->callback(
        [o, &action] { action = [o](Session& s) { return import_image(s, *o); }; });

    group->add_subcommand("list", "list the images")->callback([&action] {
        action = [](Session& s) {
            print_images(s.output, s.api.get("/v1/images"));
            return 0;
        };
    });

    auto* remove = group->add_subcommand("delete", "delete an image no instance uses");
    auto image = std::make_shared<std::string>();
    remove->add_option("IMAGE", *image, "the image's id or name")->required();
    remove->callback([image, &action] {
        action = [image](Session& s) {
            return print_deleted(s, s.api.del(resource_path("images", *image)), *image);
        };
    });
}

}  // namespace vmctl
