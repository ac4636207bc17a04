#include "supervisor/vmd/meter.h"

#include <unistd.h>

#include "base/error.h"
#include "supervisor/metering/counters.h"
#include "supervisor/metering/exports.h"
#include "supervisor/metering/ledger.h"
#include "supervisor/metering/meters.h"
#include "supervisor/store/images.h"
#include "supervisor/store/instances.h"
#include "supervisor/store/processes.h"
#include "supervisor/store/volumes.h"
#include "supervisor/vmd/clock.h"
#include "supervisor/vmd/files.h"
#include "supervisor/vmd/log.h"

namespace supervisor::vmd {

namespace {

// The cgroup's CPU time, or nothing (the cgroup is gone or unreadable).
std::optional<std::int64_t> cgroup_cpu_us(const std::string& cgroup) {
    if (!exists(cgroup)) {
        return std::nullopt;
    }
    try {
        return metering::read_cpu_usage_us(cgroup);
    } catch (const base::HostError& e) {
        log_line(std::string("metering: ") + e.what());
        return std::nullopt;
    }
}

std::optional<std::int64_t> integer_field(const nlohmann::json& event, const char* name) {
    const auto it = event.find(name);
    if (it == event.end() || !it->is_number_integer()) {
        return std::nullopt;
    }
    return it->get<std::int64_t>();
}

}  // namespace

metering::PriceSheet default_price_sheet() {
    metering::PriceSheet sheet;
    sheet.currency = "EUR";
    sheet.cpu_vcpu_hour_micros = 4'160'000;
    sheet.storage_gib_month_micros = 8'000'000;
    sheet.net_rx_gb_micros = 0;
    sheet.net_tx_gb_micros = 9'000'000;
    sheet.boot_micros = 10'000;
    sheet.minimum_seconds_per_start = 60;
    return sheet;
}

Meter::Meter(Context& context, metering::PriceSheet sheet)
    : ctx_(context), sheet_(std::move(sheet)), metrics_client_(context.loop) {}

Meter::~Meter() = default;

void Meter::begin_process(const store::InstanceRecord& r, std::int64_t process, store::Millis at) {
    metering::Counters base;
    // A cgroup left from an earlier start holds that start's CPU time.
    base.cpu_us = cgroup_cpu_us(ctx_.cgroups.child_path(r.id));
    metering::begin_process(ctx_.db, process, r.owner, r.id, at, base);
    if (!r.persistent) {
        const auto image = store::images::get(ctx_.db, r.image);
        metering::storage_begin(ctx_.db, metering::kKindInstance, r.id, r.owner,
                                image ? image->size_bytes : 0, at);
    }
}

void Meter::on_event(std::int64_t process, const nlohmann::json& event) {
    if (!metering::process_meter(ctx_.db, process)) {
        return;
    }
    const std::string name = event.value("event", "");
    const auto time = integer_field(event, "time");
    if (name == "exit") {
        record_final_network(process, event, time.value_or(now_ms()));
        return;
    }
    const auto boot = integer_field(event, "boot");
    if (!boot || !time || *boot < 1) {
        return;
    }
    if (name == "starting") {
        metering::record_boot(ctx_.db, process, *boot, *time, std::nullopt);
    } else if (name == "ready") {
        const auto after = integer_field(event, "ms_since_start").value_or(0);
        metering::record_boot(ctx_.db, process, *boot, *time - std::max<std::int64_t>(0, after),
                              *time);
    }
}

void Meter::record_final_network(std::int64_t process, const nlohmann::json& exit_event,
                                 store::Millis at) {
    const auto net = metering::parse_exit_event(exit_event);
    if (!net) {
        return;  // a vmm that did not say: its last sample stands
    }
    metering::Counters counters;
    counters.net_rx_bytes = net->rx_bytes;
    counters.net_tx_bytes = net->tx_bytes;
    metering::record_sample(ctx_.db, process, counters, at);
    // An answer to a GET /metrics sent before the exit may still come back:
    // it is older than these figures, and a counter below the stored one
    // would be billed as a new counter base, so it must not be recorded.
    network_final_.insert(process);
}

void Meter::on_change(const std::string& instance) {
    const auto p = store::processes::live_of(ctx_.db, instance);
    if (!p || !p->pid) {
        return;  // not spawned yet: begin_process was its sample
    }
    sample_cpu(*p, now_ms());
    // After the commit: the answer comes back in a transaction of its own.
    ctx_.loop.post([this, process = *p] { request_network(process); });
}

void Meter::close_process(std::int64_t process, store::Millis at) {
    // Samples of a closed process are ignored by the ledger from now on.
    network_final_.erase(process);
    const auto p = store::processes::get(ctx_.db, process);
    if (!p) {
        return;
    }
    metering::Counters final_counters;
    final_counters.cpu_us = cgroup_cpu_us(p->cgroup);
    if (!metering::process_meter(ctx_.db, process)) {
        return;  // spawned by a vmd that did not meter
    }
    metering::close_process(ctx_.db, process, final_counters, at);
    const auto r = store::instances::get(ctx_.db, p->instance);
    if (r && !r->persistent) {
        metering::storage_end(ctx_.db, metering::kKindInstance, r->id, at);
    }
}

void Meter::volume_created(const store::VolumeRecord& v, store::Millis at) {
    metering::storage_begin(ctx_.db, metering::kKindVolume, v.id, v.owner, v.size_bytes, at);
}

void Meter::volume_deleted(const std::string& volume, store::Millis at) {
    metering::storage_end(ctx_.db, metering::kKindVolume, volume, at);
}

void Meter::start() {
    const auto now = now_ms();
    {
        store::Transaction tx(ctx_.db);
        for (const auto& open : metering::open_processes(ctx_.db)) {
            const auto p = store::processes::get(ctx_.db, open.process);
            if (p && !p->exited_at) {
                continue;  // adopted: sampled on as usual
            }
            // Its vmm ended and its cgroup went before vmd could read it:
            // what the last sample billed is all there is.
            const store::Millis at = p && p->exited_at ? *p->exited_at : now;
            metering::close_process(ctx_.db, open.process, {}, at);
            const auto r = store::instances::get(ctx_.db, open.instance);
            if (r && !r->persistent) {
                metering::storage_end(ctx_.db, metering::kKindInstance, r->id, at);
            }
            log_line("metering: closed process " + std::to_string(open.process) + " of " +
                     open.instance + " at its last sample (its vmm and cgroup are gone)");
        }
        for (const auto& v : store::volumes::list(ctx_.db)) {
            if (v.state == "deleting") {
                continue;
            }
            // Accrues a metered volume up to now, starts one an older vmd made.
            metering::storage_begin(ctx_.db, metering::kKindVolume, v.id, v.owner, v.size_bytes,
                                    now);
        }
        tx.commit();
    }
    timer_ = std::make_unique<EventLoop::Timer>(ctx_.loop, [this] {
        tick();
        timer_->arm(std::chrono::seconds(ctx_.options.meter_interval_s));
    });
    timer_->arm(std::chrono::seconds(ctx_.options.meter_interval_s));
    write_metrics_file();
}

void Meter::sample_cpu(const store::ProcessRecord& p, store::Millis at) {
    if (!metering::process_meter(ctx_.db, p.id)) {
        // Spawned by a vmd that did not meter: from now on.
        const auto r = store::instances::get(ctx_.db, p.instance);
        metering::Counters base;
        base.cpu_us = cgroup_cpu_us(p.cgroup);
        metering::begin_process(ctx_.db, p.id, r ? r->owner : 0, p.instance, at, base);
    }
    metering::Counters counters;
    counters.cpu_us = cgroup_cpu_us(p.cgroup);
    if (!counters.cpu_us) {
        ++cpu_failures_;
    }
    metering::record_sample(ctx_.db, p.id, counters, at);
}

void Meter::request_network(const store::ProcessRecord& p) {
    if (network_final_.count(p.id) != 0) {
        return;  // its exit event gave the final figures
    }
    if (!network_in_flight_.insert(p.id).second) {
        return;  // the last request has not come back: a hung vmm costs one slot
    }
    metrics_client_.get(ctx_.layout.api_socket(p.instance), "/metrics",
                        [this, process = p.id](std::optional<std::string> body) {
                            network_in_flight_.erase(process);
                            if (network_final_.count(process) != 0) {
                                return;  // older than the exit event's figures
                            }
                            const auto net =
                                body ? metering::parse_vmm_metrics(*body) : std::nullopt;
                            if (!net) {
                                ++network_failures_;
                                return;
                            }
                            metering::Counters counters;
                            counters.net_rx_bytes = net->rx_bytes;
                            counters.net_tx_bytes = net->tx_bytes;
                            metering::record_sample(ctx_.db, process, counters, now_ms());
                        });
}

void Meter::tick() {
    const auto now = now_ms();
    std::vector<store::ProcessRecord> live;
    {
        store::Transaction tx(ctx_.db);
        for (const auto& p : store::processes::live(ctx_.db)) {
            if (p.pid) {
                sample_cpu(p, now);
                live.push_back(p);
            }
        }
        metering::accrue_storage(ctx_.db, now);
        if (!live.empty()) {
            crash_point("meter-tick-before-commit");
        }
        tx.commit();
    }
    ++ticks_;
    last_tick_ = now;
    for (const auto& p : live) {
        request_network(p);
    }
    write_metrics_file();
}

std::string Meter::prometheus() {
    std::string text = metering::prometheus_text(metering::totals(ctx_.db));
    const auto gauge = [&](const std::string& name, const std::string& help, std::int64_t value,
                           const char* type) {
        text += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name +
                " " + std::to_string(value) + "\n";
    };
    gauge("vmd_meter_ticks_total", "Metering intervals vmd has completed since it started.", ticks_,
          "counter");
    gauge("vmd_meter_last_tick_timestamp_seconds", "When the last metering interval ran.",
          last_tick_ / 1000, "gauge");
    gauge("vmd_meter_cpu_read_failures_total", "Samples whose cgroup cpu.stat could not be read.",
          cpu_failures_, "counter");
    gauge("vmd_meter_network_read_failures_total", "Samples whose vmm did not answer GET /metrics.",
          network_failures_, "counter");
    gauge("vmd_live_processes", "vmm processes vmd watches.",
          static_cast<std::int64_t>(store::processes::live(ctx_.db).size()), "gauge");
    return text;
}

void Meter::write_metrics_file() {
    if (ctx_.options.metrics_file.empty()) {
        return;
    }
    try {
        metering::write_file_atomically(ctx_.options.metrics_file, prometheus());
    } catch (const base::Error& e) {
        log_line(std::string("metering: ") + e.what());
    }
}

}  // namespace supervisor::vmd
