// vmctl volume create | list | delete | attach | detach

#include <memory>

#include "supervisor/vmctl/commands.h"
#include "supervisor/vmctl/units.h"

namespace vmctl {

namespace {

struct VolumeOptions {
    std::string volume;  // NAME for create, VOL otherwise
    std::string size;
    std::string instance;
};

int print_one(Session& s, const nlohmann::json& volume) {
    print_volume(s.output, volume);
    return 0;
}

}  // namespace

void add_volume_commands(CLI::App& app, Action& action) {
    auto* group = app.add_subcommand(
        "volume", "create, list, delete, attach and detach data volumes (they outlive instances)");
    group->require_subcommand(1);

    auto* create = group->add_subcommand("create", "create an empty volume");
    auto o = std::make_shared<VolumeOptions>();
    create->add_option("NAME", o->volume, "the volume's name")->required();
    create->add_option("--size", o->size, "its size: 512M, 10G, 1.5GiB, or bytes")
        ->required()
        ->check(size_validator("--size"));
    create->callback([o, &action] {
        action = [o](Session& s) {
            return print_one(
                s, s.api.post("/v1/volumes", {{"name", o->volume},
                                              {"size_bytes", parse_size("--size", o->size)}}));
        };
    });

    group->add_subcommand("list", "list the volumes")->callback([&action] {
        action = [](Session& s) {
            print_volumes(s.output, s.api.get("/v1/volumes"));
            return 0;
        };
    });

    auto* remove = group->add_subcommand("delete", "delete a volume that is not attached");
    remove->add_option("VOL", o->volume, "the volume's id or name")->required();
    remove->callback([o, &action] {
        action = [o](Session& s) {
            return print_deleted(s, s.api.del(resource_path("volumes", o->volume)), o->volume);
        };
    });

    auto* attach = group->add_subcommand(
        "attach", "attach a volume to a stopped instance (it appears at its next start)");
    attach->add_option("VOL", o->volume, "the volume's id or name")->required();
    attach->add_option("INSTANCE", o->instance, "the instance's id or name")->required();
    attach->callback([o, &action] {
        action = [o](Session& s) {
            return print_one(s, s.api.post(resource_path("volumes", o->volume, "/attach"),
                                           {{"instance", o->instance}}));
        };
    });

    auto* detach = group->add_subcommand("detach", "detach a volume from its stopped instance");
    detach->add_option("VOL", o->volume, "the volume's id or name")->required();
    detach->callback([o, &action] {
        action = [o](Session& s) {
            return print_one(s, s.api.post(resource_path("volumes", o->volume, "/detach"),
                                           nlohmann::json::object()));
        };
    });
}

}  // namespace vmctl
