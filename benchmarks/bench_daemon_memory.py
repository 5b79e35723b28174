"""Resident memory of `fwemu daemon` through a 100,000-injection storm.

Starts a daemon on the sim board (private XDG_RUNTIME_DIR, journal to a temp file), drives
the injections through its control socket as a few requests with a large `count`
(report="summary", so replies stay small), and samples the daemon's VmRSS from
/proc/PID/status before, during (every 50 ms) and after. The baseline in the same run is
the daemon's own RSS once booted and warmed by a first request; the target is that RSS
stays under 64 MB throughout, i.e. nothing grows per injection (the journal streams to
disk).

    python benchmarks/bench_daemon_memory.py [--injections N] [--requests K] [--scenario S] [--json]

Not a test: numbers depend on the machine. Exit 0 unless the daemon fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

LIMIT_KIB = 64 * 1024


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--injections", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=4, help="split the storm into this many requests")
    ap.add_argument("--scenario", default="memory-ue", help="scenario to inject (default memory-ue, SEA)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="fwbench-")
    env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "run"), XDG_STATE_HOME=os.path.join(tmp, "state"))
    env.pop("FWEMU_BOARD", None)
    os.makedirs(env["XDG_RUNTIME_DIR"])
    os.environ["XDG_RUNTIME_DIR"] = env["XDG_RUNTIME_DIR"]   # for Client.connect below
    journal = os.path.join(tmp, "journal.jsonl")
    proc = subprocess.Popen([sys.executable, "-m", "fwemu", "daemon", "--board", "sim", "--journal", journal],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    samples: list[tuple[float, int]] = []
    stop = threading.Event()
    try:
        line = proc.stdout.readline()
        if not re.search(r"listening on \S+", line):
            print(f"daemon did not start: {line!r}", file=sys.stderr)
            return 1
        from fwemu.daemon import Client

        booted = rss_kib(proc.pid)
        with Client.connect("sim") as c:
            c.request("inject", {"scenario": args.scenario, "count": 1000, "report": "summary"})   # warm-up
            warmed = rss_kib(proc.pid)

            def sample():
                t0 = time.monotonic()
                while not stop.is_set():
                    r = rss_kib(proc.pid)
                    if r is not None:
                        samples.append((time.monotonic() - t0, r))
                    stop.wait(0.05)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            per = -(-args.injections // args.requests)
            left, states, p50s, p99s, per_request = args.injections, {}, [], [], []
            t0 = time.perf_counter()
            while left > 0:
                n = min(per, left)
                res = c.request("inject", {"scenario": args.scenario, "count": n, "report": "summary",
                                           "timeout": 5.0})
                s = res["summary"]
                for k, v in s["states"].items():
                    states[k] = states.get(k, 0) + v
                p50s.append(s["p50_ms"])
                p99s.append(s["p99_ms"])
                per_request.append(rss_kib(proc.pid))
                left -= n
            wall = time.perf_counter() - t0
            stop.set()
            sampler.join()
            time.sleep(0.5)
            after = rss_kib(proc.pid)
            status = c.request("status")
            c.request("shutdown")
        proc.wait(30)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    during = [r for _, r in samples]
    peak = max(during + [warmed or 0, after or 0])
    journal_bytes = os.path.getsize(journal)
    rec = {"injections": args.injections, "requests": args.requests, "scenario": args.scenario,
           "wall_s": round(wall, 3), "injections_per_s": round(args.injections / wall, 1),
           "states": states, "p50_ms_per_request": p50s, "p99_ms_per_request": p99s,
           "rss_kib": {"booted": booted, "warmed": warmed, "during_min": min(during, default=None),
                       "during_max": max(during, default=None), "after": after, "peak": peak,
                       "growth_after_warmup": None if after is None or warmed is None else after - warmed},
           "rss_kib_after_each_request": per_request, "samples": len(during), "journal_bytes": journal_bytes,
           "firmware_counts": status["counts"], "under_64_mb": peak < LIMIT_KIB}
    if args.json:
        print(json.dumps(rec))
    else:
        r = rec["rss_kib"]
        print(f"{args.injections} injections ({args.scenario}) in {args.requests} requests: "
              f"{wall:.2f} s, {rec['injections_per_s']:.0f} injections/s; states {states}")
        print(f"daemon VmRSS: booted {r['booted'] / 1024:.1f} MiB, warmed {r['warmed'] / 1024:.1f} MiB, "
              f"during {r['during_min'] / 1024:.1f}..{r['during_max'] / 1024:.1f} MiB ({len(during)} samples), "
              f"after {r['after'] / 1024:.1f} MiB; growth after warm-up {r['growth_after_warmup']} KiB")
        print("VmRSS after each request (MiB): " + " ".join(f"{v / 1024:.1f}" for v in per_request))
        print(f"peak {peak / 1024:.1f} MiB: {'under' if rec['under_64_mb'] else 'OVER'} the 64 MB target; "
              f"journal {journal_bytes / 1e6:.1f} MB on disk")
    return 0


if __name__ == "__main__":
    sys.exit(main())
