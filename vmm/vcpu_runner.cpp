#include "vmm/vcpu_runner.h"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "base/hex.h"
#include "vmm/named_thread.h"

namespace vmm {

namespace {
const int kKickSignal = SIGRTMIN + 1;
}

void VcpuControl::request_pause() {
    pause_ = true;
}

void VcpuControl::resume() {
    std::lock_guard lock(mutex_);
    pause_ = false;
    cv_.notify_all();
}

void VcpuControl::request_stop() {
    std::lock_guard lock(mutex_);
    stop_ = true;
    cv_.notify_all();
}

void VcpuControl::park_if_paused() {
    if (!pause_.load()) {
        return;
    }
    std::unique_lock lock(mutex_);
    ++parked_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !pause_.load() || stop_.load(); });
    --parked_;
}

VcpuControl::Parked VcpuControl::wait_parked(unsigned count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, timeout, [&] { return parked_ >= count || stop_.load(); });
    if (stop_.load()) {
        return Parked::kStopped;
    }
    return parked_ >= count ? Parked::kAll : Parked::kTimedOut;
}

const char* ExitCounters::reason_name(std::size_t reason) {
    switch (reason) {
        case KVM_EXIT_UNKNOWN:
            return "unknown";
        case KVM_EXIT_EXCEPTION:
            return "exception";
        case KVM_EXIT_IO:
            return "io";
        case KVM_EXIT_HYPERCALL:
            return "hypercall";
        case KVM_EXIT_DEBUG:
            return "debug";
        case KVM_EXIT_HLT:
            return "hlt";
        case KVM_EXIT_MMIO:
            return "mmio";
        case KVM_EXIT_IRQ_WINDOW_OPEN:
            return "irq_window_open";
        case KVM_EXIT_SHUTDOWN:
            return "shutdown";
        case KVM_EXIT_FAIL_ENTRY:
            return "fail_entry";
        case KVM_EXIT_INTR:
            return "intr";
        case KVM_EXIT_SET_TPR:
            return "set_tpr";
        case KVM_EXIT_TPR_ACCESS:
            return "tpr_access";
        case KVM_EXIT_NMI:
            return "nmi";
        case KVM_EXIT_INTERNAL_ERROR:
            return "internal_error";
        case KVM_EXIT_SYSTEM_EVENT:
            return "system_event";
        default:
            return nullptr;
    }
}

VcpuRunner::VcpuRunner(VcpuFd& vcpu, devices::Bus& pio, devices::Bus& mmio, VcpuControl& control,
                       ExitCounters& counters, StopHandler on_stop, FirstIoHandler on_first_io)
    : vcpu_(vcpu),
      pio_(pio),
      mmio_(mmio),
      control_(control),
      counters_(counters),
      on_stop_(std::move(on_stop)),
      on_first_io_(std::move(on_first_io)) {}

VcpuRunner::~VcpuRunner() {
    control_.request_stop();
    kick();
    join();
}

void VcpuRunner::install_kick_signal() {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    sigaction(kKickSignal, &sa, nullptr);
}

void VcpuRunner::start() {
    char name[16];
    std::snprintf(name, sizeof name, "vcpu%u", vcpu_.index());
    thread_ = start_named_thread(name, [this] { loop(); });
}

void VcpuRunner::kick() {
    __atomic_store_n(&vcpu_.run_state()->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (thread_.joinable()) {
        pthread_kill(thread_.native_handle(), kKickSignal);
    }
}

void VcpuRunner::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void VcpuRunner::loop() {
    kvm_run* run = vcpu_.run_state();
    while (!control_.stop_requested()) {
        control_.park_if_paused();
        if (control_.stop_requested()) {
            break;
        }
        const int rc = vcpu_.run();
        __atomic_store_n(&run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (rc == -EINTR || rc == -EAGAIN) {
            continue;
        }
        if (rc < 0) {
            on_stop_(
                VcpuStop::kInternalError,
                std::string("KVM_RUN failed: ") + std::strerror(-rc) + "\n" + describe_registers());
            return;
        }
        const std::uint32_t reason = run->exit_reason;
        if (reason < ExitCounters::kReasons) {
            counters_.by_reason[reason].fetch_add(1, std::memory_order_relaxed);
        }
        switch (reason) {
            case KVM_EXIT_IO:
                handle_io(run);
                break;
            case KVM_EXIT_MMIO:
                handle_mmio(run);
                break;
            case KVM_EXIT_HLT:
            case KVM_EXIT_INTR:
            case KVM_EXIT_IRQ_WINDOW_OPEN:
                break;
            case KVM_EXIT_SHUTDOWN:
                on_stop_(VcpuStop::kTripleFault,
                         "triple fault on vCPU " + std::to_string(vcpu_.index()));
                return;
            case KVM_EXIT_SYSTEM_EVENT:
                if (run->system_event.type == KVM_SYSTEM_EVENT_RESET) {
                    on_stop_(VcpuStop::kSystemReset, "system reset event");
                } else {
                    on_stop_(VcpuStop::kSystemOff, "system shutdown event");
                }
                return;
            case KVM_EXIT_FAIL_ENTRY:
                on_stop_(VcpuStop::kInternalError,
                         "KVM could not enter the guest (hardware entry failure reason " +
                             base::hex(run->fail_entry.hardware_entry_failure_reason) + ")\n" +
                             describe_registers());
                return;
            case KVM_EXIT_INTERNAL_ERROR:
                on_stop_(VcpuStop::kInternalError, "KVM internal error, suberror " +
                                                       std::to_string(run->internal.suberror) +
                                                       "\n" + describe_registers());
                return;
            default:
                on_stop_(VcpuStop::kInternalError, "unhandled VM exit reason " +
                                                       std::to_string(reason) + "\n" +
                                                       describe_registers());
                return;
        }
    }
}

void VcpuRunner::handle_io(kvm_run* run) {
    const auto size = run->io.size;
    const std::uint64_t count = run->io.count;
    const std::uint64_t offset = run->io.data_offset;
    auto* base = reinterpret_cast<std::uint8_t*>(run);
    // KVM fills these (the data sits in the page after kvm_run), but a
    // corrupt record must not send us past the shared mapping.
    const std::uint64_t mapped = vcpu_.run_size();
    if ((size != 1 && size != 2 && size != 4) || count == 0 || offset >= mapped ||
        count > (mapped - offset) / size) {
        return;
    }
    const bool out = run->io.direction == KVM_EXIT_IO_OUT;
    counters_.io_port[out ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
    if (!seen_io_) {
        seen_io_ = true;
        if (on_first_io_) {
            on_first_io_();
        }
    }
    for (std::uint64_t i = 0; i < count; ++i) {
        std::span<std::uint8_t> data(base + offset + i * size, size);
        if (out) {
            pio_.write(run->io.port, data);
        } else {
            pio_.read(run->io.port, data);
        }
    }
}

void VcpuRunner::handle_mmio(kvm_run* run) {
    const std::uint32_t len = run->mmio.len;
    if (len == 0 || len > sizeof run->mmio.data) {
        return;
    }
    std::span<std::uint8_t> data(run->mmio.data, len);
    if (run->mmio.is_write) {
        mmio_.write(run->mmio.phys_addr, data);
    } else {
        mmio_.read(run->mmio.phys_addr, data);
    }
}

std::string VcpuRunner::describe_registers() const {
    try {
        const kvm_regs r = vcpu_.get_regs();
        const kvm_sregs s = vcpu_.get_sregs();
        char buf[512];
        std::snprintf(
            buf, sizeof buf,
            "vCPU %u: rip=%016" PRIx64 " rsp=%016" PRIx64 " rflags=%08" PRIx64 "\n  rax=%016" PRIx64
            " rbx=%016" PRIx64 " rcx=%016" PRIx64 " rdx=%016" PRIx64 "\n  cr0=%016" PRIx64
            " cr3=%016" PRIx64 " cr4=%016" PRIx64 " efer=%016" PRIx64 " cs=%04x",
            vcpu_.index(), static_cast<std::uint64_t>(r.rip), static_cast<std::uint64_t>(r.rsp),
            static_cast<std::uint64_t>(r.rflags), static_cast<std::uint64_t>(r.rax),
            static_cast<std::uint64_t>(r.rbx), static_cast<std::uint64_t>(r.rcx),
            static_cast<std::uint64_t>(r.rdx), static_cast<std::uint64_t>(s.cr0),
            static_cast<std::uint64_t>(s.cr3), static_cast<std::uint64_t>(s.cr4),
            static_cast<std::uint64_t>(s.efer), s.cs.selector);
        return buf;
    } catch (const std::exception& e) {
        return std::string("registers unavailable: ") + e.what();
    }
}

}  // namespace vmm
