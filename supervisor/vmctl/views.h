#pragma once
// How vmctl shows vmd's objects (docs/vmd.md, "Objects"): a table by
// default, the API's JSON as it came with --json, ids only with -q.

#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

namespace vmctl {

enum class Format { kTable, kJson, kQuiet };

struct Output {
    Format format = Format::kTable;
    std::ostream& out;
};

// Image ids to names, so that tables can show names (empty: ids are shown).
using ImageNames = std::map<std::string, std::string>;
ImageNames image_names(const nlohmann::json& images);

// Arrays of Instance, Image or Volume objects.
void print_instances(const Output& output, const nlohmann::json& instances,
                     const ImageNames& images = {});
void print_images(const Output& output, const nlohmann::json& images);
void print_volumes(const Output& output, const nlohmann::json& volumes);
// One Instance, Image or Volume (what a verb on one resource answers): one
// object with --json, a table of one row otherwise.
void print_instance(const Output& output, const nlohmann::json& instance,
                    const ImageNames& images = {});
void print_image(const Output& output, const nlohmann::json& image);
void print_volume(const Output& output, const nlohmann::json& volume);
// One instance, every field on a line of its own (`vmctl show`).
void print_instance_details(const Output& output, const nlohmann::json& instance,
                            const ImageNames& images = {});

// A field as a table cell: strings as they are, null or missing as "-",
// booleans as yes/no, lists comma-separated.
std::string cell(const nlohmann::json& object, const std::string& key);

}  // namespace vmctl
