#pragma once
// What vmd's parts share: its settings, its files, its loop, its store and
// its helpers. Owned by the Daemon; everything here is used on the loop's
// thread (the helpers hand work to their own threads themselves).

#include "supervisor/store/sqlite.h"
#include "supervisor/vmd/cgroup.h"
#include "supervisor/vmd/event_loop.h"
#include "supervisor/vmd/instance_network.h"
#include "supervisor/vmd/layout.h"
#include "supervisor/vmd/options.h"
#include "supervisor/vmd/vmm_client.h"
#include "supervisor/vmd/workers.h"

namespace supervisor::vmd {

class Meter;

struct Context {
    const Options& options;
    Layout layout;
    EventLoop& loop;
    store::Database& db;
    Workers& workers;
    VmmClient& vmm;
    const CgroupRoot& cgroups;
    InstanceNetwork& network;
    Meter* meter = nullptr;  // set by the Daemon; none in the handlers' unit tests
};

// Test hook: vmd SIGKILLs itself when it reaches the named point and the
// environment variable VMD_TEST_CRASH_AT names it, so that the host tests
// can crash it at an exact step of an action.
void crash_point(const char* name);
// Test hook: the calling thread sleeps at the named point for the time
// VMD_TEST_SLOW_AT names ("seed:3000": 3000 ms wherever a start makes its
// seed), so that the host tests can make one step slow.
void slow_point(const char* name);

}  // namespace supervisor::vmd
