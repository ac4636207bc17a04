#pragma once
// vmd's metering (docs/metering.md, "What vmd does"): makes the calls of
// supervisor/metering/ at the moments they belong to. The hooks marked "in
// the caller's transaction" are called by the Supervisor and the services
// inside the transaction of the change they meter, so that the change and
// its usage commit together; the rest run their own.

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "supervisor/metering/price_sheet.h"
#include "supervisor/store/records.h"
#include "supervisor/vmd/context.h"
#include "supervisor/vmd/vmm_client.h"

namespace supervisor::vmd {

class Meter {
  public:
    // The sheet is what usage reports are priced with (--price-sheet).
    Meter(Context& context, metering::PriceSheet sheet);
    ~Meter();
    Meter(const Meter&) = delete;
    Meter& operator=(const Meter&) = delete;

    // ---- in the caller's transaction ----

    // A vmm process's row was inserted, before its spawn: metering starts,
    // from the CPU time its cgroup holds already when the cgroup is reused;
    // a non-persistent instance's root starts accruing storage.
    void begin_process(const store::InstanceRecord& instance, std::int64_t process,
                       store::Millis at);
    // A line of the vmm's events file: `starting` and `ready` record boots;
    // `exit` carries the vmm's final network counters (vmm/exit_event.h), a
    // last network sample, so the bytes of the interval before a graceful
    // exit are billed too. A vmm killed by SIGKILL writes no `exit`: its
    // last sample stands.
    void on_event(std::int64_t process, const nlohmann::json& event);
    // The instance changed state: its live process's CPU time now, its
    // network counters when the vmm answers (then in a transaction of their own).
    void on_change(const std::string& instance);
    // The vmm exited (its cgroup still there): the cgroup's final CPU time
    // closes the process; a non-persistent root stops accruing.
    void close_process(std::int64_t process, store::Millis at);
    // A volume was created or deleted.
    void volume_created(const store::VolumeRecord& volume, store::Millis at);
    void volume_deleted(const std::string& volume, store::Millis at);

    // ---- own transactions ----

    // After the Supervisor's recovery: processes still open whose vmm is gone
    // are closed at their last sample; volumes not yet metered (made by an
    // older vmd) start accruing now. Then the interval timer starts.
    void start();
    // One sample of every live process and one accrual of every volume;
    // then the metrics file. Runs every --meter-interval seconds.
    void tick();

    const metering::PriceSheet& price_sheet() const { return sheet_; }
    // Prometheus text: the ledger's totals and vmd's own metering health.
    std::string prometheus();

  private:
    void sample_cpu(const store::ProcessRecord& process, store::Millis at);
    void request_network(const store::ProcessRecord& process);
    void record_final_network(std::int64_t process, const nlohmann::json& exit_event,
                              store::Millis at);
    void write_metrics_file();

    Context& ctx_;
    metering::PriceSheet sheet_;
    // A thread of its own, so that a vmm that does not answer GET /metrics
    // delays neither vmd's loop nor the actions (stop, reboot) of ctx_.vmm.
    VmmClient metrics_client_;
    std::unique_ptr<EventLoop::Timer> timer_;
    std::set<std::int64_t> network_in_flight_;  // processes with a GET /metrics out
    // Processes whose exit event gave their final network counters (until closed).
    std::set<std::int64_t> network_final_;
    std::int64_t ticks_ = 0;
    std::int64_t network_failures_ = 0;
    std::int64_t cpu_failures_ = 0;
    store::Millis last_tick_ = 0;
};

// The price sheet vmd uses without --price-sheet (docs/metering.md).
metering::PriceSheet default_price_sheet();

}  // namespace supervisor::vmd
