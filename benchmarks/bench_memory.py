"""Peak resident memory of one in-process `fwemu inject` as the count grows.

Each row runs `python -m fwemu inject SCENARIO --count N --journal FILE` (journal to a temp
file, a fresh process per row) and reads the child's peak RSS (ru_maxrss of the waited
child). The baseline row is N = 1: Python, the C core and the booted sim board. The goal
(issue 16): flat within 10 % of the 10,000 row from 10,000 to 1,000,000, and under 80 MiB.

    python benchmarks/bench_memory.py [--counts 1,10000,100000,1000000] [--scenario S] [--json]

Not a test: numbers depend on the machine. Exit 0 unless a run fails.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time


def run(scenario: str, count: int, journal: str) -> dict:
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:      # the child execs fwemu; its rusage is its own peak, nothing of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(sys.executable, [sys.executable, "-m", "fwemu", "inject", scenario, "--count", str(count),
                                  "--journal", journal, "--no-daemon"])
    _pid, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    rc = os.waitstatus_to_exitcode(status)
    return {"count": count, "rc": rc, "peak_rss_mib": round(ru.ru_maxrss / 1024, 1),
            "wall_s": round(wall, 2), "journal_mib": round(os.path.getsize(journal) / 2**20, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1,10000,100000,1000000")
    ap.add_argument("--scenario", default="memory-ue")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in (int(x) for x in a.counts.split(",")):
            journal = os.path.join(d, f"journal-{n}.jsonl")
            rows.append(run(a.scenario, n, journal))
            os.unlink(journal)
    base = next((r for r in rows if r["count"] >= 10_000), rows[0])
    for r in rows:
        r["vs_10k"] = round(r["peak_rss_mib"] / base["peak_rss_mib"], 3)
    if a.json:
        print(json.dumps(rows))
    else:
        print(f"peak RSS of `fwemu inject {a.scenario} --count N` in-process (journal to a file), "
              f"ratio against the {base['count']:,} row")
        print(f"{'N':>10} {'peak RSS MiB':>13} {'ratio':>7} {'wall s':>8} {'journal MiB':>12}")
        for r in rows:
            print(f"{r['count']:>10,} {r['peak_rss_mib']:>13} {r['vs_10k']:>7} {r['wall_s']:>8} {r['journal_mib']:>12}")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
