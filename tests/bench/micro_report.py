#!/usr/bin/env python3
"""Adds the host-side microbenchmarks (build/bin/virtio-bench, Google Benchmark,
no KVM) to the bench results: the "micro" section of OUT/results.json (its other
sections are kept) and a table in OUT/results-micro.md, appended to
OUT/results.md (replacing an earlier microbenchmark section there).

  micro_report.py --json build/bench/micro.json --out build/bench

The input is virtio-bench's --benchmark_out (JSON). Standard library only.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import boot_bench as bb  # noqa: E402

MD_HEADING = "Microbenchmarks,"

# What each benchmark measures, for the table (tests/bench/virtio_bench.cpp).
LABELS = {
    "BM_QueuePopPush": "virtqueue: pop a 3-descriptor chain, push it used",
    "BM_QueuePopPushIndirect": "virtqueue: the same through an indirect table",
    "BM_BlkParse/read": "virtio-blk: parse a read request",
    "BM_BlkParse/write": "virtio-blk: parse a write request",
    "BM_BlkDeviceRead4K": "virtio-blk 4 KiB read: transport, device, raw file (page cache) via io_uring, to used",
    "BM_BlkDeviceWrite4K": "virtio-blk 4 KiB write: transport, device, raw file (page cache) via io_uring, to used",
    "BM_OverlayRead4K": "the same 4 KiB read through an ephemeral overlay disk",
    "BM_OverlayWrite4K": "the same 4 KiB write through an ephemeral overlay disk",
}


def describe(name):
    base = name.split("/real_time")[0]
    batch = ""
    if "/batch:" in base:
        base, _, n = base.partition("/batch:")
        batch = f", batches of {n} per notify"
    return LABELS.get(base, base) + batch


def rows(bench):
    out = []
    for b in bench.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        per_request_ns = b["real_time"] if b.get("time_unit") == "ns" else None
        if per_request_ns is None:
            scale = {"us": 1e3, "ms": 1e6, "s": 1e9}.get(b.get("time_unit"), 1)
            per_request_ns = b["real_time"] * scale
        ips = b.get("items_per_second")
        if ips:
            per_request_ns = 1e9 / ips  # a batch counts its requests as items
        out.append({"name": b["name"], "label": describe(b["name"]),
                    "ns_per_request": per_request_ns,
                    "requests_per_s": ips or 1e9 / per_request_ns,
                    "iterations": b.get("iterations")})
    return out


def markdown(table, context):
    lines = [f"{MD_HEADING} {context.get('date', '?')}: `build/bin/virtio-bench` on the host, "
             f"{context.get('num_cpus', '?')} CPUs at {context.get('mhz_per_cpu', '?')} MHz, "
             "no KVM (the device code's own cost; guest memory is a plain mapping).\n",
             "| path | ns per request | requests/s |", "|---|---|---|"]
    for r in table:
        lines.append(f"| {r['label']} | {r['ns_per_request']:.0f} | {r['requests_per_s']:,.0f} |")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", required=True, help="virtio-bench --benchmark_out file")
    p.add_argument("--out", default="build/bench")
    a = p.parse_args()
    try:
        with open(a.json) as f:
            bench = json.load(f)
    except (OSError, ValueError) as e:
        print(f"micro_report: cannot read {a.json}: {e}", file=sys.stderr)
        return 2
    os.makedirs(a.out, exist_ok=True)
    table = rows(bench)
    if not table:
        print(f"micro_report: no benchmark results in {a.json}", file=sys.stderr)
        return 2
    path = bb.put_json_section(a.out, "micro",
                               {"context": bench.get("context", {}), "results": table})
    section = markdown(table, bench.get("context", {}))
    with open(os.path.join(a.out, "results-micro.md"), "w") as f:
        f.write(section)
    md = bb.put_md_section(a.out, MD_HEADING, section)
    print(f"results: {path} (\"micro\"), {os.path.join(a.out, 'results-micro.md')}, {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
