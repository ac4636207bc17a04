# One Makefile for the whole project. Output only under build/:
#   build/bin/        programs (vmm, unit-tests, integration-tests, ...)
#   build/obj/        objects of the normal build (-O2 -g)
#   build/san/        the AddressSanitizer + UndefinedBehaviorSanitizer build
#   build/tsan/       the ThreadSanitizer build (unit tests only: TSan does not
#                     mix with the vmm's static PIE)
#   build/fuzz/       libFuzzer targets (clang), their objects in build/fuzz-obj/
#
#   make             build everything
#   make test        install deps, build, run unit tests (plain, ASan+UBSan, and
#                    the threaded ones under TSan)
#                    and the integration suite in one kvm-sandbox boot
#   make demo        install deps, run the main job end to end
#   make bench       install deps, build, boot figures of vmm beside QEMU microvm
#                    in one kvm-sandbox run (docs/performance.md)
#   make fuzz        run every libFuzzer target for FUZZ_SECONDS each (default 300);
#                    make test runs them for 20 s each
#   make deps        install missing Debian packages (scripts/deps.txt)
#   make format      clang-format every source file in place
#   make check-format  fail when a source file is not clang-format clean

# ccache where installed (make deps installs it): a rebuild of an unchanged
# file costs a lookup, which keeps make test's full builds (plain, ASan+UBSan,
# TSan, fuzzers) short on a machine that built the tree before.
CCACHE   := $(shell command -v ccache 2>/dev/null)
CXX      := $(CCACHE) g++-12
CXXSTD   := -std=c++20
WARN     := -Wall -Wextra -Werror -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
# Host networking (net/: rtnetlink through libnl-route-3, nftables through
# libnftables) and the seed builder's YAML (yaml-cpp): linked into the tests
# and the supervisor, never into the vmm, which uses none of them.
HOSTNET_CFLAGS := $(shell pkg-config --cflags libnl-route-3.0)
# libseccomp: a test takes netlink away to show nftables' absence reported.
HOSTNET_LDLIBS := $(shell pkg-config --libs libnl-route-3.0 libnftables yaml-cpp libseccomp)
CXXFLAGS := $(CXXSTD) $(WARN) -O2 -g -MMD -MP -I. -D_GNU_SOURCE
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# -Wno-tsan: TSan does not model atomic_thread_fence. The virtqueue's fences
# order guest-memory accesses against the guest's vCPUs, which TSan cannot see
# anyway; no host thread synchronises through them.
TSANFLAGS := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
LDLIBS   := -levent_core -levent_extra -luring -lpthread $(HOSTNET_LDLIBS)
# The vmm is one static PIE (its address space still randomised): shared
# libraries cost each VMM process the pages it touches in each of them, spread
# over their whole text (libc alone ~0.8 MiB resident, ld.so and libevent
# 0.4 MiB more), while the static link keeps only the code that runs, packed.
# It also runs on any x86-64 Linux host without its build's libraries.
VMM_LDFLAGS := -static-pie
VMM_LDLIBS  := -levent_extra -levent_core -luring -lpthread
# libevent's resolver functions pull in glibc's, which warns that a static
# binary needs the shared NSS libraries to use them. The vmm listens on Unix
# sockets only and never resolves a name, so these warnings are dropped.
LD_NSS_NOISE := -e 'in statically linked applications requires at runtime' \
                -e 'in function .\(test_for_getaddrinfo_hacks\|evutil_getaddrinfo_common_\).:$$'
# Tests talk to the control API with cpp-httplib's client.
GTEST    := -lgtest -lgtest_main -lcpp-httplib
# Debian's libcpp-httplib is built with these; a test that includes httplib.h
# without them sees a smaller httplib::Client than the library's constructor
# fills, which then writes past it on the caller's stack (found by the
# ThreadSanitizer build: the API tests' controller overwritten).
HTTPLIB_CFLAGS := $(shell pkg-config --cflags cpp-httplib 2>/dev/null || \
                    echo -DCPPHTTPLIB_OPENSSL_SUPPORT -DCPPHTTPLIB_ZLIB_SUPPORT \
                         -DCPPHTTPLIB_BROTLI_SUPPORT)

B := build

# Library code: every .cpp in these folders except a program's main.
CORE_DIRS := base x86 boot firmware devices devices/virtio storage net vmm
MAINS     := vmm/main.cpp
CORE_SRCS := $(filter-out $(MAINS),$(wildcard $(addsuffix /*.cpp,$(CORE_DIRS))))
UNIT_SRCS := $(wildcard tests/unit/*.cpp)
INTEG_SRCS := $(wildcard tests/integration/*.cpp)

obj = $(patsubst %.cpp,$(B)/obj/%.o,$(1))
sanobj = $(patsubst %.cpp,$(B)/san/obj/%.o,$(1))
tsanobj = $(patsubst %.cpp,$(B)/tsan/obj/%.o,$(1))

# The unit tests whose threads meet: the I/O thread, the vCPU control and the
# run state, the control API, the output queues (events, console), the UART
# between a vCPU and the console thread, and the devices' completions.
TSAN_UNIT_SRCS := $(wildcard tests/unit/vmm_*_test.cpp) tests/unit/base_io_ring_test.cpp \
                  tests/unit/devices_serial_test.cpp tests/unit/virtio_blk_test.cpp \
                  tests/unit/virtio_net_test.cpp

CORE_LIB     := $(B)/obj/libcore.a
CORE_SAN_LIB := $(B)/san/obj/libcore.a
CORE_TSAN_LIB := $(B)/tsan/obj/libcore.a

# The supervisor (vmd): its library like CORE_LIB, its programs, and its host
# tests, which run the real vmd against a stand-in for the vmm process.
SUPERVISOR_DIRS  := supervisor/store supervisor/lifecycle supervisor/metering supervisor/seed supervisor/vmd
SUPERVISOR_MAINS := supervisor/vmd/main.cpp
SUPERVISOR_SRCS  := $(filter-out $(SUPERVISOR_MAINS),$(wildcard $(addsuffix /*.cpp,$(SUPERVISOR_DIRS))))
SUPERVISOR_LIB     := $(B)/obj/libsupervisor.a
SUPERVISOR_SAN_LIB := $(B)/san/obj/libsupervisor.a
# sd_notify comes from libsystemd where it is installed; without it vmd
# still runs (systemd's Type=simple).
HAVE_LIBSYSTEMD := $(shell pkg-config --exists libsystemd 2>/dev/null && echo yes)
SUPERVISOR_LDLIBS := -lsqlite3 -lcpp-httplib $(if $(HAVE_LIBSYSTEMD),-lsystemd)
$(B)/obj/supervisor/vmd/main.o: CXXFLAGS += $(if $(HAVE_LIBSYSTEMD),-DVMD_HAVE_LIBSYSTEMD)
SUPERVISOR_TEST_SRCS := $(wildcard tests/supervisor/*.cpp)
FAKE_VMM_SRCS := $(wildcard tests/support/fake_vmm*.cpp)

# vmctl: its code as a library too, so that the unit tests drive its command line.
VMCTL_SRCS    := $(filter-out supervisor/vmctl/main.cpp,$(wildcard supervisor/vmctl/*.cpp))
VMCTL_LIB     := $(B)/obj/libvmctl.a
VMCTL_SAN_LIB := $(B)/san/obj/libvmctl.a

# libFuzzer targets (clang: g++ has no libFuzzer), each linked with the pure
# code it exercises: FUZZ_DEPS_<target> (FUZZ_DEPS where a target names none)
# and the libraries FUZZ_LIBS_<target>. Seed corpora: tests/fuzz/corpus/<target>/.
FUZZ_CXX  := $(CCACHE) clang++-14
FUZZ_SRCS := $(wildcard tests/fuzz/*_fuzz.cpp)
FUZZ_DEPS := devices/virtio/queue.cpp devices/virtio/blk_request.cpp base/guest_memory.cpp \
             base/error.cpp devices/virtio/device.cpp devices/virtio/mmio_transport.cpp \
             devices/virtio/blk.cpp devices/virtio/net.cpp devices/virtio/rng.cpp
FUZZ_DEPS_legacy_devices_fuzz := devices/bus.cpp devices/serial.cpp devices/i8042.cpp \
             devices/rtc.cpp devices/acpi_pm.cpp devices/pvpanic.cpp \
             devices/boot_progress_port.cpp base/error.cpp
FUZZ_DEPS_overlay_disk_fuzz := storage/overlay_disk.cpp storage/cluster_map.cpp \
             storage/raw_disk.cpp storage/disk.cpp base/io_ring.cpp base/error.cpp
FUZZ_LIBS_overlay_disk_fuzz := -luring
FUZZ_DEPS_kernel_loader_fuzz := $(wildcard boot/*.cpp) base/guest_memory.cpp base/error.cpp
FUZZ_DEPS_vmm_config_fuzz := vmm/config.cpp net/mac.cpp base/error.cpp
FUZZ_DEPS_api_request_fuzz := vmm/api_request.cpp
FUZZERS   := $(patsubst tests/fuzz/%.cpp,$(B)/fuzz/%,$(FUZZ_SRCS))
FUZZ_DEPS_seed_user_data_fuzz := supervisor/seed/nocloud.cpp net/ipv4.cpp net/mac.cpp base/error.cpp
FUZZ_LIBS_seed_user_data_fuzz := -lyaml-cpp
FUZZ_SECONDS ?= 300
fuzz_deps = $(or $(FUZZ_DEPS_$(1)),$(FUZZ_DEPS))
# Each source of the fuzz build is compiled once into build/fuzz-obj/, shared
# by every target that links it: ccache keeps the objects (a compile-and-link
# of many sources in one command is never cached), and their .d files rebuild
# a target when a header it includes changes.
FUZZ_CFLAGS := $(CXXSTD) -O1 -g -MMD -MP -I. -D_GNU_SOURCE -fno-sanitize-recover=all
FUZZ_SAN    := address,undefined
fuzz_obj = $(patsubst %.cpp,$(B)/fuzz-obj/%.o,$(1))

PROGRAMS := $(B)/bin/unit-tests $(B)/bin/unit-tests-sanitized $(B)/bin/unit-tests-tsan \
            $(B)/bin/integration-tests \
            $(if $(wildcard vmm/main.cpp),$(B)/bin/vmm) $(FUZZERS) $(B)/bin/virtio-bench \
            $(if $(wildcard $(SUPERVISOR_MAINS)),$(B)/bin/vmd) \
            $(if $(SUPERVISOR_TEST_SRCS),$(B)/bin/supervisor-tests) \
            $(if $(FAKE_VMM_SRCS),$(B)/bin/fake-vmm) \
            $(B)/bin/vmctl

.PHONY: fuzz all deps test unit-test integration-test demo bench format check-format clean guest
all: $(PROGRAMS)

# Only the tests and the supervisor include httplib.h.
$(B)/obj/tests/%.o $(B)/san/obj/tests/%.o $(B)/tsan/obj/tests/%.o \
    $(B)/obj/supervisor/%.o $(B)/san/obj/supervisor/%.o: CXXFLAGS += $(HTTPLIB_CFLAGS)

$(B)/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -c $< -o $@

$(B)/san/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(SANFLAGS) -O1 -c $< -o $@

$(B)/tsan/obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(TSANFLAGS) -O1 -c $< -o $@

$(B)/obj/net/%.o $(B)/san/obj/net/%.o $(B)/tsan/obj/net/%.o: CXXFLAGS += $(HOSTNET_CFLAGS)

$(CORE_LIB): $(call obj,$(CORE_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(CORE_SAN_LIB): $(call sanobj,$(CORE_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(VMCTL_LIB): $(call obj,$(VMCTL_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(VMCTL_SAN_LIB): $(call sanobj,$(VMCTL_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# `vmctl usage --format csv|jsonl` writes with the ledger's own writers.
$(B)/bin/vmctl: $(call obj,supervisor/vmctl/main.cpp) $(VMCTL_LIB) \
                $(call obj,supervisor/metering/exports.cpp) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ -lcpp-httplib

$(B)/bin/vmm: $(call obj,vmm/main.cpp) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(VMM_LDFLAGS) -o $@ $^ $(VMM_LDLIBS) 2>$@.link-log || \
	    { cat $@.link-log >&2; rm -f $@; exit 1; }
	@grep -v $(LD_NSS_NOISE) $@.link-log >&2 || true
	@rm -f $@.link-log

$(SUPERVISOR_LIB): $(call obj,$(SUPERVISOR_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(SUPERVISOR_SAN_LIB): $(call sanobj,$(SUPERVISOR_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/bin/vmd: $(call obj,$(SUPERVISOR_MAINS)) $(SUPERVISOR_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(SUPERVISOR_LDLIBS) $(LDLIBS)

# The stand-in for a whole vmm process in the supervisor's host tests.
$(B)/bin/fake-vmm: $(call obj,$(FAKE_VMM_SRCS)) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS)

# It runs build/bin/vmd, build/bin/fake-vmm and build/bin/vmctl: building it builds them.
$(B)/bin/supervisor-tests: $(call obj,$(SUPERVISOR_TEST_SRCS)) $(CORE_LIB) | $(B)/bin/vmd $(B)/bin/fake-vmm $(B)/bin/vmctl
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(GTEST) $(LDLIBS)

$(B)/bin/unit-tests: $(call obj,$(UNIT_SRCS)) $(VMCTL_LIB) $(SUPERVISOR_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(GTEST) $(SUPERVISOR_LDLIBS) $(LDLIBS)

$(B)/bin/unit-tests-sanitized: $(call sanobj,$(UNIT_SRCS)) $(VMCTL_SAN_LIB) $(SUPERVISOR_SAN_LIB) \
                               $(CORE_SAN_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(SANFLAGS) -o $@ $^ $(GTEST) $(SUPERVISOR_LDLIBS) $(LDLIBS)

$(CORE_TSAN_LIB): $(call tsanobj,$(CORE_SRCS))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/bin/unit-tests-tsan: $(call tsanobj,$(TSAN_UNIT_SRCS)) $(CORE_TSAN_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(TSANFLAGS) -o $@ $^ $(GTEST) $(LDLIBS)

$(B)/bin/integration-tests: $(call obj,$(INTEG_SRCS)) $(SUPERVISOR_LIB) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ $(GTEST) $(LDLIBS)

# Host-side microbenchmarks of the device code (Google Benchmark, no KVM).
$(B)/bin/virtio-bench: $(call obj,tests/bench/virtio_bench.cpp) $(CORE_LIB)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -o $@ $^ -lbenchmark $(LDLIBS)

.PHONY: microbench
microbench: $(B)/bin/virtio-bench
	@mkdir -p $(B)/bench
	$(B)/bin/virtio-bench --benchmark_min_time=0.2 --benchmark_out=$(B)/bench/micro.json \
	    --benchmark_out_format=json

$(B)/fuzz-obj/%.o: %.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c -o $@ $<

# Each target's objects named in a rule of its own: make rebuilds a named
# object that is missing, and never deletes one as an intermediate file.
$(foreach f,$(FUZZERS),$(eval $(f): $(call fuzz_obj,tests/fuzz/$(notdir $(f)).cpp \
    $(call fuzz_deps,$(notdir $(f))))))
$(FUZZERS):
	@mkdir -p $(@D)
	$(FUZZ_CXX) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $^ $(FUZZ_LIBS_$(@F))

fuzz: $(FUZZERS)
	@scripts/run-fuzzers $(FUZZ_SECONDS) $(FUZZERS)

deps:
	@scripts/deps

# The guest kernel and images are cached outside the tree (scripts/lib/common.sh).
guest:
	@scripts/build-guest-kernel >/dev/null
	@scripts/build-guest-image >/dev/null

test: deps
	@$(MAKE) --no-print-directory -j$$(nproc) all guest
	@scripts/run-tests

demo: deps
	@$(MAKE) --no-print-directory -j$$(nproc) all guest
	@scripts/demo

bench: deps
	@$(MAKE) --no-print-directory -j$$(nproc) all guest
	@scripts/bench

SOURCES = $(shell git ls-files '*.cpp' '*.h' 2>/dev/null)
format:
	clang-format -i $(SOURCES)

check-format:
	@clang-format --dry-run --Werror $(SOURCES) && echo "clang-format: clean"

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
