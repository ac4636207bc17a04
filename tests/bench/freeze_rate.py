#!/usr/bin/env python3
"""How often the emulated KVM sandbox freezes, dies or fails its guests, per configuration.

Runs the same workload N times in each sandbox configuration (scripts/kvm-sandbox
in emulated mode) and counts, per configuration, the runs that ended well, froze
(the sandbox's heartbeat stopped: kvm-sandbox status 125 "froze"), died (the
sandbox kernel ended before the command: status 125 "ended before"), hung (status
124 at the timeout: half alive) or whose guests failed (the workload's own
failures: failed integration tests, failed I/O benchmark runs), with the time each
took. docs/performance.md ("The sandbox's defect") publishes the table.

    tests/bench/freeze_rate.py --workload io|integration --runs N \
        --config NAME:cpus=1,mem=6G[,accel=tcg;thread=multi][,cpu=max] ... [--out DIR] \
        [--lock FILE]

Workloads:
  io           tests/bench/io_bench.py --reps 1 --retries 0 (vmm and QEMU, fio, iperf3, ping)
  integration  build/bin/integration-tests (the suite `make test` runs in the sandbox)

Runs are interleaved across configurations (run 1 of each, then run 2 of each, ...)
so that a change in the machine's load over time touches every configuration alike.
Results: DIR/freeze-rate-WORKLOAD.json (every run) and .md (the table); the log of
each run beside them.
"""

import argparse
import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def guest_dirs():
    kernel = subprocess.run(["scripts/build-guest-kernel"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.strip()
    image = subprocess.run(["scripts/build-guest-image"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.strip()
    return kernel, image


def parse_config(text):
    """NAME:key=value,... with accel's commas written as ';'."""
    name, _, spec = text.partition(":")
    if not name or not spec:
        raise argparse.ArgumentTypeError(f"config '{text}': want NAME:cpus=N,mem=SIZE[,accel=..][,cpu=..]")
    conf = {"name": name, "cpus": "2", "mem": "3G", "accel": None, "cpu": None}
    for item in spec.split(","):
        key, _, value = item.partition("=")
        if key not in conf or key == "name" or not value:
            raise argparse.ArgumentTypeError(f"config '{text}': unknown or empty '{item}'")
        conf[key] = value.replace(";", ",")
    return conf


def workload_command(workload, out_dir, run_id, kernel, image):
    if workload == "io":
        run_out = os.path.join(out_dir, f"io-{run_id}")
        return ["python3", "tests/bench/io_bench.py", "--reps", "1", "--retries", "0",
                "--kernel", f"{kernel}/bzImage", "--initrd", f"{image}/initramfs-bench.cpio.gz",
                "--vmm", "build/bin/vmm", "--out", run_out], run_out
    xml = os.path.join(out_dir, f"integration-{run_id}.xml")
    return ["build/bin/integration-tests", f"--gtest_output=xml:{xml}"], xml


def guest_failures(workload, result_path):
    """(failures, total) of the workload's own units, or (None, None) when it left no result."""
    try:
        if workload == "io":
            with open(os.path.join(result_path, "results.json")) as f:
                meta = json.load(f)["io"]["meta"]
            runs = 2  # one vmm and one QEMU run
            return int(meta.get("failed_runs", 0)), runs
        root = ET.parse(result_path).getroot()
        return int(root.get("failures", 0)) + int(root.get("errors", 0)), int(root.get("tests", 0))
    except (OSError, ValueError, KeyError, ET.ParseError):
        return None, None


def classify(status, stderr_text, failures):
    if status == 125 and "froze" in stderr_text:
        return "froze"
    if status == 125:
        return "died"
    if status == 124:
        return "hung"
    if failures:
        return "guest failures"
    if status != 0:
        return "failed"
    return "ok"


@contextlib.contextmanager
def sandbox_lock(path):
    """Holds `path` (flock) for one run, so that other users of the machine's
    sandbox take turns with this script between runs; the wait is not timed."""
    if not path:
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def run_once(a, conf, run_no, kernel, image):
    run_id = f"{conf['name']}-{run_no}"
    cmd, result_path = workload_command(a.workload, a.out, run_id, kernel, image)
    env = dict(os.environ, VMM_GUEST_KERNEL_DIR=kernel, VMM_GUEST_IMAGE_DIR=image,
               VMM_BIN_DIR=os.path.join(REPO, "build/bin"))
    if conf["accel"]:
        env["KVM_SANDBOX_ACCEL"] = conf["accel"]
    if conf["cpu"]:
        env["KVM_SANDBOX_CPU"] = conf["cpu"]
    sandbox = ["scripts/kvm-sandbox", "--emulate", "--cpus", conf["cpus"], "--mem", conf["mem"],
               "--timeout", str(a.timeout), "--"]
    log_path = os.path.join(a.out, f"{a.workload}-{run_id}.log")
    print(f"freeze_rate: {a.workload} run {run_no}/{a.runs} in {conf['name']} ...", flush=True)
    with sandbox_lock(a.lock), open(log_path, "w") as log:
        start = time.monotonic()
        proc = subprocess.run(sandbox + cmd, cwd=REPO, env=env, stdout=log,
                              stderr=subprocess.PIPE, text=True)
        seconds = round(time.monotonic() - start, 1)
        log.write(proc.stderr)
    failures, units = guest_failures(a.workload, result_path)
    outcome = classify(proc.returncode, proc.stderr, failures)
    print(f"freeze_rate: {a.workload} run {run_no} in {conf['name']}: {outcome} "
          f"(status {proc.returncode}, {seconds:.0f} s"
          + (f", {failures} of {units} failed" if failures else "") + ")", flush=True)
    return {"config": conf["name"], "run": run_no, "status": proc.returncode, "outcome": outcome,
            "seconds": seconds, "guest_failures": failures, "units": units, "log": log_path}


def table(a, confs, runs):
    outcomes = ["ok", "froze", "died", "hung", "guest failures", "failed"]
    lines = [f"| configuration | runs | " + " | ".join(outcomes) + " | median time (ok runs) | time, all runs |",
             "|---|---|" + "---|" * len(outcomes) + "---|---|"]
    for conf in confs:
        mine = [r for r in runs if r["config"] == conf["name"]]
        counts = [sum(1 for r in mine if r["outcome"] == o) for o in outcomes]
        ok_times = sorted(r["seconds"] for r in mine if r["outcome"] == "ok")
        median = f"{ok_times[len(ok_times) // 2]:.0f} s" if ok_times else "-"
        total = f"{sum(r['seconds'] for r in mine) / 60:.0f} min"
        spec = f"{conf['name']} (--cpus {conf['cpus']}, --mem {conf['mem']}" + \
            (f", accel {conf['accel']}" if conf["accel"] else "") + \
            (f", -cpu {conf['cpu']}" if conf["cpu"] else "") + ")"
        lines.append(f"| {spec} | {len(mine)} | " + " | ".join(str(c) for c in counts)
                     + f" | {median} | {total} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workload", choices=["io", "integration"], required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--config", type=parse_config, action="append", required=True)
    p.add_argument("--timeout", type=int, default=2400, help="kvm-sandbox --timeout per run")
    p.add_argument("--out", default="build/freeze-rate")
    p.add_argument("--lock", help="a file to flock around each run (e.g. /tmp/kvm-sandbox.lock)")
    a = p.parse_args()
    if a.runs < 1:
        p.error("--runs wants a positive number")
    names = [c["name"] for c in a.config]
    if len(set(names)) != len(names):
        p.error("configuration names must differ")
    os.makedirs(a.out, exist_ok=True)
    kernel, image = guest_dirs()
    json_path = os.path.join(a.out, f"freeze-rate-{a.workload}.json")
    runs = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for run_no in range(1, a.runs + 1):
        for conf in a.config:
            runs.append(run_once(a, conf, run_no, kernel, image))
            with open(json_path, "w") as f:
                json.dump({"workload": a.workload, "started": started, "configs": a.config,
                           "runs": runs}, f, indent=1)
    md = (f"Workload `{a.workload}`, {a.runs} runs per configuration, interleaved, "
          f"started {started} on {os.cpu_count()} host CPUs:\n\n" + table(a, a.config, runs))
    with open(os.path.join(a.out, f"freeze-rate-{a.workload}.md"), "w") as f:
        f.write(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
