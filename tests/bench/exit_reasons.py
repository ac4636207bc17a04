#!/usr/bin/env python3
"""VM exits from exec to ready, by reason, as KVM's tracepoints count them.

KVM's debugfs statistics (what boot_bench.py reports) do not count MSR,
CPUID or nested-page-fault exits apart; the kvm:kvm_exit tracepoint names
every exit's reason and guest RIP. This boots the guest once under the vmm
and once under QEMU's microvm (boot_bench.py's command lines), with
kvm:kvm_exit, kvm:kvm_msr and kvm:kvm_cpuid traced from the spawn to the
ready code, and prints per VMM: exits by reason, the MSRs accessed most, the
CPUID leaves asked most and the guest RIPs of the commonest exits that are
neither port I/O nor interrupts.

    scripts/kvm-sandbox --mem 3G -- python3 tests/bench/exit_reasons.py \\
        --kernel bzImage --initrd initramfs.cpio.gz

Needs root and tracefs (mounted at /sys/kernel/tracing if need be).
Standard library only.
"""

import argparse
import collections
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench as bb  # noqa: E402

EVENTS = ("kvm_exit", "kvm_msr", "kvm_cpuid")
EXIT = re.compile(r"kvm_exit: vcpu \d+ reason (\S+) rip (0x[0-9a-f]+)")
MSR = re.compile(r"kvm_msr: msr_(read|write) ([0-9a-f]+)")
CPUID = re.compile(r"kvm_cpuid: func ([0-9a-f]+)")
# Exits whose RIPs say little (the console's port I/O, host interrupts).
UNINTERESTING = {"io", "interrupt", "hlt", "vintr"}


def count(trace):
    reasons, msrs, cpuids, rips = (collections.Counter() for _ in range(4))
    for line in trace.splitlines():
        m = EXIT.search(line)
        if m:
            reasons[m.group(1)] += 1
            if m.group(1) not in UNINTERESTING:
                rips[f"{m.group(1)} at {m.group(2)}"] += 1
        elif m := MSR.search(line):
            msrs[f"{m.group(1)} 0x{m.group(2)}"] += 1
        elif m := CPUID.search(line):
            cpuids[f"0x{m.group(1)}"] += 1
    return reasons, msrs, cpuids, rips


def boot_traced(args, kind, tracing, workdir):
    """Boots once with the events on; returns the counters, or None at no ready."""
    run = bb.Run(args, kind, 1, workdir)

    def boot():
        run.start()
        return run.follow()

    try:
        ready, trace = bb.trace_kvm_events(tracing, EVENTS, boot, buffer_kib=args.buffer_kib)
    finally:
        run.end()
    if not ready:
        print(f"{kind}: {run.result.get('error', 'no ready')}", file=sys.stderr)
        return None
    return count(trace)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    bb.add_launch_options(p, memory=256, timeout=120,
                          initrd_help="guest initramfs (required)")
    p.add_argument("--top", type=int, default=12, help="rows per list")
    p.add_argument("--buffer-kib", type=int, default=65536,
                   help="trace buffer per CPU (a boot to ready traces about 40k exits)")
    args = p.parse_args()
    if not args.kernel or not args.initrd:
        p.error("--kernel and --initrd are required")
    args.vmm = os.path.abspath(args.vmm)
    # The rest of what boot_bench.Run reads; the LD_PRELOAD probe is not needed here.
    args.probe = ""
    args.settle = 0
    args.qemu_device = list(bb.QEMU_DEVICES)

    tracing = bb.kvm_tracefs()
    if tracing is None:
        print(f"exit_reasons: no KVM tracepoints under {bb.TRACEFS} (tracefs not mountable?)",
              file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="exit-reasons.")
    status = 0
    for kind in [args.only] if args.only else ["vmm", "qemu"]:
        counted = boot_traced(args, kind, tracing, workdir)
        if counted is None:
            status = 1
            continue
        reasons, msrs, cpuids, rips = counted
        print(f"== {kind}: {sum(reasons.values())} exits from exec to ready")
        for title, counter in (("by reason", reasons), ("MSRs", msrs), ("CPUID leaves", cpuids),
                               ("commonest exits by guest RIP", rips)):
            print(f"  {title}:")
            for key, n in counter.most_common(args.top):
                print(f"    {n:8d}  {key}")
        sys.stdout.flush()
    shutil.rmtree(workdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
