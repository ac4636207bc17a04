#!/usr/bin/env python3
"""I/O figures of build/bin/vmm side by side with QEMU's microvm machine.

Runs where /dev/kvm works (scripts/bench starts it inside scripts/kvm-sandbox).
For R repetitions, interleaved vmm/qemu/vmm/qemu..., it boots the same guest
(kernel, the bench initramfs with fio and iperf3, memory, vCPUs, command line)
under each with one virtio-blk disk (a fresh 1 GiB sparse raw file in the
work directory, /tmp by default: tmpfs in the sandbox) and one virtio-net card
(a tap on a bridge holding 198.18.0.1/24), drives the guest over its serial
console and measures, in this order, in the same boot:

  fio on /dev/vda     (direct=1, libaio, time based): sequential read and
                      write (1 MiB, iodepth 8) in MiB/s, 4 KiB random read
                      and write at iodepth 1 and 32 in IOPS
  VM exits/request    per fio job: the VM's KVM statistics in debugfs
                      (/sys/kernel/debug/kvm/PID-FD/exits, ...) read just
                      before and just after the job (the guest waits for
                      the launcher at both points), divided by the requests
                      fio reports (total_ios)
  iperf3              guest -> host and host -> guest (-R) to an iperf3
                      server on the bridge address, receiver's bits/s
  ping                guest -> host, average round trip
  RSS                 /proc/PID/smaps of the VMM process after all that:
                      mappings smaller than guest memory (boot_bench.py's rule)

The console protocol: every step is one typed shell line that echoes a
marker, waits for a line from the launcher (`read`), runs the tool with its
output to a file, echoes an end marker with the status, waits again, then
prints the output between two more markers. The markers are typed split by
quotes ("@@E""ND"), so the terminal's echo of the typed line never matches.

Writes the "io" section of OUT/results.json (the file's other sections are
kept) and the I/O table to OUT/results-io.md, and appends it to
OUT/results.md (replacing an earlier I/O section there), after every run,
so a sandbox that dies keeps what it measured: --resume, in a fresh
sandbox, keeps those runs and boots only the missing ones. Exits 3 when a
run failed all its attempts (what scripts/bench resumes after), 2 on bad
options or a host without what it needs. Standard library only; shares
boot_bench.py's VMM launcher and RSS rule.
"""

import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench as bb  # noqa: E402

MiB = 1024 * 1024
HOST_IP = "198.18.0.1"
GUEST_IP = "198.18.0.2"
BRIDGE = "iob-br0"
# The exit status when a run failed all its attempts: distinct from Python's 1
# for an error of this script, which a fresh sandbox would not mend.
EXIT_RUNS_FAILED = 3
MD_HEADING = "I/O benchmark,"

# name, fio arguments, figure key, label
FIO_JOBS = [
    ("seqread", "--rw=read --bs=1M --iodepth=8", "bw_mib_s", "fio sequential read, 1 MiB, iodepth 8"),
    ("seqwrite", "--rw=write --bs=1M --iodepth=8", "bw_mib_s", "fio sequential write, 1 MiB, iodepth 8"),
    ("randread-qd1", "--rw=randread --bs=4k --iodepth=1", "iops", "fio random read, 4 KiB, iodepth 1"),
    ("randread-qd32", "--rw=randread --bs=4k --iodepth=32", "iops", "fio random read, 4 KiB, iodepth 32"),
    ("randwrite-qd1", "--rw=randwrite --bs=4k --iodepth=1", "iops", "fio random write, 4 KiB, iodepth 1"),
    ("randwrite-qd32", "--rw=randwrite --bs=4k --iodepth=32", "iops", "fio random write, 4 KiB, iodepth 32"),
]

UNITS = {"bw_mib_s": ("MiB/s", "higher"), "iops": ("IOPS", "higher"),
         "exits_per_io": ("exits", "lower"), "mbit_s": ("Mbit/s", "higher"),
         "rtt_ms": ("ms", "lower"), "kib": ("KiB", "lower")}


def metrics_list():
    """(key, label, unit kind) of every figure in table order."""
    m = []
    for name, _, kind, label in FIO_JOBS:
        m.append((f"fio_{name}", label, kind))
    for name, _, _, label in FIO_JOBS:
        m.append((f"exits_{name}", f"VM exits per request, {label[4:]}", "exits_per_io"))
    m += [("net_tx_mbit_s", "iperf3 guest → host (TCP, receiver)", "mbit_s"),
          ("net_rx_mbit_s", "iperf3 host → guest (TCP, -R, receiver)", "mbit_s"),
          ("ping_avg_ms", "ping guest → host, average round trip", "rtt_ms"),
          ("rss_without_guest_kib", "RSS without guest RAM, after the I/O", "kib"),
          ("rss_total_kib", "RSS total, after the I/O", "kib")]
    return m


def log(msg):
    bb.log(f"[{time.strftime('%H:%M:%S')}] {msg}")


def sh(cmd, check=True):
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=60)
    if check and r.returncode != 0:
        raise RuntimeError(f"`{cmd}` failed: {r.stderr.strip()}")
    return r


class Console:
    """The VMM's serial console on pipes: a reader thread collects stdout."""

    def __init__(self, proc):
        self.proc = proc
        self.buf = bytearray()
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        fd = self.proc.stdout.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.cond.notify_all()
                    return
                self.buf += data
                self.cond.notify_all()

    def size(self):
        with self.cond:
            return len(self.buf)

    def type(self, text):
        try:
            self.proc.stdin.write(text.encode())
            self.proc.stdin.flush()
        except OSError:
            pass  # the VMM is gone: the wait that follows reports it

    def wait(self, pattern, timeout, start=0):
        """The first match of regex `pattern` (bytes) after `start`, or None at the timeout
        or when the VMM exits."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(self.buf, start)
                if m:
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or not self.thread.is_alive():
                    return None
                self.cond.wait(min(left, 1.0))

    def text(self, start=0, end=None):
        with self.cond:
            return bytes(self.buf[start:end]).decode(errors="replace").replace("\r", "")

    def tail(self, n=40):
        return "\n".join(self.text().splitlines()[-n:])


class StepTimeout(Exception):
    pass


def quiet_thp():
    """In the emulated sandbox (its own kernel, whose command line names the sandbox), turns
    transparent huge pages off: with them, the sandbox kernel's khugepaged collapsing the
    guests' memory under nested SVM in QEMU's TCG was seen to hang for minutes and, once,
    to end in a kernel stack overflow in KVM, under either VMM. Never done on a real host.
    Returns what it did, or None."""
    try:
        with open("/proc/cmdline") as f:
            if "sandbox.scratch=" not in f.read():
                return None
        with open("/sys/kernel/mm/transparent_hugepage/enabled", "w") as f:
            f.write("never")
        return "emulated sandbox: transparent huge pages off (khugepaged stalls under TCG)"
    except OSError as e:
        return f"emulated sandbox: could not turn transparent huge pages off: {e}"


def kvm_trace_sample(seconds=0.3, events=("kvm_exit", "kvm_mmio", "kvm_emulate_insn",
                                            "kvm_inj_virq", "kvm_pio")):
    """A short sample of the KVM tracepoints (tracefs, mounted if need be): which exits a
    VM that stopped answering is looping through. "" when tracing is not available."""
    tracing = bb.kvm_tracefs()
    if tracing is None:
        return ""
    _, text = bb.trace_kvm_events(tracing, events, lambda: time.sleep(seconds), strict=False)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    return "\n".join(lines[:400])


def host_addresses_in_trace(trace, modules_text):
    """Guest RIPs of a KVM trace sample that lie inside one of the host kernel's modules
    (/proc/modules text): a guest cannot run there, so such a RIP is the host's own, handed
    to the guest by a broken (emulated) SVM or VMX. See docs/performance.md, "The sandbox's
    defect". Returns "RIP = MODULE+OFFSET" strings, one per distinct RIP."""
    modules = []
    for line in modules_text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith("0x") and int(parts[5], 16) != 0:
            modules.append((parts[0], int(parts[5], 16), int(parts[1])))
    found = []
    for rip in dict.fromkeys(re.findall(r"\brip (0x[0-9a-f]+)", trace)):
        value = int(rip, 16)
        for name, base, size in modules:
            if base <= value < base + size:
                found.append(f"{rip} = {name}+{value - base:#x}")
    return found


def tcp_counters(text):
    """Tcp and TcpExt counters from the text of /proc/net/snmp and /proc/net/netstat."""
    stats = {}
    lines = [ln for ln in text.splitlines() if ": " in ln]
    for names, values in zip(lines[::2], lines[1::2]):
        prefix, _, names = names.partition(": ")
        if prefix not in ("Tcp", "TcpExt") or not values.startswith(prefix + ": "):
            continue
        for n, v in zip(names.split(), values.partition(": ")[2].split()):
            try:
                stats[f"{prefix}.{n}"] = int(v)
            except ValueError:
                pass
    return stats


def parse_terse(text, opts):
    """fio's terse version 3 line: the figures of a one-job run (read and write summed)."""
    lines = [ln for ln in text.splitlines() if ln.startswith("3;")]
    if not lines:
        raise ValueError("no terse line in fio's output")
    f = lines[-1].split(";")
    if len(f) < 90:
        raise ValueError(f"a terse line of {len(f)} fields")
    bs = 1024 * 1024 if "--bs=1M" in opts else 4096
    # 1-based fields: 5 error; read 6 KiB, 7 KiB/s, 8 IOPS, 16 clat mean (us);
    # write 47 KiB, 48 KiB/s, 49 IOPS, 57 clat mean (us)
    kib = int(f[5]) + int(f[46])
    return {"error": int(f[4]), "total_ios": kib * 1024 // bs,
            "bw_mib_s": (int(f[6]) + int(f[47])) / 1024, "iops": int(f[7]) + int(f[48]),
            "clat_ns": max(float(f[15]), float(f[56])) * 1000, "line": lines[-1]}


def parse_iperf(text):
    """iperf3's two summary lines (-f m) as {"sum_sent", "sum_received"} like -J's "end"."""
    end = {}
    for m in re.finditer(r"([\d.]+) Mbits/sec\s+(\d+)?\s*(sender|receiver)", text):
        entry = {"bits_per_second": float(m.group(1)) * 1e6}
        if m.group(2) is not None:
            entry["retransmits"] = int(m.group(2))
        end["sum_sent" if m.group(3) == "sender" else "sum_received"] = entry
    if "sum_received" not in end or "sum_sent" not in end:
        raise ValueError("no sender and receiver lines in iperf3's output")
    return end


def host_tcp_stats():
    """The sandbox's TCP counters: the host end of iperf3 is the receiver guest -> host and
    the sender host -> guest."""
    text = ""
    for path in ("/proc/net/snmp", "/proc/net/netstat"):
        try:
            with open(path) as f:
                text += f.read()
        except OSError:
            pass
    return tcp_counters(text)


def start_iperf_server(workdir, label):
    """iperf3 -s on the bridge's address, its output in WORKDIR/iperf3-server-LABEL.log."""
    with open(os.path.join(workdir, f"iperf3-server-{label}.log"), "wb") as out:
        return subprocess.Popen(["iperf3", "-s", "-B", HOST_IP], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out)


def stop_iperf_server(server):
    if server is not None and server.poll() is None:
        server.kill()
        server.wait(timeout=30)


def http_get_unix(path, url, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(f"GET {url} HTTP/1.1\r\nHost: vm\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return json.loads(body)


def diff(after, before):
    return {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int)}


def diff_virtio(after, before):
    """Per-device differences of the vmm's /metrics virtio counters."""
    out = {}
    for dev, counters in (after or {}).get("virtio", {}).items():
        prev = (before or {}).get("virtio", {}).get(dev, {})
        out[dev] = {k: v - prev.get(k, 0) for k, v in counters.items()
                    if isinstance(v, int) and v - prev.get(k, 0)}
    return out


class IoRun(bb.Run):
    """One boot of one VMM with a disk and a tap; the steps run in its guest."""

    def __init__(self, args, kind, index, workdir):
        super().__init__(args, kind, index, workdir)
        self.disk = os.path.join(args.disk_dir, f"io-bench-{os.getpid()}-{kind}-{index}.raw")
        self.tap = f"iob-{kind[0]}{index}"
        self.api_sock = os.path.join(workdir, f"{kind}-{index}.sock")
        self.console_io = None
        self.result.update(figures={}, steps={})

    def command(self, progress_fd):
        a = self.args
        if self.kind == "vmm":
            return [a.vmm, "--kernel", a.kernel, "--initrd", a.initrd,
                    "--memory", str(a.memory), "--vcpus", str(a.vcpus),
                    "--cmdline", a.cmdline, "--serial", "stdio",
                    "--events", str(progress_fd), "--id", f"iobench{self.index}",
                    "--api-sock", self.api_sock, "--no-reboot",
                    "--disk", f"path={self.disk},id=disk0" + (",direct" if a.direct else ""),
                    "--net", f"tap={self.tap},id=net0"]
        machine = "microvm" + (f",{a.qemu_machine_opts}" if a.qemu_machine_opts else "")
        cache = "none" if a.direct else "writeback"
        cmd = [a.qemu, "-M", machine, "-nodefaults", "-no-user-config", "-display", "none",
               "-accel", "kvm", "-cpu", a.qemu_cpu, "-m", str(a.memory), "-smp", str(a.vcpus),
               "-kernel", a.kernel, "-initrd", a.initrd, "-append", a.cmdline,
               "-serial", "stdio", "-no-reboot",
               "-chardev", f"file,id=bootprogress,path=/proc/self/fd/{progress_fd}",
               "-device", "isa-debugcon,iobase=0x402,chardev=bootprogress"]
        for g in a.qemu_global:
            cmd += ["-global", g]
        cmd += ["-drive", f"file={self.disk},if=none,id=d0,format=raw,cache={cache},aio=io_uring",
                "-device", "virtio-blk-device,drive=d0",
                "-netdev", f"tap,id=n0,ifname={self.tap},script=no,downscript=no",
                "-device", "virtio-net-device,netdev=n0",
                "-device", "virtio-rng-device"]
        return cmd + a.qemu_extra

    def start(self):
        with open(self.disk, "wb") as f:
            f.truncate(self.args.disk_mib * MiB)
        sh(f"ip tuntap add dev {self.tap} mode tap && ip link set {self.tap} master {BRIDGE} "
           f"&& ip link set {self.tap} up")
        r, w = os.pipe()
        os.set_blocking(r, False)
        cmd = self.command(w)
        self.result["command"] = cmd
        err = open(self.stderr_path, "wb")
        self.t0 = bb.now_ns()
        self.proc = subprocess.Popen(cmd, pass_fds=(w,), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=err, close_fds=True)
        os.close(w)
        err.close()
        self.read_fd = r
        self.console_io = Console(self.proc)

    # --- the guest's shell -------------------------------------------------------------
    def shell_ready(self):
        """Types an echo until the console shell answers (input typed before the shell
        opened its tty is lost)."""
        deadline = time.monotonic() + 120
        n = 0
        while time.monotonic() < deadline:
            n += 1
            start = self.console_io.size()
            self.console_io.type(f'echo "@@SH""ELL-{n}"\n')
            if self.console_io.wait(rf"@@SHELL-{n}".encode(), 10, start):
                return
            if self.proc.poll() is not None:
                break
        raise StepTimeout("the console shell never answered")

    def fail(self, msg):
        if self.proc.poll() is not None:
            msg += f" (the VMM exited with status {self.proc.returncode})"
        raise StepTimeout(msg)

    def run_line(self, command, expect, timeout):
        start = self.console_io.size()
        self.console_io.type(command + "\n")
        m = self.console_io.wait(expect.encode(), timeout, start)
        if not m:
            self.fail(f"no '{expect}' within {timeout:.0f} s after `{command}`")
        return m

    def step(self, name, command, timeout, show="cat /tmp/out"):
        """Runs `command` (output to /tmp/out) between two handshakes, then `show`; returns
        (status, what `show` printed, statistics before, after, seconds)."""
        c = self.console_io
        start = c.size()
        c.type(f'echo "@@B""EGIN-{name}"; read _go; {command} >/tmp/out 2>&1; '
               f'echo "@@E""ND-{name} rc=$?"; read _go; echo "@@O""UT-{name}"; {show}; '
               f'echo "@@D""ONE-{name}"\n')
        if not c.wait(rf"@@BEGIN-{name}\r?\n".encode(), 60, start):
            self.fail(f"{name}: no begin marker within 60 s")
        before = self.snapshot()
        t = time.monotonic()
        c.type("\n")
        m = c.wait(rf"@@END-{name} rc=(\d+)".encode(), timeout, start)
        if not m:
            self.fail(f"{name}: not finished within {timeout:.0f} s")
        seconds = time.monotonic() - t
        after = self.snapshot()
        status = int(m.group(1))
        c.type("\n")
        m2 = c.wait(rf"@@DONE-{name}".encode(), 120, m.end())
        if not m2:
            self.fail(f"{name}: output not printed within 120 s")
        m1 = c.wait(rf"@@OUT-{name}\r?\n".encode(), 1, m.end())
        text = c.text(m1.end() if m1 else m.end(), m2.start())
        return status, text, before, after, seconds

    def snapshot(self):
        snap = {"kvm": bb.kvm_stats(self.proc.pid), "tap": self.tap_stats(),
                "host_tcp": host_tcp_stats()}
        if self.kind == "vmm":
            try:
                snap["metrics"] = http_get_unix(self.api_sock, "/metrics")
            except (OSError, ValueError) as e:
                snap["metrics_error"] = str(e)
        return snap

    def tap_stats(self):
        """The host's counters of the tap (its rx is what the guest sent)."""
        d = f"/sys/class/net/{self.tap}/statistics"
        stats = {}
        for name in ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped",
                     "tx_dropped", "rx_errors", "tx_errors"):
            try:
                with open(os.path.join(d, name)) as f:
                    stats[name] = int(f.read())
            except (OSError, ValueError):
                pass
        return stats

    def record_step(self, name, status, before, after, seconds, **extra):
        s = {"status": status, "seconds": round(seconds, 2),
             "kvm": diff(after["kvm"], before["kvm"]), "tap": diff(after["tap"], before["tap"]),
             "host_tcp": {k: v for k, v in diff(after["host_tcp"], before["host_tcp"]).items() if v}}
        if "metrics" in after and "metrics" in before:
            s["vmm_metrics"] = {"vm_exits": diff(after["metrics"].get("vm_exits", {}),
                                                 before["metrics"].get("vm_exits", {})),
                                "virtio": diff_virtio(after["metrics"], before["metrics"])}
        s.update(extra)
        self.result["steps"][name] = s
        return s

    # --- the measurements --------------------------------------------------------------
    def fio(self):
        a = self.args
        for name, opts, kind, _ in FIO_JOBS:
            if a.jobs and name not in a.jobs:
                continue
            cmd = (f"LD_PRELOAD=/usr/lib/fio_noshm.so fio --name={name} --filename=/dev/vda "
                   f"--direct=1 --ioengine={a.ioengine} {opts} --runtime={a.fio_runtime} "
                   f"--time_based --output-format=terse --terse-version=3")
            status, text, before, after, seconds = self.step(name, cmd, a.fio_runtime + 240)
            try:
                if status != 0:
                    raise ValueError(f"fio exited with status {status}")
                job = parse_terse(text, opts)
            except ValueError as e:
                self.result["steps"][name] = {"error": f"{e}", "output": text[-2000:]}
                log(f"  {self.kind} {name}: FAILED: {e}; output tail:\n    "
                    + text[-600:].replace("\n", "\n    "))
                continue
            ios, bw, iops, lat_ns = job["total_ios"], job["bw_mib_s"], job["iops"], job["clat_ns"]
            s = self.record_step(name, status, before, after, seconds, total_ios=ios,
                                 bw_mib_s=bw, iops=iops, clat_mean_us=lat_ns / 1000,
                                 fio_error=job["error"], fio_terse=job["line"])
            self.result["figures"][f"fio_{name}"] = bw if kind == "bw_mib_s" else iops
            exits = s["kvm"].get("exits")
            if exits is not None and ios:
                s["per_io"] = {k: v / ios for k, v in s["kvm"].items()
                               if k.endswith("_exits") or k == "exits"}
                self.result["figures"][f"exits_{name}"] = exits / ios
            figure = f"{bw:.1f} MiB/s" if kind == "bw_mib_s" else f"{iops:.0f} IOPS"
            per = f", {exits / ios:.2f} exits/request" if exits is not None and ios else \
                ", no KVM statistics"
            blk = next((c for dev, c in s.get("vmm_metrics", {}).get("virtio", {}).items()
                        if dev.startswith("virtio-blk")), None)
            if blk and ios:
                # The device's side: how many requests one interrupt, one kick covered.
                per_io = s.setdefault("per_io", {})
                per_io["interrupts"] = blk.get("interrupts", 0) / ios
                per_io["notifications"] = blk.get("notifications", 0) / ios
                per += (f", {per_io['interrupts']:.3f} interrupts and "
                        f"{per_io['notifications']:.3f} kicks per request")
            log(f"  {self.kind} {name}: {figure} ({ios} requests, clat {lat_ns / 1000:.0f} us{per})")

    def net(self):
        a = self.args
        self.run_line(f"ip addr add {GUEST_IP}/24 dev eth0 && ip link set eth0 up && "
                      f"ping -c 1 -W 30 {HOST_IP} >/dev/null; echo \"@@N\"\"ET rc=$?\"",
                      "@@NET rc=0", 90)
        for name, flag, key in (("iperf-tx", "", "net_tx_mbit_s"),
                                ("iperf-rx", " -R", "net_rx_mbit_s")):
            cmd = f"iperf3 -c {HOST_IP} -t {a.iperf_time} -f m{flag}"
            status, text, before, after, seconds = self.step(
                name, cmd, a.iperf_time + 180, show="grep -E 'sender|receiver' /tmp/out || cat /tmp/out")
            try:
                if status != 0:
                    raise ValueError(f"iperf3 exited with status {status}")
                end = parse_iperf(text)
                mbit = end["sum_received"]["bits_per_second"] / 1e6
            except (ValueError, KeyError) as e:
                self.result["steps"][name] = {"error": f"{e}", "output": text[-2000:]}
                log(f"  {self.kind} {name}: FAILED: {e}; output tail:\n    "
                    + text[-600:].replace("\n", "\n    "))
                continue
            self.record_step(name, status, before, after, seconds, mbit_s=mbit,
                             sent_mbit_s=end["sum_sent"]["bits_per_second"] / 1e6,
                             retransmits=end["sum_sent"].get("retransmits"))
            self.result["figures"][key] = mbit
            st = self.result["steps"][name]
            tap, tcp = st["tap"], st["host_tcp"]
            log(f"  {self.kind} {name}: {mbit:.1f} Mbit/s ({end['sum_sent'].get('retransmits')} "
                f"retransmits; tap drops rx {tap.get('rx_dropped')} tx {tap.get('tx_dropped')}; "
                f"host TCP: out-of-order queued {tcp.get('TcpExt.TCPOFOQueue', 0)}, "
                f"retransmitted {tcp.get('Tcp.RetransSegs', 0)}, "
                f"DSACKs sent {tcp.get('TcpExt.TCPDSACKOldSent', 0)})")
        interval = f" -i {a.ping_interval}" if a.ping_interval != 1 else ""
        status, text, before, after, seconds = self.step(
            "ping", f"ping -c {a.ping_count}{interval} {HOST_IP}",
            a.ping_count * max(a.ping_interval, 1) + 120)
        m = re.search(r"min/avg/max = ([\d.]+)/([\d.]+)/([\d.]+)", text)
        loss = re.search(r"(\d+)% packet loss", text)
        if status == 0 and m:
            self.record_step("ping", status, before, after, seconds, min_ms=float(m.group(1)),
                             avg_ms=float(m.group(2)), max_ms=float(m.group(3)),
                             loss_percent=int(loss.group(1)) if loss else None)
            self.result["figures"]["ping_avg_ms"] = float(m.group(2))
            log(f"  {self.kind} ping: avg {m.group(2)} ms (min {m.group(1)}, max {m.group(3)})")
        else:
            self.result["steps"]["ping"] = {"error": f"status {status}", "output": text[-2000:]}
            log(f"  {self.kind} ping: FAILED (status {status}): {text[-300:]}")

    def guest_tcp(self):
        """The guest's TCP counters since boot (both iperf3 runs): how its retransmissions
        came about."""
        _, text, _, _, _ = self.step("guest-tcp", "cat /proc/net/snmp /proc/net/netstat", 60)
        tcp = {k: v for k, v in tcp_counters(text).items() if v and not k.startswith("Tcp.Rto")}
        self.result["guest_tcp"] = tcp
        keys = ("Tcp.RetransSegs", "TcpExt.TCPTimeouts", "TcpExt.TCPLossProbes",
                "TcpExt.TCPFastRetrans", "TcpExt.TCPSACKReorder", "TcpExt.TCPDSACKRecv",
                "TcpExt.TCPSpuriousRTOs", "TcpExt.TCPOFOQueue")
        log(f"  {self.kind} guest TCP: " + ", ".join(f"{k.split('.')[1]} {tcp.get(k, 0)}" for k in keys))

    def go(self):
        a = self.args
        try:
            self.start()
            if not self.follow():
                raise StepTimeout(self.result.pop("error"))
            log(f"{self.kind} {self.index}: ready after {self.result['ready_ms'] / 1000:.1f} s")
            self.shell_ready()
            if not a.skip_fio:
                self.fio()
            if not a.skip_net:
                self.net()
            maps = bb.smaps_mappings(self.proc.pid)  # one reading for all the figures
            without, total, guest, excluded = bb.smaps_rss(maps, a.memory * MiB)
            self.result["figures"].update(rss_without_guest_kib=without, rss_total_kib=total)
            own = bb.own_mappings(maps, a.memory * MiB)
            anonymous = sum(m.get("anonymous_kib", 0) for m in own)
            self.result.update(guest_rss_kib=guest, excluded_mappings=excluded,
                               own_mappings=[m for m in own if m.get("rss_kib")],
                               rss_anonymous_kib=anonymous)
            log(f"  {self.kind} RSS {without / 1024:.2f} MiB without guest RAM "
                f"({anonymous / 1024:.2f} MiB anonymous, the rest mapped files such as the "
                f"program's and libraries' code; {total / 1024:.1f} MiB total)")
            if not a.skip_net:
                self.guest_tcp()
        except Exception as e:  # noqa: BLE001 - reported, and the run is ended below
            self.result["error"] = f"{type(e).__name__}: {e}"
            if isinstance(e, StepTimeout) and self.proc is not None and self.proc.poll() is None:
                try:
                    self.evidence()
                except Exception as e2:  # noqa: BLE001 - evidence is best effort
                    self.result["evidence_error"] = f"{type(e2).__name__}: {e2}"
        finally:
            if self.kind == "vmm" and self.proc is not None and self.proc.poll() is None:
                try:
                    self.result["vmm_metrics_at_end"] = http_get_unix(self.api_sock, "/metrics")
                except (OSError, ValueError) as e:
                    self.result["vmm_metrics_at_end"] = {"error": str(e)}
            if "error" in self.result and self.console_io is not None:
                self.result["console_tail"] = self.console_io.tail(60)
            self.end_all()
        if "error" in self.result:
            self.result["stderr_tail"] = self.tail(self.stderr_path)
        return self.result

    def evidence(self):
        """After a step timed out with the VM still running: the VMM's threads (state and
        kernel wait channel), the KVM statistics, then Ctrl-C to the guest's shell and, if it
        answers, the guest's view of its disk (requests in flight) and of the network."""
        ev = {"kvm": bb.kvm_stats(self.proc.pid), "tap": self.tap_stats()}
        threads = []
        for task in sorted(glob.glob(f"/proc/{self.proc.pid}/task/*")):
            t = {"tid": int(os.path.basename(task))}
            for name in ("comm", "wchan", "syscall"):
                try:
                    with open(os.path.join(task, name)) as f:
                        t[name] = f.read().strip()
                except OSError:
                    pass
            try:
                with open(os.path.join(task, "stat")) as f:
                    t["state"] = f.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                pass
            threads.append(t)
        ev["threads"] = threads
        ev["kvm_trace"] = kvm_trace_sample()
        if ev["kvm_trace"]:
            log("  KVM trace sample (what the vCPUs do now):\n    " +
                "\n    ".join(ev["kvm_trace"].splitlines()[:40]))
            try:
                with open("/proc/modules") as f:
                    host_rips = host_addresses_in_trace(ev["kvm_trace"], f.read())
            except OSError:
                host_rips = []
            if host_rips:
                ev["host_rip_in_guest"] = host_rips
                log("  the guest's RIP is a host kernel address (" + ", ".join(host_rips) +
                    "): the emulated SVM mixed up host and guest state, not a VMM fault "
                    "(docs/performance.md, \"The sandbox's defect\")")
        log(f"  {self.kind}: evidence after the timeout: threads " + "; ".join(
            f"{t.get('comm')} {t.get('state')} {t.get('wchan')}" for t in threads))
        c = self.console_io
        start = c.size()
        c.type("\x03")
        time.sleep(5)
        c.type('\necho "@@EV""IDENCE"; cat /sys/block/vda/inflight /sys/block/vda/stat; '
               'ps; echo "@@EV""DONE"\n')
        m = c.wait(rb"@@EVDONE", 30, start)
        m0 = c.wait(rb"@@EVIDENCE\r?\n", 1, start)
        if m and m0:
            ev["guest"] = c.text(m0.end(), m.start())
            log("  guest after Ctrl-C:\n    " + ev["guest"].replace("\n", "\n    "))
        else:
            ev["guest"] = "the guest's shell did not answer within 35 s of Ctrl-C"
            log(f"  {ev['guest']}")
        self.result["evidence"] = ev

    def end_all(self):
        try:
            self.end()
        finally:
            if self.console_io is not None:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
                self.console_io.thread.join(timeout=10)
                if self.args.keep_consoles:
                    with open(self.console, "w") as f:
                        f.write(self.console_io.text())
            sh(f"ip link del {self.tap}", check=False)
            try:
                os.unlink(self.disk)
            except OSError:
                pass


def summarize(runs, kinds):
    return bb.summary_of([key for key, _, _ in metrics_list()], kinds, lambda key, kind: [
        r["figures"][key] for r in runs if r["vmm"] == kind and key in r["figures"]])


def fmt(value, kind):
    unit = UNITS[kind][0]
    if kind == "kib":
        mib = value / 1024
        return f"{mib:.2f} MiB" if mib < 10 else f"{mib:.1f} MiB"
    if kind == "iops":
        return f"{value:.0f}"
    if kind == "exits_per_io":
        return f"{value:.2f}"
    if kind == "rtt_ms":
        return f"{value:.2f} ms"
    return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"


def markdown(summary, meta):
    lines = [f"| figure ({meta['reps']} runs each) | vmm: median (min–max) "
             f"| QEMU microvm: median (min–max) | vmm / QEMU | better |",
             "|---|---|---|---|---|"]
    for key, label, kind in metrics_list():
        e = summary.get(key, {})
        if not e:
            continue
        vmm, qemu, ratio = bb.summary_cells(e, lambda v, kind=kind: fmt(v, kind))
        unit = UNITS[kind][0]
        label = f"{label} ({unit})" if kind in ("iops", "exits_per_io") else label
        lines.append(f"| {label} | {vmm} | {qemu} | {ratio} | {UNITS[kind][1]} |")
    return "\n".join(lines) + "\n"


def write_report(out, meta, runs, kinds, failed_attempts=()):
    summary = summarize(runs, kinds)
    path = bb.put_json_section(out, "io", {"meta": meta, "summary": summary, "runs": runs,
                                           "failed_attempts": list(failed_attempts)})
    section = (f"{MD_HEADING} {meta['date']}: {meta['reps']} runs each, interleaved; guest "
               f"{meta['memory_mib']} MiB, {meta['vcpus']} vCPUs, cmdline `{meta['cmdline']}`; "
               f"disk: {meta['disk']}; fio {meta['fio_runtime_s']} s per job; "
               f"{meta['qemu_version']}"
               + (f"; {len(failed_attempts)} failed attempt(s) booted again "
                  f"(\"failed_attempts\" in results.json)" if failed_attempts else "")
               + (f"; the runs of {meta['sandboxes']} sandbox boots (--resume)"
                  if meta.get("sandboxes", 1) > 1 else "")
               + ".\n\n" + markdown(summary, meta))
    with open(os.path.join(out, "results-io.md"), "w") as f:
        f.write(section)
    md = bb.put_md_section(out, MD_HEADING, section)
    log(f"results: {path} (\"io\"), {os.path.join(out, 'results-io.md')}, {md}")


# What must match for --resume to keep an earlier sandbox's runs: everything
# that shapes a run's figures.
RESUME_KEYS = ("memory_mib", "vcpus", "cmdline", "kernel", "initrd", "disk", "fio", "iperf",
               "ping", "qemu_version", "qemu_options")


def resumable_section(out, meta):
    """The "io" section of OUT/results.json when its runs were made with the
    options in `meta`; None (and why, logged) otherwise."""
    try:
        with open(os.path.join(out, "results.json")) as f:
            earlier = json.load(f).get("io")
    except (OSError, ValueError) as e:
        log(f"not resuming: no readable {os.path.join(out, 'results.json')} ({e})")
        return None
    if not earlier or "runs" not in earlier:
        log("not resuming: results.json holds no I/O runs")
        return None
    differs = [k for k in RESUME_KEYS if earlier.get("meta", {}).get(k) != meta.get(k)]
    if differs:
        log(f"not resuming: the earlier runs were made with another {', '.join(differs)}")
        return None
    return earlier


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=3)
    bb.add_launch_options(
        p, memory=512, timeout=300, cmdline="console=ttyS0 quiet",
        cmdline_help="kernel command line for both (quiet: no kernel messages in the middle "
                     "of the tools' output on the console)",
        initrd_help="the bench initramfs with fio and iperf3 (scripts/build-guest-image's "
                    "initramfs-bench.cpio.gz)")
    p.add_argument("--disk-dir", default="/tmp", help="where the 1 GiB sparse disk files go")
    p.add_argument("--disk-mib", type=int, default=1024)
    p.add_argument("--direct", action="store_true",
                   help="O_DIRECT on the host for both: vmm `direct`, QEMU cache=none "
                        "(not on tmpfs); default buffered: vmm plain, QEMU cache=writeback")
    p.add_argument("--ioengine", default="libaio")
    p.add_argument("--fio-runtime", type=int, default=10, help="seconds per fio job")
    p.add_argument("--jobs", nargs="+", choices=[j[0] for j in FIO_JOBS],
                   help="only these fio jobs")
    p.add_argument("--iperf-time", type=int, default=10)
    p.add_argument("--ping-count", type=int, default=20)
    p.add_argument("--ping-interval", type=float, default=1.0)
    p.add_argument("--skip-fio", action="store_true")
    p.add_argument("--skip-net", action="store_true")
    p.add_argument("--qemu-global", action="append", default=None,
                   help="QEMU -global (repeatable; default: virtio-mmio.force-legacy=false and "
                        "virtio-mmio.ioeventfd=on, the modern virtio-mmio with ioeventfds that "
                        "the vmm offers; QEMU's own default is the legacy version 1)")
    p.add_argument("--retries", type=int, default=2,
                   help="boots again a run that failed (timeout, guest crash), at most this "
                        "often; failed attempts are kept in results.json (failed_attempts) "
                        "without their figures counting")
    p.add_argument("--resume", action="store_true",
                   help="keep the runs that OUT/results.json holds from an earlier sandbox with "
                        "the same options (one that froze, or where a run failed every attempt) "
                        "and boot only the missing ones; their failures count as failed attempts")
    p.add_argument("--out", default="build/bench")
    p.add_argument("--keep-consoles", action="store_true",
                   help="keep each run's serial console log in OUT/io-consoles/")
    p.add_argument("--from-json", metavar="RESULTS_JSON",
                   help="run nothing: recompute the io summary and table of an earlier run")
    a = p.parse_args()
    if a.from_json:
        with open(a.from_json) as f:
            old = json.load(f)["io"]
        kinds = list(dict.fromkeys(r["vmm"] for r in old["runs"]))
        write_report(os.path.abspath(a.out), old["meta"], old["runs"], kinds,
                     old.get("failed_attempts", []))
        return 0
    if not a.kernel or not a.initrd:
        p.error("--kernel and --initrd are required")
    if a.qemu_global is None:
        a.qemu_global = ["virtio-mmio.force-legacy=false", "virtio-mmio.ioeventfd=on"]
    for attr in ("vmm", "kernel", "initrd", "out", "disk_dir"):
        setattr(a, attr, os.path.abspath(getattr(a, attr)))
    a.qemu = shutil.which(a.qemu) or a.qemu
    a.settle = 0

    problems = [f"{what} not found: {path}" for what, path in
                (("vmm", a.vmm), ("kernel", a.kernel), ("initrd", a.initrd))
                if not os.path.exists(path)]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        problems.append("/dev/kvm is not usable here (run through scripts/kvm-sandbox)")
    for prog in (a.qemu, "iperf3", "ip"):
        if not shutil.which(prog):
            problems.append(f"{prog} not found")
    if problems:
        for pr in problems:
            print(f"io_bench: {pr}", file=sys.stderr)
        return 2

    def make_meta():
        qemu_version = subprocess.run([a.qemu, "--version"], capture_output=True, text=True,
                                      timeout=30).stdout.splitlines()[0]
        disk = (f"{a.disk_mib} MiB sparse raw file in {a.disk_dir}, "
                + ("O_DIRECT on the host (vmm `direct`, QEMU cache=none,aio=io_uring)" if a.direct else
                   "page cache on the host (vmm without `direct`, QEMU cache=writeback,aio=io_uring)"))
        meta = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "reps": a.reps,
            "seconds": round(earlier_seconds + time.monotonic() - t_start, 1),
            "sandboxes": sandboxes,
            "host_kernel": platform.release(),
            "cpus": os.cpu_count(),
            "qemu_version": qemu_version,
            "memory_mib": a.memory,
            "vcpus": a.vcpus,
            "cmdline": a.cmdline,
            "kernel": a.kernel,
            "initrd": a.initrd,
            "disk": disk,
            "fio": f"fio --filename=/dev/vda --direct=1 --ioengine={a.ioengine} --time_based "
                   f"--runtime={a.fio_runtime}, jobs: " + "; ".join(f"{n}: {o}" for n, o, _, _ in FIO_JOBS),
            "fio_runtime_s": a.fio_runtime,
            "iperf": f"iperf3 -c {HOST_IP} -t {a.iperf_time} -f m [-R] against iperf3 -s -B {HOST_IP}",
            "ping": f"ping -c {a.ping_count} -i {a.ping_interval} {HOST_IP}",
            "exits_rule": "delta of /sys/kernel/debug/kvm/PID-FD/exits (all vCPUs) across a fio "
                          "job, divided by fio's total_ios",
            "rss_rule": f"RSS without guest RAM = sum of Rss over /proc/PID/smaps mappings smaller "
                        f"than the guest memory size ({a.memory} MiB); read after the I/O",
            "debugfs": debugfs_note or "ok",
            "sandbox_thp": thp_note or "unchanged",
            "failed_runs": failed,
            "failed_attempts": len(failed_attempts),
            "qemu_options": {"cpu": a.qemu_cpu, "machine": f"microvm,{a.qemu_machine_opts}",
                             "globals": a.qemu_global, "extra": a.qemu_extra},
        }
        return meta

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    kinds = [a.only] if a.only else ["vmm", "qemu"]
    os.makedirs(a.out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="io-bench.")
    runs, failed, failed_attempts = [], 0, []
    t_start = time.monotonic()
    debugfs_note = None
    thp_note = None
    earlier_seconds, sandboxes = 0.0, 1
    if a.resume:
        earlier = resumable_section(a.out, make_meta())
        if earlier:
            runs = [r for r in earlier["runs"] if "error" not in r and r["rep"] <= a.reps]
            failed_attempts = (earlier.get("failed_attempts", []) +
                               [r for r in earlier["runs"] if "error" in r])
            earlier_seconds = earlier["meta"].get("seconds", 0.0)
            sandboxes = earlier["meta"].get("sandboxes", 1) + 1
            log(f"resuming: {len(runs)} run(s) kept from the earlier sandbox; "
                f"{len(failed_attempts)} failed attempt(s) so far")
    done = {(r["vmm"], r["rep"]) for r in runs}
    iperf = None
    try:
        debugfs_note = bb.mount_debugfs()
        if debugfs_note:
            log(f"warning: {debugfs_note}")
        # If the sandbox's kernel itself gets stuck (seen: hung tasks), its console (the
        # sandbox's console log) gets every message, and hung tasks are reported after 30 s.
        sh("dmesg -n 8; echo 30 > /proc/sys/kernel/hung_task_timeout_secs", check=False)
        thp_note = quiet_thp()
        if thp_note:
            log(thp_note)
        sh(f"ip link del {BRIDGE}", check=False)
        sh(f"ip link add {BRIDGE} type bridge && ip addr add {HOST_IP}/24 dev {BRIDGE} && "
           f"ip link set {BRIDGE} up")
        # The section as it stands now: never an older run's, should this sandbox die
        # before its first run is done (and --resume then keep that).
        write_report(a.out, make_meta(), runs, kinds, failed_attempts)
        for rep in range(1, a.reps + 1):
            for kind in kinds:
                if (kind, rep) in done:
                    continue
                for attempt in range(1, a.retries + 2):
                    # A fresh iperf3 server for every boot: one whose client died with its
                    # guest stays busy with that test for minutes.
                    stop_iperf_server(iperf)
                    iperf = start_iperf_server(workdir, f"{kind}-{rep}-{attempt}")
                    log(f"run {rep}/{a.reps} {kind}: booting" +
                        (f" (attempt {attempt})" if attempt > 1 else ""))
                    t = time.monotonic()
                    r = IoRun(a, kind, rep, workdir).go()
                    r["seconds"] = round(time.monotonic() - t, 1)
                    r["attempt"] = attempt
                    if "error" not in r:
                        runs.append(r)
                        log(f"run {rep}/{a.reps} {kind}: done in {r['seconds']:.0f} s")
                        # What is measured so far, in case the sandbox dies as a whole.
                        write_report(a.out, make_meta(), runs, kinds, failed_attempts)
                        break
                    log(f"run {rep}/{a.reps} {kind}: FAILED after {r['seconds']:.0f} s: {r['error']}")
                    for part in ("console_tail", "stderr_tail"):
                        if r.get(part):
                            log(f"  {part.replace('_', ' ')}:\n    " + r[part].replace("\n", "\n    "))
                    if attempt <= a.retries:
                        # Its figures are left out: the retry measures the same run afresh.
                        failed_attempts.append(r)
                    else:
                        failed += 1
                        runs.append(r)
    finally:
        stop_iperf_server(iperf)
        sh(f"ip link del {BRIDGE}", check=False)
        if a.keep_consoles:
            dest = os.path.join(a.out, "io-consoles")
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(workdir, dest, ignore=shutil.ignore_patterns("*.probe", "*.sock"))
        shutil.rmtree(workdir, ignore_errors=True)

    meta = make_meta()
    write_report(a.out, meta, runs, kinds, failed_attempts)
    log(f"I/O benchmark done in {meta['seconds']:.0f} s")
    if failed:
        print(f"io_bench: {failed} run(s) failed (see above and results.json)", file=sys.stderr)
        return EXIT_RUNS_FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
