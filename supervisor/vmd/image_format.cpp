#include "supervisor/vmd/image_format.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "supervisor/vmd/as_user.h"

namespace supervisor::vmd {

namespace {

const std::set<std::string> kFormats = {"raw", "qcow2", "vdi", "vhdx", "vpc"};

std::string trimmed(std::string text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
        text.pop_back();
    }
    return text;
}

}  // namespace

ImageInfo parse_qemu_img_info(const std::string& json_text) {
    nlohmann::json j = nlohmann::json::parse(json_text, nullptr, false);
    if (!j.is_object() || !j.contains("format") || !j["format"].is_string() ||
        !j.contains("virtual-size") || !j["virtual-size"].is_number_integer()) {
        throw base::InvalidInput("qemu-img could not read the image");
    }
    ImageInfo info;
    info.format = j["format"].get<std::string>();
    info.virtual_size = j["virtual-size"].get<std::int64_t>();
    if (kFormats.count(info.format) == 0) {
        throw base::InvalidInput("images in " + info.format +
                                 " format are not taken (raw, qcow2, vdi, vhdx and vpc are): "
                                 "convert it to qcow2 or raw first");
    }
    if (j.contains("backing-filename") || j.contains("full-backing-filename")) {
        throw base::InvalidInput("the image has a backing file (" +
                                 j.value("backing-filename", std::string("?")) +
                                 "): flatten it first (qemu-img convert)");
    }
    const auto specific = j.find("format-specific");
    if (specific != j.end() && specific->is_object()) {
        const auto data = specific->find("data");
        if (data != specific->end() && data->is_object() && data->contains("data-file")) {
            throw base::InvalidInput(
                "the image keeps its data in another file: convert it to a "
                "single file first");
        }
    }
    if (info.virtual_size <= 0) {
        throw base::InvalidInput("the image is empty");
    }
    return info;
}

ImageInfo inspect_image(const base::PeerCredentials& who, int fd, const std::string& qemu_img) {
    if (access(qemu_img.c_str(), X_OK) == 0) {
        const std::atomic<bool> never{false};
        const auto result = run_as_user(
            who, {qemu_img, "info", "--output=json", "/proc/self/fd/3"}, {fd},
            [](const std::string&) {}, never, std::chrono::seconds(60));
        if (result.status != 0) {
            throw base::InvalidInput("qemu-img cannot read the image: " + trimmed(result.output));
        }
        return parse_qemu_img_info(result.output);
    }
    char magic[4] = {};
    if (pread(fd, magic, sizeof magic, 0) == 4 && std::memcmp(magic, "QFI\xfb", 4) == 0) {
        throw base::InvalidInput("the image is qcow2 and converting it needs qemu-img (" +
                                 qemu_img + "): install qemu-utils");
    }
    struct stat st {};
    fstat(fd, &st);
    if (st.st_size <= 0) {
        throw base::InvalidInput("the image is empty");
    }
    return {"raw", st.st_size};
}

void convert_image(const base::PeerCredentials& who, int src, int dst, const ImageInfo& info,
                   const std::string& qemu_img, const std::function<void(double)>& progress,
                   const std::atomic<bool>& cancel) {
    std::string pending;
    const auto result = run_as_user(
        who,
        {qemu_img, "convert", "-p", "-n", "-f", info.format, "-O", "raw", "/proc/self/fd/3",
         "/proc/self/fd/4"},
        {src, dst},
        [&](const std::string& chunk) {
            // `-p` prints "    (12.34/100%)\r" as it goes.
            pending += chunk;
            const std::size_t open = pending.rfind('(');
            const std::size_t slash = pending.find("/100%", open == std::string::npos ? 0 : open);
            if (open != std::string::npos && slash != std::string::npos) {
                try {
                    progress(std::stod(pending.substr(open + 1, slash - open - 1)) / 100.0);
                } catch (const std::exception&) {
                }
                pending.erase(0, slash);
            }
            if (pending.size() > 4096) {
                pending.erase(0, pending.size() - 64);
            }
        },
        cancel, std::chrono::hours(24));
    if (result.cancelled) {
        return;
    }
    if (result.status != 0) {
        std::string output = result.output;
        const std::size_t cr = output.rfind('\r');
        if (cr != std::string::npos) {
            output = output.substr(cr + 1);
        }
        throw base::InvalidInput("qemu-img could not convert the image: " + trimmed(output));
    }
}

}  // namespace supervisor::vmd
