#pragma once
// The rows of vmd's tables as plain structs. Times are Unix milliseconds;
// owners are uids. The meaning of each field is in docs/vmd.md ("Objects").

#include <cstdint>
#include <optional>
#include <string>

namespace supervisor::store {

using Millis = std::int64_t;
using Owner = std::int64_t;

struct ImageRecord {
    std::string id;
    std::string name;
    Owner owner = 0;
    std::string state;  // importing, available, failed, deleting
    double progress = 0;
    std::optional<std::string> reason;
    std::optional<std::string> format;  // of the file given: raw, qcow2, ...
    std::int64_t size_bytes = 0;        // the disk's size as the guest sees it
    std::int64_t allocated_bytes = 0;   // what a sparse copy of it takes on disk
    std::optional<std::string> kernel;  // the path it was imported from; null: vmd's default
    std::optional<std::string> initrd;
    std::optional<std::string> cmdline;
    std::string ready_probe;
    Millis created_at = 0;
};

struct VolumeRecord {
    std::string id;
    std::string name;
    Owner owner = 0;
    std::string state;  // creating, available, failed, deleting
    std::optional<std::string> reason;
    std::int64_t size_bytes = 0;
    bool boot = false;                 // an instance's own boot volume
    std::optional<std::string> image;  // what a boot volume was copied from
    Millis created_at = 0;
};

struct InstanceRecord {
    std::string id;
    std::string name;
    Owner owner = 0;
    std::string state;
    std::optional<std::string> reason;      // why it failed
    std::optional<std::string> last_error;  // an action that failed (a stop that timed out)
    std::string image;
    bool persistent = false;
    std::optional<std::string> boot_volume;
    bool keep_root = false;
    std::int64_t vcpus = 1;
    std::int64_t memory_mib = 256;
    std::int64_t boot_timeout_s = 120;
    std::string ready_probe;
    std::string mac;
    std::optional<std::string> address;       // issue 14
    std::optional<std::string> tap;           // issue 14
    std::optional<std::string> last_address;  // the previous lease's, offered again at a start
    std::int64_t boots = 0;                   // boots seen, over all starts
    std::int64_t starts = 0;
    std::optional<std::string> action;  // JSON: the action in progress and its options
    std::optional<Millis> deadline;     // when the action or the boot times out
    std::string disk_errors = "[]";     // JSON array, per disk
    std::int64_t console_dropped = 0;   // bytes cut from the console log's head so far
    Millis created_at = 0;
    std::optional<Millis> started_at;
    std::optional<Millis> ready_at;
    std::optional<Millis> stopped_at;
    std::optional<Millis> terminated_at;
};

struct AttachmentRecord {
    std::string volume;
    std::string instance;
    Millis attached_at = 0;
};

// One vmm process: spawned for one start of an instance.
struct ProcessRecord {
    std::int64_t id = 0;
    std::string instance;
    std::int64_t start_no = 0;
    std::optional<std::int64_t> pid;
    std::optional<std::int64_t> start_time;  // /proc/PID/stat field 22, clock ticks after boot
    std::string cgroup;
    std::int64_t events_offset = 0;  // bytes of the events file already acted on
    Millis spawned_at = 0;
    std::optional<Millis> exited_at;
    std::optional<std::int64_t> exit_status;
    std::optional<std::int64_t> exit_signal;
    std::optional<std::string> exit_detail;
};

struct ClientTokenRecord {
    Owner owner = 0;
    std::string token;
    std::string request;    // canonical JSON of the run request
    std::string instances;  // JSON array of instance ids
    Millis created_at = 0;
};

}  // namespace supervisor::store
