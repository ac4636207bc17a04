#pragma once
// What an image file is and how it becomes raw: `qemu-img info` says its
// format and size, `qemu-img convert` turns it into raw. Both run with the
// caller's rights on the descriptor vmd opened for them (never root's: a
// disk format's parser is attack surface), and images that would make
// qemu-img read other files (a backing file, an external data file, a
// multi-file format) are refused.

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "base/unix_http_server.h"

namespace supervisor::vmd {

struct ImageInfo {
    std::string format;  // raw, qcow2, vdi, vhdx, vpc
    std::int64_t virtual_size = 0;
};

// Parses `qemu-img info --output=json`; throws InvalidInput for a format
// vmd does not take or an image that names other files.
ImageInfo parse_qemu_img_info(const std::string& json_text);

// Inspects the open image `fd`; without qemu-img, a file without a qcow2
// header is taken as raw.
ImageInfo inspect_image(const base::PeerCredentials& who, int fd, const std::string& qemu_img);

// Converts the image on `src` into raw on `dst` (a file of the right size
// that `who` may write); `progress` gets 0..1. Throws InvalidInput when
// qemu-img fails, with its message.
void convert_image(const base::PeerCredentials& who, int src, int dst, const ImageInfo& info,
                   const std::string& qemu_img, const std::function<void(double)>& progress,
                   const std::atomic<bool>& cancel);

}  // namespace supervisor::vmd
