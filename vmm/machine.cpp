#include "vmm/machine.h"

#include <algorithm>
#include <thread>

#include "base/error.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/serial.h"
#include "guest/boot_progress.h"
#include "vmm/cpu_setup.h"
#include "vmm/exit_event.h"
#include "vmm/guest_setup.h"
#include "x86/ram.h"

namespace vmm {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ms_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

Machine::Machine(const VmConfig& config, EventLog& events)
    : Lifecycle(config.vcpus),
      config_(config),
      boot_files_(config_),
      events_(events),
      memory_(config.memory_mib << 20, x86::kRamHole),
      devices_(config_,
               PlatformCallbacks{
                   .irq = [this](std::uint32_t gsi, bool high) { return set_irq_line(gsi, high); },
                   .reset =
                       [this](const char* how) {
                           end_boot(End::kReboot,
                                    std::string("the guest reset the machine through ") + how);
                       },
                   .poweroff = [this] { end_boot(End::kPoweroff, "the guest powered off"); },
                   .panic = [this] { end_boot(End::kPanic, "guest kernel panic"); },
                   .progress = [this](std::uint8_t code,
                                      Clock::time_point when) { on_progress(code, when); },
               }) {
    const int max_vcpus = kvm_.max_vcpus();
    if (max_vcpus > 0 && config_.vcpus > static_cast<unsigned>(max_vcpus)) {
        throw base::InvalidInput("--vcpus " + std::to_string(config_.vcpus) +
                                 " is more than KVM allows here (" + std::to_string(max_vcpus) +
                                 ")");
    }
    VcpuRunner::install_kick_signal();
    io_ = std::make_unique<IoThread>();
    virtio_ = std::make_unique<VirtioDevices>(config_, memory_, *io_, devices_.mmio, events_);
    io_->start();
}

Machine::~Machine() {
    stop_boot();
    io_.reset();  // no completion may run once the devices are gone
}

bool Machine::set_irq_line(std::uint32_t gsi, bool high) {
    std::shared_lock lock(vm_lock_);
    return boot_.vm != nullptr && boot_.vm->set_irq_line(gsi, high);
}

void Machine::start_boot() {
    new_boot();
    {
        std::lock_guard lock(mutex_);
        boots_.push_back({std::chrono::system_clock::now(), Clock::now(), {}, {}});
    }
    events_.emit("starting", {{"boot", boots_.size()}});

    auto vm = std::make_unique<VmFd>(kvm_);
    vm->create_platform();
    std::uint32_t slot = 0;
    for (const auto& region : memory_.regions()) {
        vm->set_memory_region(slot++, region.guest_start, region.size, region.host);
    }
    devices_.attach(*vm);
    virtio_->attach(*vm);
    GuestDevices guest_devices;
    guest_devices.virtio = virtio_->windows();
    if (config_.cmdline.find("acpi=off") != std::string::npos) {
        guest_devices.cmdline_extra = virtio_->cmdline_entries();
    }
    const GuestEntry entry = prepare_guest_memory(memory_, config_, boot_files_, guest_devices);

    std::vector<std::unique_ptr<VcpuFd>> vcpus;
    for (unsigned i = 0; i < config_.vcpus; ++i) {
        vcpus.push_back(std::make_unique<VcpuFd>(kvm_, *vm, i));
        setup_vcpu_common(kvm_, *vcpus.back(), config_.vcpus);
    }
    if (entry.mode == GuestEntry::Mode::kPvh) {
        setup_pvh_entry(*vcpus[0], memory_, entry.entry, entry.boot_info);
    } else {
        setup_long_mode_entry(*vcpus[0], memory_, entry.entry, entry.boot_info);
    }

    auto control = std::make_shared<VcpuControl>();
    std::vector<std::unique_ptr<VcpuRunner>> runners;
    for (auto& vcpu : vcpus) {
        const bool bsp = vcpu->index() == 0;
        runners.push_back(std::make_unique<VcpuRunner>(
            *vcpu, devices_.pio, devices_.mmio, *control, exits_,
            [this](VcpuStop why, const std::string& detail) {
                switch (why) {
                    case VcpuStop::kTripleFault:
                    case VcpuStop::kSystemReset:
                        end_boot(End::kReboot, detail);
                        break;
                    case VcpuStop::kSystemOff:
                        end_boot(End::kPoweroff, detail);
                        break;
                    case VcpuStop::kInternalError:
                        end_boot(End::kKvmError, detail);
                        break;
                }
            },
            bsp ? VcpuRunner::FirstIoHandler([this] { on_kernel_started(); }) : nullptr));
    }
    {
        std::unique_lock vm_guard(vm_lock_);
        boot_.vm = std::move(vm);
        boot_.vcpus = std::move(vcpus);
    }
    std::lock_guard lock(mutex_);
    vcpus_starting(std::move(control));
    boot_.runners = std::move(runners);
    for (auto& r : boot_.runners) {
        r->start();
    }
}

void Machine::stop_boot() {
    std::vector<std::unique_ptr<VcpuRunner>> runners;
    {
        std::lock_guard lock(mutex_);
        runners = std::move(boot_.runners);
    }
    stop_vcpus();
    runners.clear();  // each runner stops, kicks and joins its thread
    {
        std::unique_lock vm_guard(vm_lock_);
        boot_.vcpus.clear();
        boot_.vm.reset();
    }
    vcpus_joined();
}

void Machine::kick_vcpus() {
    for (auto& r : boot_.runners) {
        r->kick();
    }
}

void Machine::terminate(const std::string& why) {
    end_boot(End::kKilled, why);
}

void Machine::on_kernel_started() {
    std::size_t boot = 0;
    {
        std::lock_guard lock(mutex_);
        if (boots_.empty() || boots_.back().kernel_started) {
            return;
        }
        boots_.back().kernel_started = Clock::now();
        boot = boots_.size();
    }
    events_.emit("kernel-started", {{"boot", boot}});
}

// Runs on a vCPU thread for every byte the guest writes to the port (a
// `rep outsb` makes thousands per exit): the records are kept under the lock,
// the event goes out after it, and only "ready" (once a boot) is a lifecycle
// event; the codes are guest-driven, deduplicated and rate-limited.
void Machine::on_progress(std::uint8_t code, Clock::time_point when) {
    std::size_t boot = 0;
    std::int64_t ready_after_ms = -1;
    {
        std::lock_guard lock(mutex_);
        if (boots_.empty()) {
            return;
        }
        boot = boots_.size();
        if (code == boot_progress::kReady && !boots_.back().ready) {
            boots_.back().ready = when;
            ready_after_ms = ms_between(boots_.back().started, when);
        }
    }
    if (ready_after_ms >= 0) {
        events_.emit("ready", {{"boot", boot}, {"ms_since_start", ready_after_ms}});
    } else {
        events_.emit_guest("progress", {{"boot", boot}, {"code", code}});
    }
}

int Machine::run() {
    for (;;) {
        start_boot();
        End reason;
        std::string detail;
        Clock::time_point boot_started;
        {
            std::unique_lock lock(mutex_);
            ended_.wait(lock, [&] { return end_ != End::kNone; });
            reason = end_;
            detail = end_detail_;
            boot_started = boots_.back().started;
            const bool reboot = reason == End::kReboot || reason == End::kOwnerReboot;
            state_ = reboot ? State::kRebooting : State::kStopped;
        }
        const Clock::time_point boot_ended = Clock::now();
        stop_boot();
        int status = -1;
        switch (reason) {
            case End::kPoweroff:
                events_.emit("poweroff", {{"detail", detail}});
                status = kExitPoweroff;
                break;
            case End::kPanic:
                events_.emit("panic", {{"detail", detail}});
                std::fprintf(stderr, "vmm: guest kernel panic (boot %zu)\n", boots_.size());
                status = kExitGuestPanic;
                break;
            case End::kKvmError:
                std::fprintf(stderr, "vmm: %s\n", detail.c_str());
                events_.emit("error", {{"detail", detail}});
                status = kExitKvmError;
                break;
            case End::kKilled:
                events_.emit("killed", {{"detail", detail}});
                status = kExitKilled;
                break;
            case End::kReboot:
            case End::kOwnerReboot:
                if (config_.no_reboot) {
                    std::fprintf(stderr, "vmm: %s; exiting (--no-reboot)\n", detail.c_str());
                    status = kExitRebootRequested;
                } else if (reason == End::kReboot &&
                           reboot_loop_.guest_rebooted(boot_started, boot_ended)) {
                    const RebootLoopLimit& limit = reboot_loop_.limit();
                    std::fprintf(stderr,
                                 "vmm: reboot loop: %u boots in a row each reset within %u s "
                                 "(last: %s); exiting (--reboot-loop %u/%u)\n",
                                 limit.boots, limit.within_s, detail.c_str(), limit.boots,
                                 limit.within_s);
                    events_.emit("reboot-loop",
                                 {{"boots", limit.boots}, {"within_s", limit.within_s}});
                    status = kExitRebootLoop;
                } else {
                    if (reason == End::kOwnerReboot) {
                        reboot_loop_.owner_rebooted();
                    }
                    events_.emit("rebooting", {{"detail", detail}});
                    reset_for_reboot();
                    continue;
                }
                break;
            case End::kNone:
                break;
        }
        {
            std::lock_guard lock(mutex_);
            state_ = State::kStopped;
        }
        // The vCPUs are stopped: the network counters are final, and a
        // supervisor gets them here since GET /metrics goes with the process.
        events_.emit("exit", exit_event_fields(status, virtio_->metrics()));
        return status;
    }
}

void Machine::reset_for_reboot() {
    devices_.pio.reset_all();
    // Every virtio device stops and has its requests in flight cancelled; a
    // disk read still running would land in the next boot's memory, so the
    // reboot waits for the last of them and never boots over one.
    devices_.mmio.reset_all();
    std::string busy;
    if (!virtio_->wait_quiet(Clock::now() + kRebootIoWait, &busy)) {
        const std::string why = "cannot reboot: " + busy + " still held guest memory " +
                                std::to_string(kRebootIoWait.count()) +
                                " s after they were cancelled (the host's storage does not "
                                "answer); the VM ends rather than boot over them";
        events_.emit("error", {{"detail", why}});
        throw base::HostError(why);
    }
    memory_.clear();
}

std::size_t Machine::feed_console(std::span<const std::uint8_t> bytes) {
    return devices_.serial->enqueue_input(bytes);
}

nlohmann::json Machine::status() const {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    nlohmann::json boots = nlohmann::json::array();
    for (std::size_t i = 0; i < boots_.size(); ++i) {
        const auto& b = boots_[i];
        nlohmann::json j{{"boot", i + 1}, {"started_at_ms", unix_ms(b.started_wall)}};
        j["kernel_started_after_ms"] =
            b.kernel_started ? nlohmann::json(ms_between(b.started, *b.kernel_started)) : nullptr;
        j["ready_after_ms"] = b.ready ? nlohmann::json(ms_between(b.started, *b.ready)) : nullptr;
        boots.push_back(j);
    }
    return {
        {"id", config_.id},
        {"state", state_name(state_)},
        {"boot_count", boots_.size()},
        {"ready", !boots_.empty() && boots_.back().ready.has_value()},
        {"boots", boots},
        {"uptime_ms", boots_.empty() ? 0 : ms_between(boots_.back().started, now)},
        {"process_uptime_ms", ms_between(process_start_, now)},
        {"vcpus", config_.vcpus},
        {"memory_mib", config_.memory_mib},
    };
}

nlohmann::json Machine::metrics() const {
    nlohmann::json exits = nlohmann::json::object();
    for (std::size_t i = 0; i < ExitCounters::kReasons; ++i) {
        const auto n = exits_.by_reason[i].load(std::memory_order_relaxed);
        if (n != 0) {
            const char* name = ExitCounters::reason_name(i);
            exits[name != nullptr ? name : "reason_" + std::to_string(i)] = n;
        }
    }
    nlohmann::json m{
        {"vm_exits", exits},
        {"io_port_exits", {{"in", exits_.io_port[0].load()}, {"out", exits_.io_port[1].load()}}},
        {"devices", devices_.metrics()},
        {"virtio", virtio_->metrics()},
        {"events", events_.metrics()},
    };
    std::lock_guard lock(mutex_);
    m["boots"] = boots_.size();
    return m;
}

Machine::ActionResult Machine::act(const std::string& action) {
    // No lock is held while an action reaches a device or the vCPUs (the
    // lock order in machine.h): the state is read once, and a boot that
    // ends right after only makes the action land on a VM being rebuilt.
    const State now = state();
    const auto not_now = [&] {
        return ActionResult{409, "cannot " + action + " while the VM is " + state_name(now)};
    };
    if (action == "kill") {
        end_boot(End::kKilled, "killed through the API");
        return {202, ""};
    }
    if (action == "reboot") {
        if (now != State::kRunning && now != State::kPaused) {
            return not_now();
        }
        end_boot(End::kOwnerReboot, "reboot requested through the API");
        return {202, ""};
    }
    if (action == "power-button" || action == "ctrl-alt-del") {
        if (now != State::kRunning) {
            return not_now();
        }
        if (action == "power-button") {
            devices_.acpi_pm->press_power_button();
        } else {
            devices_.i8042->inject_ctrl_alt_del();
        }
        events_.emit(action + "-sent");
        return {202, ""};
    }
    if (action == "pause" || action == "resume") {
        const ActionResult result = action == "pause" ? pause() : resume();
        if (result.error.empty()) {
            events_.emit(action == "pause" ? "paused" : "resumed");
        }
        return result;
    }
    return {400, "unknown action '" + action +
                     "': use power-button, ctrl-alt-del, reboot, pause, resume or kill"};
}

}  // namespace vmm
