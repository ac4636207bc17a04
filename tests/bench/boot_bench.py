#!/usr/bin/env python3
"""Boot figures of build/bin/vmm side by side with QEMU's microvm machine.

Runs where /dev/kvm works (scripts/bench starts it inside scripts/kvm-sandbox).
For R repetitions, interleaved vmm/qemu/vmm/qemu..., it boots the same guest
kernel and initramfs with the same memory, vCPUs and kernel command line
under each, and measures, all on CLOCK_MONOTONIC from the moment just before
the launcher spawns the VMM process:

  first KVM_RUN   when the process first enters the guest: its first
                  kvm:kvm_entry tracepoint event (tracefs, mono clock), or,
                  where there is no tracefs, the LD_PRELOAD probe
                  (tests/bench/kvm_run_probe.c) in the VMM, which a static
                  binary such as build/bin/vmm does not take
  init started    arrival at the launcher of boot progress code 0x01
  ready           arrival at the launcher of code 0x10 (guest/boot_progress.h)

The guest's init writes the codes to I/O port 0x402. The vmm turns them into
--events lines on a pipe; QEMU's isa-debugcon at 0x402 writes the raw bytes
to a pipe. The launcher reads both pipes the same way (poll, then stamp).

After ready (and --settle seconds) it reads /proc/PID/smaps of the VMM
process: "RSS without guest RAM" sums Rss over every mapping smaller than the
guest's memory size (mappings of guest-memory size or more are guest RAM);
"total RSS" sums all. It reads the VM's exit counters, by reason, from KVM's
statistics in debugfs (/sys/kernel/debug/kvm/PID-FD/, mounted if need be):
the exits from the first KVM_RUN to ready. Then the VM is killed (SIGKILL)
and reaped.

--stock-kernel boots Debian's own kernel (the newest /boot/vmlinuz-* with its
modules, as scripts/kvm-sandbox finds it) instead of --kernel: a distribution
kernel (CONFIG_EFI, most drivers as modules) under both VMMs, with the same
--initrd (the test image's needs nothing the stock kernel lacks built in).

Writes OUT/results.json (raw figures and summary) and OUT/results.md.
Standard library only.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import select
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024
CODE_INIT_STARTED = 0x01
CODE_READY = 0x10

METRICS = [
    # key, label, unit
    ("first_kvm_run_ms", "exec → first KVM_RUN", "ms"),
    ("guest_to_init_ms", "first KVM_RUN → init started (firmware + kernel)", "ms"),
    ("init_started_ms", "exec → init started (0x01)", "ms"),
    ("ready_ms", "exec → ready (0x10)", "ms"),
    ("rss_without_guest_kib", "RSS without guest RAM, after ready", "KiB"),
    ("rss_total_kib", "RSS total, after ready", "KiB"),
]

DEBUGFS = "/sys/kernel/debug"
# KVM's per-VM exit counters (sums over the vCPUs) reported for the boot, with their labels.
EXIT_REASONS = [
    ("exits", "VM exits to ready, all reasons"),
    ("io_exits", "VM exits to ready: port I/O"),
    ("mmio_exits", "VM exits to ready: MMIO"),
    ("halt_exits", "VM exits to ready: HLT"),
    ("irq_exits", "VM exits to ready: external interrupt"),
    ("irq_window_exits", "VM exits to ready: interrupt window"),
    ("signal_exits", "VM exits to ready: signal"),
    ("insn_emulation", "VM exits to ready: instructions KVM emulated"),
]
METRICS += [(f"kvm_{name}", label, "count") for name, label in EXIT_REASONS]


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def log(msg):
    print(msg, flush=True)


def smaps_mappings(pid):
    """Every mapping of process pid from /proc/PID/smaps: address range, permissions,
    name, size, Rss and Anonymous (KiB)."""
    maps = []
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            first = line.split(None, 1)[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = first.split("-")
                parts = line.split()
                maps.append({"range": first, "perms": parts[1],
                             "name": parts[5] if len(parts) > 5 else "",
                             "size_kib": (int(hi, 16) - int(lo, 16)) // 1024})
            elif first in ("Rss:", "Anonymous:") and maps:
                maps[-1][first[:-1].lower() + "_kib"] = int(line.split()[1])
    return maps


def smaps_rss(maps, guest_bytes):
    """(rss_without_guest_kib, rss_total_kib, guest_rss_kib, excluded mappings) of
    smaps_mappings(): a mapping of the guest memory's size or more is guest RAM."""
    excluded = [{"size_kib": m["size_kib"], "rss_kib": m.get("rss_kib", 0), "name": m["name"]}
                for m in maps if m["size_kib"] * 1024 >= guest_bytes]
    total = sum(m.get("rss_kib", 0) for m in maps)
    guest = sum(e["rss_kib"] for e in excluded)
    return total - guest, total, guest, excluded


def own_mappings(maps, guest_bytes):
    """The mappings of smaps_mappings() outside guest RAM, the most resident first: where
    the VMM's own memory goes."""
    own = [m for m in maps if m["size_kib"] * 1024 < guest_bytes]
    own.sort(key=lambda m: m.get("rss_kib", 0), reverse=True)
    return own


TRACEFS = "/sys/kernel/tracing"


def kvm_tracefs():
    """The tracefs directory, mounted if need be, when it has KVM's tracepoints; else None."""
    if not os.path.isdir(f"{TRACEFS}/events/kvm"):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], capture_output=True,
                       timeout=30)
    return TRACEFS if os.path.isdir(f"{TRACEFS}/events/kvm") else None


def trace_kvm_events(tracing, events, during, buffer_kib=None, strict=True):
    """Calls during() with the tracepoints kvm:EVENTS on, from an emptied buffer, and turns
    them off again; returns during()'s result and the trace's text. With strict=False a
    tracefs write or read that fails is skipped (best effort) instead of raising."""
    def put(name, value):
        try:
            with open(os.path.join(tracing, name), "w") as f:
                f.write(value)
        except OSError:
            if strict:
                raise

    put("tracing_on", "0")
    put("trace", "")
    if buffer_kib:
        put("buffer_size_kb", str(buffer_kib))
    for event in events:
        put(f"events/kvm/{event}/enable", "1")
    try:
        put("tracing_on", "1")
        result = during()
    finally:
        put("tracing_on", "0")
        for event in events:
            put(f"events/kvm/{event}/enable", "0")
    try:
        with open(os.path.join(tracing, "trace"), errors="replace") as f:
            text = f.read()
    except OSError:
        if strict:
            raise
        text = ""
    return result, text


class FirstGuestEntry:
    """The moment a VMM first enters its guest, from the kvm:kvm_entry tracepoint in a
    trace instance of its own, on the CLOCK_MONOTONIC clock ("mono"): the first KVM_RUN's,
    seen by the kernel, for any VMM binary, static ones included (the LD_PRELOAD probe
    cannot reach into a static binary). The buffer keeps its first events (no
    overwrite), and the tracepoint is turned off as soon as the first one is seen: the
    emulated sandbox froze in 3 of 5 boot runs that kept it on for whole boots (it
    sits right before VMRUN)."""

    INSTANCE = "instances/boot-bench-first-entry"
    ENTRY = re.compile(r"-(\d+)\s+\[\d+\].*?\s(\d+)\.(\d+): kvm_entry:")

    def __init__(self, tracing):
        self.dir = os.path.join(tracing, self.INSTANCE)
        if not os.path.isdir(self.dir):
            os.mkdir(self.dir)
        self._put("trace_clock", "mono")
        self._put("buffer_size_kb", "64")
        self._put("options/overwrite", "0")
        self.armed = False
        self.entered_ns = None

    @classmethod
    def open(cls):
        """An instance where tracefs has KVM's tracepoints and takes instances, else None."""
        tracing = kvm_tracefs()
        if not tracing:
            return None
        try:
            return cls(tracing)
        except OSError:
            return None

    def _put(self, name, value):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(value)

    def arm(self):
        self._put("tracing_on", "0")
        self._put("trace", "")
        self._put("events/kvm/kvm_entry/enable", "1")
        self._put("tracing_on", "1")
        self.armed = True
        self.entered_ns = None

    def _disarm(self):
        if self.armed:
            self._put("tracing_on", "0")
            self._put("events/kvm/kvm_entry/enable", "0")
            self.armed = False

    def poll(self, pid):
        """While armed: looks for the first guest entry by a thread of process pid; once
        seen (or the process is gone) turns the tracepoint off. True when done."""
        if not self.armed:
            return True
        try:
            tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")}
        except OSError:
            self._disarm()
            return True
        with open(os.path.join(self.dir, "trace"), errors="replace") as f:
            for line in f:
                m = self.ENTRY.search(line)
                if m and int(m.group(1)) in tids:
                    self.entered_ns = int(m.group(2)) * 10**9 + int(m.group(3).ljust(9, "0")[:9])
                    self._disarm()
                    return True
        return False

    def first_entry_ns(self, pid):
        """CLOCK_MONOTONIC ns of the first guest entry by a thread of process pid, or None."""
        self.poll(pid)
        self._disarm()
        return self.entered_ns

    def close(self):
        try:
            self._disarm()
            self._put("events/kvm/kvm_entry/enable", "0")
            os.rmdir(self.dir)
        except OSError:
            pass


# Headings of the sections that io_bench.py and micro_report.py add to results.md.
MD_SECTION_HEADINGS = ("I/O benchmark,", "Microbenchmarks,", "Supervisor benchmark,")


# QEMU's devices beyond the vmm's command line equivalents, by default.
QEMU_DEVICES = ("virtio-rng-device",)


def add_launch_options(p, *, memory, timeout, cmdline="console=ttyS0",
                       cmdline_help="kernel command line for both (default: the vmm's default)",
                       initrd_help="guest initramfs (required unless --from-json)"):
    """The options every launcher of the two VMMs shares (Run.command reads them): the
    binaries, the guest (kernel, initramfs, memory, vCPUs, command line), the wait for
    ready, QEMU's CPU, machine properties and extra arguments, and --only."""
    p.add_argument("--vmm", default="build/bin/vmm")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--kernel", help="guest bzImage (required unless --from-json)")
    p.add_argument("--initrd", help=initrd_help)
    p.add_argument("--memory", type=int, default=memory, help="guest MiB")
    p.add_argument("--vcpus", type=int, default=2)
    p.add_argument("--cmdline", default=cmdline, help=cmdline_help)
    p.add_argument("--timeout", type=float, default=timeout, help="seconds per boot to ready")
    p.add_argument("--qemu-cpu", default="host")
    p.add_argument("--qemu-machine-opts", default="rtc=on",
                   help="microvm properties (default rtc=on: under KVM microvm has no "
                        "CMOS RTC unless asked, the vmm has one, and the guest kernel "
                        "stalls probing a missing one)")
    p.add_argument("--qemu-extra", nargs=argparse.REMAINDER, default=[],
                   help="further QEMU arguments (the rest of the line)")
    p.add_argument("--only", choices=["vmm", "qemu"], help="boot one of them only")


def put_json_section(out, key, value):
    """Sets `key` in OUT/results.json, keeping the file's other sections."""
    path = os.path.join(out, "results.json")
    data = {}
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        pass
    data[key] = value
    os.makedirs(out, exist_ok=True)  # --from-json may name a new --out
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=2)
    os.replace(path + ".tmp", path)
    return path


def put_md_section(out, heading, section):
    """Puts `section` (starting with `heading`) into OUT/results.md, replacing an
    earlier one with that heading and keeping the others."""
    md = os.path.join(out, "results.md")
    old = ""
    try:
        with open(md) as f:
            old = f.read()
    except OSError:
        pass
    at = old.find(heading)
    if at >= 0:
        ends = [e for e in (old.find(h, at + 1) for h in MD_SECTION_HEADINGS) if e > at]
        old = old[:at] + (old[min(ends):] if ends else "")
    with open(md, "w") as f:
        f.write((old.rstrip("\n") + "\n\n" if old.strip() else "") + section)
    return md


def kvm_stats(pid):
    """The VM's counters in debugfs (VM-wide sums of the vCPU statistics), {} when absent.
    A process with several VMs (none here) counts its newest one."""
    dirs = glob.glob(f"{DEBUGFS}/kvm/{pid}-*")
    if not dirs:
        return {}
    d = max(dirs, key=lambda p: int(p.rsplit("-", 1)[1]))
    stats = {}
    for name in os.listdir(d):
        path = os.path.join(d, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path) as f:
                stats[name] = int(f.read().strip())  # histograms (several numbers) are skipped
        except (OSError, ValueError):
            pass
    return stats


def stock_kernel():
    """Debian's newest installed kernel that has its modules, or None."""
    def version_key(path):
        return [int(n) if n.isdigit() else n for n in re.split(r"(\d+)", path)]
    for path in sorted(glob.glob("/boot/vmlinuz-*"), key=version_key, reverse=True):
        if os.path.isdir(f"/lib/modules/{path[len('/boot/vmlinuz-'):]}/kernel"):
            return path
    return None


def mount_debugfs():
    """None when KVM's statistics are readable, else why not."""
    if not os.path.isdir(f"{DEBUGFS}/kvm"):
        r = subprocess.run(["mount", "-t", "debugfs", "none", DEBUGFS], capture_output=True,
                           text=True, timeout=30)
        if not os.path.isdir(f"{DEBUGFS}/kvm"):
            return f"no {DEBUGFS}/kvm ({r.stderr.strip() or 'not mounted'}): no VM exit figures"
    return None


class Run:
    """One boot of one VMM: spawns, follows progress, measures, ends."""

    def __init__(self, args, kind, index, workdir):
        self.args = args
        self.kind = kind
        self.index = index
        self.workdir = workdir
        self.probe_file = os.path.join(workdir, f"{kind}-{index}.probe")
        self.console = os.path.join(workdir, f"{kind}-{index}.console")
        self.stderr_path = os.path.join(workdir, f"{kind}-{index}.stderr")
        self.proc = None
        self.result = {"vmm": kind, "rep": index}
        # boot_bench's FirstGuestEntry (main() sets it); other launchers have none.
        self.first_entry = getattr(args, "first_entry", None)

    def command(self, progress_fd):
        a = self.args
        if self.kind == "vmm":
            return [a.vmm, "--kernel", a.kernel, "--initrd", a.initrd,
                    "--memory", str(a.memory), "--vcpus", str(a.vcpus),
                    "--cmdline", a.cmdline, "--serial", f"file:{self.console}",
                    "--events", str(progress_fd), "--id", f"bench{self.index}"]
        machine = "microvm" + (f",{a.qemu_machine_opts}" if a.qemu_machine_opts else "")
        cmd = [a.qemu, "-M", machine, "-nodefaults", "-no-user-config", "-nographic",
               "-accel", "kvm", "-cpu", a.qemu_cpu, "-m", str(a.memory), "-smp", str(a.vcpus),
               "-kernel", a.kernel, "-initrd", a.initrd, "-append", a.cmdline,
               "-serial", f"file:{self.console}",
               "-chardev", f"file,id=bootprogress,path=/proc/self/fd/{progress_fd}",
               "-device", "isa-debugcon,iobase=0x402,chardev=bootprogress"]
        for dev in a.qemu_device:
            cmd += ["-device", dev]
        return cmd + a.qemu_extra

    def start(self):
        r, w = os.pipe()
        os.set_blocking(r, False)
        env = dict(os.environ)
        env["LD_PRELOAD"] = self.args.probe
        env["KVM_RUN_PROBE_FILE"] = self.probe_file
        cmd = self.command(w)
        self.result["command"] = cmd
        err = open(self.stderr_path, "wb")
        if self.first_entry:
            self.first_entry.arm()
        self.t0 = now_ns()
        self.proc = subprocess.Popen(cmd, env=env, pass_fds=(w,), stdin=subprocess.DEVNULL,
                                     stdout=err, stderr=err, close_fds=True)
        os.close(w)
        err.close()
        self.read_fd = r

    def follow(self):
        """Reads progress until ready; False on timeout or exit."""
        deadline = time.monotonic() + self.args.timeout
        buf = b""
        stamps = {}
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.result["error"] = f"no ready within {self.args.timeout} s"
                return False
            # Until the guest is first entered (no progress can come before), the
            # tracepoint is looked at every 20 ms, to turn it off right after.
            waiting_for_entry = (self.first_entry is not None
                                 and not self.first_entry.poll(self.proc.pid))
            ready, _, _ = select.select([self.read_fd], [], [],
                                        min(left, 0.02 if waiting_for_entry else 1.0))
            if not ready:
                if self.proc.poll() is not None:
                    self.result["error"] = f"exited with status {self.proc.returncode} before ready"
                    return False
                continue
            try:
                data = os.read(self.read_fd, 4096)
            except BlockingIOError:
                continue
            t = now_ns()
            if not data:
                self.proc.wait(timeout=5)
                self.result["error"] = f"exited with status {self.proc.returncode} before ready"
                return False
            if self.kind == "qemu":
                for byte in data:
                    stamps.setdefault(byte, t)
            else:
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    name = ev.get("event")
                    if name == "ready":
                        stamps.setdefault(CODE_READY, t)
                        self.result["vmm_ready_ms_since_start"] = ev.get("ms_since_start")
                    elif name == "progress":
                        stamps.setdefault(ev.get("code"), t)
                    elif name == "kernel-started":
                        self.result.setdefault("kernel_started_ms", (t - self.t0) / 1e6)
            if CODE_INIT_STARTED in stamps:
                self.result["init_started_ms"] = (stamps[CODE_INIT_STARTED] - self.t0) / 1e6
            if CODE_READY in stamps:
                self.result["ready_ms"] = (stamps[CODE_READY] - self.t0) / 1e6
                return True

    def measure(self):
        entered = self.first_entry.first_entry_ns(self.proc.pid) if self.first_entry else None
        probed = None
        try:
            with open(self.probe_file) as f:
                probed = (int(f.read().strip()) - self.t0) / 1e6
            # Kept beside the tracepoint's figure, which comes a little later (0.4-9 ms in
            # the emulated sandbox): the first KVM_RUN sets the vCPU up before it enters.
            self.result["first_kvm_run_probe_ms"] = probed
        except (OSError, ValueError):
            pass
        if entered is not None:
            self.result["first_kvm_run_ms"] = (entered - self.t0) / 1e6
            self.result["first_kvm_run_source"] = "kvm:kvm_entry"
        elif probed is not None:
            self.result["first_kvm_run_ms"] = probed
            self.result["first_kvm_run_source"] = "LD_PRELOAD probe"
        else:
            self.result["probe_error"] = ("no kvm:kvm_entry event and no probe file "
                                          "(a static binary cannot take the LD_PRELOAD probe)")
        if self.args.settle > 0:
            time.sleep(self.args.settle)
        without, total, guest, excluded = smaps_rss(smaps_mappings(self.proc.pid),
                                                    self.args.memory * MiB)
        self.result.update(rss_without_guest_kib=without, rss_total_kib=total,
                           guest_rss_kib=guest, excluded_mappings=excluded)
        stats = kvm_stats(self.proc.pid)
        for name, _ in EXIT_REASONS:
            if name in stats:
                self.result[f"kvm_{name}"] = stats[name]

    def end(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.result.setdefault("error", "could not reap the VMM process")
        os.close(self.read_fd)

    def tail(self, path, n=15):
        try:
            with open(path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def go(self):
        try:
            self.start()
            if self.follow():
                self.measure()
        except Exception as e:  # noqa: BLE001 - reported, and the run is ended below
            self.result["error"] = f"{type(e).__name__}: {e}"
        finally:
            self.end()
        if "error" in self.result:
            self.result["console_tail"] = self.tail(self.console)
            self.result["stderr_tail"] = self.tail(self.stderr_path)
        return self.result


def add_derived(runs):
    for r in runs:
        if "first_kvm_run_ms" in r and "init_started_ms" in r:
            r["guest_to_init_ms"] = r["init_started_ms"] - r["first_kvm_run_ms"]


def summary_of(keys, kinds, values_for):
    """For each key: median, min, max and count of values_for(key, kind) per VMM kind, and
    the ratio of the first kind's median to the second's when both have figures."""
    summary = {}
    for key in keys:
        entry = {}
        for kind in kinds:
            values = values_for(key, kind)
            if values:
                entry[kind] = {"median": statistics.median(values), "min": min(values),
                               "max": max(values), "n": len(values)}
        if len(entry) == 2 and entry[kinds[1]]["median"]:
            entry["ratio"] = entry[kinds[0]]["median"] / entry[kinds[1]]["median"]
        summary[key] = entry
    return summary


def summarize(runs, kinds):
    add_derived(runs)
    return summary_of([key for key, _, _ in METRICS], kinds, lambda key, kind: [
        r[key] for r in runs if r["vmm"] == kind and key in r and "error" not in r])


def fmt(value, unit):
    if unit == "count":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"
    mib = value / 1024
    return f"{mib:.2f} MiB" if mib < 10 else f"{mib:.1f} MiB"


def summary_cells(entry, fmt_value):
    """The table cells of one summary entry: "median (min–max)" for the vmm and for QEMU
    ("–" when absent), and the ratio."""
    cells = []
    for kind in ("vmm", "qemu"):
        if kind in entry:
            s = entry[kind]
            cells.append(f"{fmt_value(s['median'])} ({fmt_value(s['min'])}–{fmt_value(s['max'])})")
        else:
            cells.append("–")
    cells.append(f"{entry['ratio']:.2f}" if "ratio" in entry else "–")
    return cells


def markdown(summary, meta):
    lines = [f"| figure ({meta['reps']} boots each) | vmm: median (min–max) "
             f"| QEMU microvm: median (min–max) | vmm / QEMU |",
             "|---|---|---|---|"]
    for key, label, unit in METRICS:
        e = summary.get(key, {})
        if not e:
            continue
        vmm, qemu, ratio = summary_cells(e, lambda v, unit=unit: fmt(v, unit))
        lines.append(f"| {label} | {vmm} | {qemu} | {ratio} |")
    return "\n".join(lines) + "\n"


def write_report(out, meta, runs, kinds, failed_attempts=()):
    summary = summarize(runs, kinds)
    os.makedirs(out, exist_ok=True)  # --from-json may name a new --out
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"meta": meta, "summary": summary, "runs": runs,
                   "failed_attempts": list(failed_attempts)}, f, indent=2)
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(f"Boot benchmark, {meta['date']}: {meta['reps']} boots each, interleaved; guest "
                f"{meta['memory_mib']} MiB, {meta['vcpus']} vCPUs, cmdline `{meta['cmdline']}`; "
                f"{meta['qemu_version']}"
                + (f"; {len(failed_attempts)} failed attempt(s) booted again "
                   f"(\"failed_attempts\" in results.json)" if failed_attempts else "")
                + ".\n\n")
        f.write(markdown(summary, meta))
    log(f"results: {os.path.join(out, 'results.json')}, {os.path.join(out, 'results.md')}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=10)
    add_launch_options(p, memory=256, timeout=120)
    p.add_argument("--probe", default="build/bench/kvm_run_probe.so")
    p.add_argument("--first-kvm-run-from", choices=["trace", "probe"], default="trace",
                   help="the kvm:kvm_entry tracepoint (any binary; the default where tracefs "
                        "has it) or the LD_PRELOAD probe only (dynamic binaries)")
    p.add_argument("--retries", type=int, default=1,
                   help="boots again a boot that failed (no ready in time, a crash), at most "
                        "this often; failed attempts are kept in results.json "
                        "(failed_attempts) without their figures counting")
    p.add_argument("--settle", type=float, default=1.0,
                   help="seconds between ready and the RSS reading")
    p.add_argument("--qemu-device", action="append", default=None,
                   help=f"extra QEMU -device (repeatable; default: {' '.join(QEMU_DEVICES)}, "
                        "as the vmm always has an entropy device)")
    p.add_argument("--stock-kernel", action="store_true",
                   help="boot Debian's own kernel (newest /boot/vmlinuz-* with modules) "
                        "instead of --kernel (e.g. scripts/bench --boot-only --boot-opt "
                        "--stock-kernel)")
    p.add_argument("--out", default="build/bench")
    p.add_argument("--keep-consoles", action="store_true",
                   help="keep each boot's serial console log in OUT/consoles/")
    p.add_argument("--from-json", metavar="RESULTS_JSON",
                   help="boot nothing: recompute the summary and table of an earlier run")
    a = p.parse_args()
    if a.from_json:
        with open(a.from_json) as f:
            old = json.load(f)
        kinds = list(dict.fromkeys(r["vmm"] for r in old["runs"]))
        write_report(os.path.abspath(a.out), old["meta"], old["runs"], kinds,
                     old.get("failed_attempts", []))
        return 0
    if a.stock_kernel:  # wins over --kernel, so scripts/bench --boot-opt --stock-kernel works
        a.kernel = stock_kernel()
        if not a.kernel:
            p.error("--stock-kernel: no /boot/vmlinuz-* with modules in /lib/modules "
                    "(install the Debian package linux-image-amd64)")
    if not a.kernel or not a.initrd:
        p.error("--kernel (or --stock-kernel) and --initrd are required")
    if a.qemu_device is None:
        a.qemu_device = list(QEMU_DEVICES)
    for attr in ("vmm", "kernel", "initrd", "probe", "out"):
        setattr(a, attr, os.path.abspath(getattr(a, attr)))
    a.qemu = shutil.which(a.qemu) or a.qemu

    problems = [f"{what} not found: {path}" for what, path in
                (("vmm", a.vmm), ("kernel", a.kernel), ("initrd", a.initrd), ("probe", a.probe))
                if not os.path.exists(path)]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        problems.append("/dev/kvm is not usable here (run through scripts/kvm-sandbox)")
    if not os.path.exists(a.qemu):
        problems.append(f"QEMU not found: {a.qemu}")
    if problems:
        for pr in problems:
            print(f"boot_bench: {pr}", file=sys.stderr)
        return 2

    # Ended from outside: unwind, so that the running boot's VMM is killed and reaped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    kinds = [a.only] if a.only else ["vmm", "qemu"]
    os.makedirs(a.out, exist_ok=True)
    debugfs_note = mount_debugfs()
    if debugfs_note:
        log(f"warning: {debugfs_note}")
    workdir = tempfile.mkdtemp(prefix="boot-bench.")
    runs = []
    failed = 0
    failed_attempts = []
    a.first_entry = FirstGuestEntry.open() if a.first_kvm_run_from == "trace" else None
    if not a.first_entry and a.first_kvm_run_from == "trace":
        log("warning: no kvm:kvm_entry tracepoint here; first KVM_RUN from the LD_PRELOAD "
            "probe, which a static VMM binary does not take")
    try:
        for rep in range(1, a.reps + 1):
            for kind in kinds:
                for attempt in range(1, a.retries + 2):
                    r = Run(a, kind, rep, workdir).go()
                    if "error" not in r:
                        break
                    log(f"boot {rep}/{a.reps} {kind}: FAILED: {r['error']}")
                    for part in ("console_tail", "stderr_tail"):
                        if r.get(part):
                            log(f"  {part.replace('_', ' ')}:\n    " + r[part].replace("\n", "\n    "))
                    if attempt <= a.retries:
                        # The emulated sandbox stalls a guest now and then, either VMM's
                        # (docs/performance.md): kept as evidence, not counted, and booted again.
                        failed_attempts.append(r)
                        log(f"boot {rep}/{a.reps} {kind}: booting again (attempt {attempt + 1})")
                runs.append(r)
                if "error" in r:
                    failed += 1
                else:
                    extra = f", first KVM_RUN after {r['first_kvm_run_ms']:.0f} ms" \
                        if "first_kvm_run_ms" in r else ", no probe figure"
                    log(f"boot {rep}/{a.reps} {kind}: ready after {r['ready_ms'] / 1000:.1f} s"
                        f"{extra}, RSS {r['rss_without_guest_kib'] / 1024:.1f} MiB without guest"
                        f" RAM ({r['rss_total_kib'] / 1024:.1f} MiB total)"
                        + (f", {r['kvm_exits']} VM exits" if "kvm_exits" in r else ""))
    finally:
        if a.first_entry:
            a.first_entry.close()
        if a.keep_consoles:
            dest = os.path.join(a.out, "consoles")
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(workdir, dest, ignore=shutil.ignore_patterns("*.probe"))
        shutil.rmtree(workdir, ignore_errors=True)

    qemu_version = subprocess.run([a.qemu, "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.splitlines()[0]
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "reps": a.reps,
        "host_kernel": platform.release(),
        "cpus": os.cpu_count(),
        "qemu_version": qemu_version,
        "memory_mib": a.memory,
        "vcpus": a.vcpus,
        "cmdline": a.cmdline,
        "kernel": a.kernel,
        "initrd": a.initrd,
        "rss_rule": f"RSS without guest RAM = sum of Rss over /proc/PID/smaps mappings smaller "
                    f"than the guest memory size ({a.memory} MiB); read {a.settle} s after ready",
        "clock": "CLOCK_MONOTONIC, from just before the launcher spawns the VMM",
        "first_kvm_run_rule": ("the VMM's first kvm:kvm_entry event (a trace instance on the "
                               "mono clock)" if a.first_entry else
                               "the LD_PRELOAD probe's stamp at the first KVM_RUN ioctl"),
        "exits_rule": f"{DEBUGFS}/kvm/PID-FD/<reason> (sums over the vCPUs) read with the RSS, "
                      "after ready: " + (debugfs_note or "ok"),
        "failed_boots": failed,
        "failed_attempts": len(failed_attempts),
        "qemu_options": {"cpu": a.qemu_cpu, "machine": f"microvm,{a.qemu_machine_opts}",
                          "devices": a.qemu_device, "extra": a.qemu_extra},
    }
    write_report(a.out, meta, runs, kinds, failed_attempts)
    if failed:
        print(f"boot_bench: {failed} boot(s) failed (see above and results.json)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
