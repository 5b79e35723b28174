"""End-to-end injections/s and latency on the sim board, per notification kind.

Each injection is the whole firmware path: build a unique record (C core), wait until the
source's block is free, ordered post + Read Ack arming, notification, the sim OS reading,
checking, acking and handling it, the firmware observing the ack, the journal line
(written to a file). Latency = the notification raised → ack observed, so the OS model's
handling (synchronous on sim) is inside it. Baseline in the same run:
the encode of the same record alone (the floor of what an injection can cost).

    python benchmarks/bench_inject.py [--count N] [--repeat R] [--json]

Each kind runs R times (default 3) on one firmware instance after a warm-up; the table
leads with the median run's rate and latencies, with the best and slowest runs' rates
beside it, because a shared VM's noise moves single runs by ±20 %.

SEI is a ping-pong: SEI injections alternate between the two SEI sources and PEs 0/1, and
the firmware's one-pending-SEI rule serialises them. Polled sources are consumed on the
OS's poll interval (100 ms on sim), so their rate is bounded by it, not by fwemu.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from fwemu import scenarios
from fwemu.board import load_board
from fwemu.firmware import FirmwareModel
from fwemu.journal import Journal
from fwemu.targets.sim import SimTarget

KINDS = [("sea", 2), ("sdei-normal", 5), ("sdei-critical", 6), ("gsiv/HED", 1),
         ("external (GHES v1)", 7), ("sei ping-pong", None)]


def run_kind(fw: FirmwareModel, source_id: int | None, n: int) -> dict:
    injs = []
    t0 = time.perf_counter()
    for k in range(n):
        fields = {"address": hex(0x40000000 + (k % 262144) * 4096)}
        if source_id is None:
            inj = fw.submit("memory-ue", fields, source_id=3 + (k & 1), pe=k & 1)
        else:
            inj = fw.submit("memory-ue", fields, source_id=source_id)
        injs.append(inj)
        if k % 256 == 255:
            fw.pump(0)
    fw.wait_all(injs)
    dt = time.perf_counter() - t0
    lat = sorted(i.latency for i in injs if i.latency is not None)
    states = {s: sum(1 for i in injs if i.state == s) for s in ("consumed", "dropped", "refused", "timed-out")}
    return {"per_s": n / dt, "p50_ms": lat[len(lat) // 2] * 1e3, "p99_ms": lat[int(len(lat) * 0.99)] * 1e3,
            "states": states}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    board = load_board("sim")
    factory = scenarios.RecordFactory(board.pes.mpidr)
    t0 = time.perf_counter()
    for k in range(args.count):
        factory.make("memory-ue", {"address": hex(0x40000000 + (k % 262144) * 4096)})
    encode_rate = args.count / (time.perf_counter() - t0)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sid in KINDS:
            target = SimTarget(board)
            target.os.knobs.ratelimit = True     # as Linux: prints 2 records per 5 s
            journal = Journal(os.path.join(tmp, f"{name.split()[0]}.jsonl"))
            fw = FirmwareModel(board, target, journal)
            run_kind(fw, sid, min(2000, args.count))      # warm up
            runs = [run_kind(fw, sid, args.count) for _ in range(max(1, args.repeat))]
            rates = sorted(r["per_s"] for r in runs)
            mid = sorted(runs, key=lambda r: r["per_s"])[len(runs) // 2]     # the median run
            results[name] = dict(mid, median_per_s=statistics.median(rates), best_per_s=rates[-1],
                                 slowest_per_s=rates[0],
                                 states={s: sum(r["states"][s] for r in runs) for s in mid["states"]})
            journal.close()
            target.close()

    if args.json:
        print(json.dumps({"count": args.count, "encode_only_per_s": encode_rate, "kinds": results}))
        return 0
    print(f"sim board, memory-ue, {args.count} injections per kind and run, median of {args.repeat} "
          f"runs (best and slowest beside it), each address new (CPython {sys.version.split()[0]})")
    print("latency: the notification raised -> the ack observed (the OS model's handling included);"
          " p50/p99 of the median run")
    print(f"baseline: record build alone {encode_rate:,.0f}/s")
    print(f"{'notification':22} {'median/s':>9} {'best':>9} {'slowest':>9} {'vs build':>9} {'p50 ms':>8} "
          f"{'p99 ms':>8}  states (all runs)")
    for name, r in results.items():
        print(f"{name:22} {r['median_per_s']:9,.0f} {r['best_per_s']:9,.0f} {r['slowest_per_s']:9,.0f} "
              f"{r['median_per_s'] / encode_rate:8.2f}x {r['p50_ms']:8.4f} {r['p99_ms']:8.4f}  {r['states']}")
    print(f"mean of the medians over kinds: {statistics.fmean(r['median_per_s'] for r in results.values()):,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
