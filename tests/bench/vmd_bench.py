#!/usr/bin/env python3
"""The supervisor's figures: vmd's own cost per instance, and `vmctl run`.

Runs as root where /dev/kvm works and cgroup v2 is mounted (scripts/bench
starts it inside scripts/kvm-sandbox). Two parts, each with a vmd of its own
on a scratch state dir:

fleet      the real vmm and the project's test image (rootfs.ext4, an
           ephemeral root each): for R repetitions, interleaved,
           `vmctl run --count 1 --wait` and `vmctl run --count 4 --wait`,
           timed from vmctl's exec to its exit (every instance running);
           besides, per instance, vmd's own created_at -> ready_at. Each
           round is terminated (--force) before the next.
overhead   the vmm replaced by vmd's test stand-in (build/bin/fake-vmm from
           tests/support/fake_vmm.cpp: ready 50 ms after it starts, then it
           sleeps), so that only vmd is measured:
           - request -> exec: R single-instance runs (POST /v1/instances on
             vmd's socket), from just before the request to the stand-in's
             first event (its `time`, Unix ms, written as it starts), and
             the request's own round trip;
           - for N in --counts (1, 10, 50): vmd's CPU time (utime + stime of
             all its threads, /proc/PID/stat) and RSS (VmRSS) before
             `run --count N`, once all N run, and after --settle seconds
             with them running: CPU per launch, RSS per managed instance,
             and CPU per instance per second at rest. Then all are
             terminated.

Writes the "vmd" section of OUT/results.json (other sections are kept) and
its table to OUT/results-vmd.md, and puts it into OUT/results.md.
Standard library only.
"""

import argparse
import datetime
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench as bb  # noqa: E402  (put_json_section, put_md_section)

MD_HEADING = "Supervisor benchmark,"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CMDLINE = "console=ttyS0 quiet root=/dev/vda rw"


def log(msg):
    print(f"vmd_bench: {msg}", file=sys.stderr, flush=True)


def now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class UnixConnection(http.client.HTTPConnection):
    """http.client's HTTP/1.1 on a Unix socket."""

    def __init__(self, path, timeout):
        super().__init__("vmd", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


class HttpUnix:
    """vmd's API: (status, JSON body) for a request."""

    def __init__(self, path):
        self.path = path

    def request(self, method, target, body=None, timeout=60):
        c = UnixConnection(self.path, timeout)
        try:
            c.request(method, target, body=None if body is None else json.dumps(body),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            payload = r.read()
            return r.status, json.loads(payload) if payload.strip() else None
        finally:
            c.close()


class Vmd:
    """A vmd on a scratch state dir; stopped (and its instances killed) at close()."""

    def __init__(self, args, work, vmm):
        self.work = work
        self.sock = os.path.join(work, "run", "vmd.sock")
        self.cgroup = os.path.join(args.cgroup_parent,
                                   f"vmd-bench-{os.getpid()}-{os.path.basename(work)}")
        os.makedirs(os.path.join(work, "run"), exist_ok=True)
        self.log = open(os.path.join(work, "vmd.log"), "w")
        self.proc = subprocess.Popen(
            [args.vmd, "--state-dir", os.path.join(work, "state"), "--socket", self.sock,
             "--cgroup-root", self.cgroup, "--vmm", vmm, "--default-kernel", args.kernel,
             "--max-memory", str(args.max_memory), "--min-free-disk", "64"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT)
        self.api = HttpUnix(self.sock)
        deadline = now() + 60
        while now() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"vmd exited with {self.proc.returncode}: {self.log_text()}")
            try:
                if self.api.request("GET", "/v1/health", timeout=5)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("vmd did not serve within 60 s")

    def log_text(self):
        with open(os.path.join(self.work, "vmd.log")) as f:
            return f.read()[-4000:]

    def cpu_s(self):
        """utime + stime of all of vmd's threads, living and dead."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def vmctl(self, args, vmctl_bin, timeout):
        return subprocess.run([vmctl_bin, "--socket", self.sock] + args, capture_output=True,
                              text=True, timeout=timeout)

    def terminate_all(self, timeout=300):
        """Terminates every instance (forced, not waiting each) and waits for all."""
        status, instances = self.api.request("GET", "/v1/instances")
        live = [i["id"] for i in instances if i["state"] != "terminated"]
        for i in live:
            self.api.request("POST", f"/v1/instances/{i}/terminate",
                             {"force": True, "timeout_s": 5})
        deadline = now() + timeout
        while now() < deadline:
            _, instances = self.api.request("GET", "/v1/instances")
            if all(i["state"] == "terminated" for i in instances):
                return
            time.sleep(0.2)
        raise RuntimeError("instances still not terminated after %d s" % timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # vmd leaves instances running when it stops: end what is left.
        if os.path.isdir(self.cgroup):
            for name in os.listdir(self.cgroup):
                cg = os.path.join(self.cgroup, name)
                if not os.path.isdir(cg):
                    continue
                try:
                    with open(os.path.join(cg, "cgroup.kill"), "w") as f:
                        f.write("1")
                except OSError:
                    pass
                for _ in range(50):
                    try:
                        os.rmdir(cg)
                        break
                    except OSError:
                        time.sleep(0.1)
            try:
                os.rmdir(self.cgroup)
            except OSError:
                pass
        self.log.close()


def median_of(values):
    return statistics.median(values) if values else None


def stats(values):
    return {"median": median_of(values), "min": min(values) if values else None,
            "max": max(values) if values else None, "n": len(values)}


def parse_time(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def fleet(args, work):
    vmd = Vmd(args, os.path.join(work, "fleet"), args.vmm)
    rounds = []
    try:
        r = vmd.vmctl(["-q", "image", "import", "bench", args.image, "--cmdline", CMDLINE],
                      args.vmctl, 600)
        if r.returncode != 0:
            raise RuntimeError(f"image import failed: {r.stderr}")
        for rep in range(args.reps):
            for count in (1, 4):
                log(f"fleet: round {rep + 1}/{args.reps}, run --count {count} --wait")
                t0 = now()
                r = vmd.vmctl(["--json", "run", "--image", "bench", "--count", str(count),
                               "--memory", str(args.memory), "--boot-timeout",
                               str(args.boot_timeout), "--wait"], args.vmctl,
                              args.boot_timeout + 120)
                wall = now() - t0
                entry = {"count": count, "rep": rep + 1, "ok": r.returncode == 0,
                         "all_running_s": wall}
                if r.returncode == 0:
                    instances = json.loads(r.stdout)
                    entry["ready_after_s"] = sorted(
                        parse_time(i["ready_at"]) - parse_time(i["created_at"])
                        for i in instances if i.get("ready_at") and i.get("created_at"))
                else:
                    entry["error"] = r.stderr.strip()[-500:]
                    log(f"fleet: run failed: {entry['error']}")
                rounds.append(entry)
                vmd.terminate_all()
    finally:
        vmd.close()
    return rounds


def first_event_ms(path, timeout=30):
    """The `time` (Unix ms) of the first event a vmm wrote to `path`."""
    deadline = now() + timeout
    while now() < deadline:
        try:
            with open(path) as f:
                line = f.readline()
            if line.endswith("\n"):
                return json.loads(line)["time"]
        except OSError:
            pass
        time.sleep(0.001)
    raise RuntimeError(f"no event in {path} after {timeout} s")


def overhead(args, work):
    vmd = Vmd(args, os.path.join(work, "overhead"), args.stand_in)
    result = {"latency": [], "counts": []}
    state = os.path.join(work, "overhead", "state")
    try:
        r = vmd.vmctl(["-q", "image", "import", "bench", args.image, "--cmdline", CMDLINE],
                      args.vmctl, 600)
        if r.returncode != 0:
            raise RuntimeError(f"image import failed: {r.stderr}")
        # Request -> exec, one instance at a time.
        for rep in range(args.latency_reps):
            t_request = time.clock_gettime_ns(time.CLOCK_REALTIME)
            t0 = now()
            status, body = vmd.api.request("POST", "/v1/instances",
                                           {"image": "bench", "memory_mib": args.memory})
            answered = now() - t0
            if status not in (200, 201):
                raise RuntimeError(f"run answered {status}: {body}")
            iid = body["instances"][0]["id"]
            started_ms = first_event_ms(os.path.join(state, "instances", iid, "events"))
            result["latency"].append({"request_to_exec_ms": started_ms - t_request / 1e6,
                                      "answer_ms": answered * 1e3})
            vmd.terminate_all()
        # CPU and memory per managed instance.
        for count in args.counts:
            log(f"overhead: {count} instance(s) with the stand-in")
            time.sleep(1)
            cpu0, rss0 = vmd.cpu_s(), vmd.rss_kib()
            t0 = now()
            r = vmd.vmctl(["-q", "run", "--image", "bench", "--count", str(count), "--memory",
                           str(args.memory), "--wait"], args.vmctl, 600)
            if r.returncode != 0:
                raise RuntimeError(f"run --count {count} failed: {r.stderr}")
            all_running = now() - t0
            cpu1, rss1 = vmd.cpu_s(), vmd.rss_kib()
            time.sleep(args.settle)
            cpu2, rss2 = vmd.cpu_s(), vmd.rss_kib()
            result["counts"].append({
                "count": count, "all_running_s": all_running,
                "cpu_per_launch_ms": (cpu1 - cpu0) * 1e3 / count,
                "rss_before_kib": rss0, "rss_running_kib": rss1, "rss_settled_kib": rss2,
                "rss_per_instance_kib": (rss2 - rss0) / count,
                "idle_cpu_per_instance_ms_per_s": (cpu2 - cpu1) * 1e3 / count / args.settle})
            vmd.terminate_all()
    finally:
        vmd.close()
    return result


def summarize(fleet_rounds, over):
    s = {}
    for count in (1, 4):
        ok = [r for r in fleet_rounds if r["count"] == count and r["ok"]]
        s[f"fleet_{count}_all_running_s"] = stats([r["all_running_s"] for r in ok])
        s[f"fleet_{count}_last_ready_s"] = stats([r["ready_after_s"][-1] for r in ok
                                                   if r.get("ready_after_s")])
        s[f"fleet_{count}_failed"] = sum(1 for r in fleet_rounds
                                         if r["count"] == count and not r["ok"])
    if over:
        s["request_to_exec_ms"] = stats([x["request_to_exec_ms"] for x in over["latency"]])
        s["run_answer_ms"] = stats([x["answer_ms"] for x in over["latency"]])
        s["per_count"] = over["counts"]
    return s


def fmt_stats(e, unit, digits=1):
    if not e or e.get("median") is None:
        return "–"
    return (f"{e['median']:.{digits}f} {unit} ({e['min']:.{digits}f}–{e['max']:.{digits}f}, "
            f"n={e['n']})")


def markdown(s, meta):
    lines = [f"{MD_HEADING} {meta['date']}: vmd with the real vmm ({meta['reps']} rounds each, "
             f"interleaved, guests of {meta['memory_mib']} MiB on the test image's ephemeral "
             f"root), and with vmd's stand-in for the vmm (build/bin/fake-vmm, ready after "
             f"50 ms, then idle).",
             "", "| figure | median (min–max, n) |", "|---|---|"]
    lines.append(f"| `vmctl run --count 1 --wait`: exec → all running | "
                 f"{fmt_stats(s.get('fleet_1_all_running_s'), 's')} |")
    lines.append(f"| `vmctl run --count 4 --wait`: exec → all running | "
                 f"{fmt_stats(s.get('fleet_4_all_running_s'), 's')} |")
    lines.append(f"| count 1: vmd's created_at → ready_at | "
                 f"{fmt_stats(s.get('fleet_1_last_ready_s'), 's')} |")
    lines.append(f"| count 4: created_at → ready_at of the last | "
                 f"{fmt_stats(s.get('fleet_4_last_ready_s'), 's')} |")
    one, four = s.get("fleet_1_all_running_s", {}), s.get("fleet_4_all_running_s", {})
    if one.get("median") and four.get("median"):
        lines.append(f"| count 4 / count 1 (medians) | {four['median'] / one['median']:.2f} |")
    if "request_to_exec_ms" in s:
        lines.append(f"| stand-in: API request → vmm exec | "
                     f"{fmt_stats(s['request_to_exec_ms'], 'ms')} |")
        lines.append(f"| stand-in: `POST /v1/instances` answered | "
                     f"{fmt_stats(s['run_answer_ms'], 'ms')} |")
    if s.get("per_count"):
        lines += ["", "| stand-in instances | exec → all running | vmd CPU per launch "
                  "| vmd RSS before → with them | RSS per instance | vmd CPU at rest per instance |",
                  "|---|---|---|---|---|---|"]
        for c in s["per_count"]:
            lines.append(
                f"| {c['count']} | {c['all_running_s']:.2f} s | {c['cpu_per_launch_ms']:.1f} ms "
                f"| {c['rss_before_kib'] / 1024:.1f} → {c['rss_settled_kib'] / 1024:.1f} MiB "
                f"| {c['rss_per_instance_kib']:.0f} KiB "
                f"| {c['idle_cpu_per_instance_ms_per_s']:.2f} ms/s |")
    if s.get("fleet_1_failed") or s.get("fleet_4_failed"):
        lines.append("")
        lines.append(f"Failed rounds (not counted): count 1: {s['fleet_1_failed']}, "
                     f"count 4: {s['fleet_4_failed']} (see results.json).")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--vmd", default="build/bin/vmd")
    p.add_argument("--vmctl", default="build/bin/vmctl")
    p.add_argument("--vmm", default="build/bin/vmm")
    p.add_argument("--stand-in", default="build/bin/fake-vmm")
    p.add_argument("--kernel", required=True, help="the guest kernel (bzImage)")
    p.add_argument("--image", required=True, help="the test image (rootfs.ext4)")
    p.add_argument("--reps", type=int, default=3, help="fleet rounds of each count")
    p.add_argument("--latency-reps", type=int, default=20)
    p.add_argument("--counts", type=lambda t: [int(x) for x in t.split(",")],
                   default=[1, 10, 50], help="stand-in fleet sizes (default 1,10,50)")
    p.add_argument("--memory", type=int, default=128, help="MiB per instance")
    p.add_argument("--max-memory", type=int, default=100000,
                   help="vmd --max-memory (the stand-ins take no guest memory)")
    p.add_argument("--boot-timeout", type=int, default=300)
    p.add_argument("--settle", type=float, default=10.0)
    p.add_argument("--cgroup-parent", default="/sys/fs/cgroup",
                   help="a cgroup v2 directory for vmd's cgroup root (a hybrid host: "
                        "/sys/fs/cgroup/unified, with --skip-fleet)")
    p.add_argument("--skip-fleet", action="store_true")
    p.add_argument("--skip-overhead", action="store_true")
    p.add_argument("--out", default="build/bench")
    a = p.parse_args()
    for path in ("vmd", "vmctl", "vmm", "stand_in"):
        setattr(a, path, os.path.abspath(getattr(a, path)))
    work = tempfile.mkdtemp(prefix="vmd-bench-", dir="/tmp")
    failed = False
    try:
        rounds = [] if a.skip_fleet else fleet(a, work)
        over = None if a.skip_overhead else overhead(a, work)
        failed = any(not r["ok"] for r in rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    meta = {"date": datetime.date.today().isoformat(), "reps": a.reps, "memory_mib": a.memory,
            "counts": a.counts, "settle_s": a.settle, "latency_reps": a.latency_reps}
    summary = summarize(rounds, over)
    path = bb.put_json_section(a.out, "vmd", {"meta": meta, "summary": summary,
                                              "fleet": rounds, "overhead": over})
    section = markdown(summary, meta)
    with open(os.path.join(a.out, "results-vmd.md"), "w") as f:
        f.write(section)
    md = bb.put_md_section(a.out, MD_HEADING, section)
    print(section)
    log(f"results: {path} (\"vmd\"), {os.path.join(a.out, 'results-vmd.md')}, {md}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
