"""Farm throughput: injections/s summed over 1, 2 and 4 sim-agent boards under `fwemu farm run`.

A lab on 127.0.0.1 (tests/farmlab.py: labgrid-coordinator, labgrid-exporter, one ser2net,
one sim-agent process per board on a pty, a place per board tagged ras=ghes) is brought up
once; then, for each board count N, `fwemu farm run --places N -- inject memory-ue --count C
--address 0x60000000:0x70000000:0x1000` runs R times. A run's throughput is the farm's
total rate: each board's injections over its own span (first accepted to last ended, from
its journal), summed. The table gives the median run (with the slowest and best beside it),
the ratio of the median to 1 board's, and the boards' median wall time (the first board's
start to the last one's end: every board's fwemu start-up and channel open included, the
reservation, merge and release not).

    python benchmarks/bench_farm.py [--count C] [--repeat R] [--boards 1,2,4] [--protocol rfc2217|raw]
                                    [--no-chardelay] [--json]

Every board runs on this machine: with 2 cores, each board's fwemu, sim-agent and ser2net
share them, so the ratio says what the host allows, not what a lab of real boards gets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import farmlab  # noqa: E402


def one_run(lab: farmlab.FarmLab, tmp: Path, n: int, count: int) -> dict:
    argv = [sys.executable, "-m", "fwemu", "farm", "run", "--coordinator", lab.coordinator, "--tag", "ras=ghes",
            "--places", str(n), "--board", "sim-agent", "--dir", str(tmp), "--json", "--",
            "inject", "memory-ue", "--count", str(count), "--address", "0x60000000:0x70000000:0x1000"]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, XDG_STATE_HOME=str(tmp / "state")))
    if r.returncode != 0:
        raise SystemExit(f"farm run with {n} boards failed ({r.returncode}): {r.stderr.strip()}")
    env = json.loads(r.stdout)
    t = env["total"]
    if t["count"] != n * count or t["states"] != {"consumed": n * count}:
        raise SystemExit(f"farm run with {n} boards: not every injection consumed: {t}")
    return {"rate": t["rate"], "wall_s": env["wall_s"], "p50_ms": t["p50_ms"], "p99_ms": t["p99_ms"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=1000, help="injections per board per run (default 1000)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per board count (default 3)")
    ap.add_argument("--boards", default="1,2,4", help="board counts (default 1,2,4)")
    ap.add_argument("--protocol", choices=("rfc2217", "raw"), default="rfc2217",
                    help="how every board's port is served by ser2net (default rfc2217)")
    ap.add_argument("--no-chardelay", action="store_true",
                    help="ser2net's chardelay off (by default it waits >= 1 ms after a board's last byte)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    counts = [int(x) for x in args.boards.split(",")]
    why = farmlab.missing()
    if why:
        raise SystemExit(f"bench_farm: {why}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fwemu-bench-farm-") as d:
        tmp = Path(d)
        with farmlab.FarmLab(tmp / "lab", boards=max(counts), protocol=args.protocol,
                             chardelay=not args.no_chardelay) as lab:
            for n in counts:
                runs = [one_run(lab, tmp / f"n{n}-r{k}", n, args.count) for k in range(args.repeat)]
                rates = sorted(r["rate"] for r in runs)
                rows.append({"boards": n, "median_rate": statistics.median(rates), "min_rate": rates[0],
                             "max_rate": rates[-1], "median_wall_s": statistics.median(r["wall_s"] for r in runs),
                             "median_p50_ms": statistics.median(r["p50_ms"] for r in runs),
                             "median_p99_ms": statistics.median(r["p99_ms"] for r in runs)})
    base = rows[0]["median_rate"]
    for row in rows:
        row["ratio"] = row["median_rate"] / base
    if args.json:
        print(json.dumps({"count": args.count, "repeat": args.repeat, "protocol": args.protocol,
                          "chardelay": not args.no_chardelay, "rows": rows}))
        return 0
    print(f"farm throughput, {args.count} memory-ue injections per board, median of {args.repeat} runs "
          f"(sim-agent boards, {args.protocol} through ser2net"
          f"{' with chardelay off' if args.no_chardelay else ''}, all on this host)")
    print(f"{'boards':>6}  {'inj/s summed':>12}  {'(min .. max)':>18}  {'x 1 board':>9}  {'p50 ms':>7}  "
          f"{'p99 ms':>7}  {'boards wall s':>13}")
    for r in rows:
        print(f"{r['boards']:>6}  {r['median_rate']:>12.1f}  {r['min_rate']:>8.1f} .. {r['max_rate']:<8.1f}  "
              f"{r['ratio']:>9.2f}  {r['median_p50_ms']:>7.3f}  {r['median_p99_ms']:>7.3f}  {r['median_wall_s']:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
