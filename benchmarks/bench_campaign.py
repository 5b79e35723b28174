"""Injections per second of a mixed campaign step on the sim board, against a plain
single-scenario request of the same count in the same process.

Each row is one `api.LocalSession.inject` (journal to a temp file, as a campaign step runs
it): the baseline is `memory-ue` with an address sweep; the mix is the `mixed` example's
four variants by weight (memory CE/UE on random pages, an SDEI cache error, a PCIe CE) with
PEs at random, as fast as the firmware accepts them (refusals from a full queue count:
they are what a mix at full speed meets). Median of --repeat runs; the ratio is mix/plain.
A mix runs at the pace of its slowest source: on the sim board pcie-ce goes to the source
the OS polls every 100 ms, and memory-ce and the SDEI cache error share one SDEI source.

    python benchmarks/bench_campaign.py [--count 5000] [--repeat 3]

Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

from fwemu import api
from fwemu.request import InjectRequest, Variant

MIX = (Variant("memory-ce", 4, {"address": "random:0x60000000:0x70000000:0x1000"}),
       Variant("memory-ue", 2, {"address": "random:0x70000000:0x78000000:0x1000"}),
       Variant("arm-cache-ue", 1, notify="sdei"),
       Variant("pcie-ce", 1, {"bdf": "0000:03:00.0"}))


def rate(fw, req: InjectRequest) -> tuple[float, dict]:
    t0 = time.perf_counter()
    res = fw.inject(req)
    return req.count / (time.perf_counter() - t0), dict(res.summary.states)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    plain = InjectRequest("memory-ue", {"address": "0x60000000:0x70000000:0x1000"}, count=a.count)
    mixed = InjectRequest("memory-ce", count=a.count, pe="random:0:4", seed=1, mix=MIX)
    rows: dict[str, list[float]] = {"plain memory-ue (baseline)": [], "mixed campaign step": []}
    states: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as d:
        os.environ["XDG_STATE_HOME"] = d
        with api.open_session("sim", api.SessionOptions(journal=os.path.join(d, "j.jsonl"), daemon=False)) as fw:
            fw.inject(plain.replace(count=200))       # warm: templates, the OS model's first pages
            for _ in range(a.repeat):
                for name, req in (("plain memory-ue (baseline)", plain), ("mixed campaign step", mixed)):
                    r, st = rate(fw, req)
                    rows[name].append(r)
                    states[name] = st
    base = statistics.median(rows["plain memory-ue (baseline)"])
    print(f"sim board, {a.count} injections per run, median of {a.repeat} (CPython {sys.version.split()[0]})")
    print(f"{'row':<30} {'median/s':>10} {'vs plain':>9}  states (last run)")
    for name, rs in rows.items():
        m = statistics.median(rs)
        print(f"{name:<30} {m:>10,.0f} {m / base:>8.2f}x  {states[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
