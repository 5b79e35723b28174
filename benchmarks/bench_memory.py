"""Peak resident memory of `fwemu inject` as the count grows, in-process or through a daemon.

In-process (default), each row runs `python -m fwemu inject SCENARIO --count N --journal
FILE --no-daemon` (journal to a temp file, a fresh process per row) and reads the child's
peak RSS (ru_maxrss of the waited child). With `--via daemon`, one `fwemu daemon` (its own
runtime and state directories, journal to a temp file) serves every row; before each row
its peak is reset (`5` into /proc/PID/clear_refs) and after it read (VmHWM), and the
client's own peak (ru_maxrss) is reported beside it; `--jsonl` makes the client stream
(one frame per injection) instead of asking for the summary. The goal (issue 16): flat
within 10 % of the 10,000 row from 10,000 to 1,000,000, and under 80 MiB.

    python benchmarks/bench_memory.py [--counts 1,10000,100000,1000000] [--scenario S]
                                      [--via in-process|daemon] [--jsonl] [--json]

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


def _child(argv: list[str]) -> tuple[int, float, float]:
    """Run `python -m fwemu ARGV` with its output discarded: (exit code, peak RSS MiB, wall s)."""
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:      # the child execs fwemu; its rusage is its own peak, nothing of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execv(sys.executable, [sys.executable, "-m", "fwemu", *argv])
    _pid, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), round(ru.ru_maxrss / 1024, 1), round(time.perf_counter() - t0, 2)


def run(scenario: str, count: int, journal: str) -> dict:
    rc, peak, wall = _child(["inject", scenario, "--count", str(count), "--journal", journal, "--no-daemon"])
    return {"count": count, "rc": rc, "peak_rss_mib": peak, "wall_s": wall,
            "journal_mib": round(os.path.getsize(journal) / 2**20, 1)}


def _hwm_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM")


def run_daemon_rows(scenario: str, counts: list[int], d: str, jsonl: bool) -> list[dict]:
    import subprocess
    os.environ["XDG_RUNTIME_DIR"] = os.path.join(d, "run")
    os.environ["XDG_STATE_HOME"] = os.path.join(d, "state")
    os.makedirs(os.environ["XDG_RUNTIME_DIR"], mode=0o700)
    journal = os.path.join(d, "daemon.jsonl")
    daemon = subprocess.Popen([sys.executable, "-m", "fwemu", "daemon", "--journal", journal],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while _child(["status"])[0] != 0 or not os.path.exists(os.path.join(d, "run", "fwemu")):
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not start")
            time.sleep(0.2)
        rows = []
        for n in counts:
            with open(f"/proc/{daemon.pid}/clear_refs", "w") as f:
                f.write("5")       # reset the peak: this row's own
            size0 = os.path.getsize(journal)
            rc, client, wall = _child(["inject", scenario, "--count", str(n), *(["--jsonl"] if jsonl else [])])
            rows.append({"count": n, "rc": rc, "peak_rss_mib": _hwm_mib(daemon.pid), "client_rss_mib": client,
                         "wall_s": wall, "journal_mib": round((os.path.getsize(journal) - size0) / 2**20, 1)})
        return rows
    finally:
        daemon.terminate()
        daemon.wait(60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="1,10000,100000,1000000")
    ap.add_argument("--scenario", default="memory-ue")
    ap.add_argument("--via", choices=("in-process", "daemon"), default="in-process")
    ap.add_argument("--jsonl", action="store_true", help="daemon: the client streams (one frame per injection)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    counts = [int(x) for x in a.counts.split(",")]
    with tempfile.TemporaryDirectory() as d:
        if a.via == "daemon":
            rows = run_daemon_rows(a.scenario, counts, d, a.jsonl)
        for n in counts if a.via == "in-process" else ():
            journal = os.path.join(d, f"journal-{n}.jsonl")
            rows.append(run(a.scenario, n, journal))
            os.unlink(journal)
    base = next((r for r in rows if r["count"] >= 10_000), rows[0])
    for r in rows:
        r["vs_10k"] = round(r["peak_rss_mib"] / base["peak_rss_mib"], 3)
    if a.json:
        print(json.dumps(rows))
    else:
        where = ("in-process (journal to a file)" if a.via == "in-process" else
                 f"through a daemon ({'streamed' if a.jsonl else 'summary'}; peak RSS is the daemon's, reset per row)")
        print(f"peak RSS of `fwemu inject {a.scenario} --count N` {where}, ratio against the {base['count']:,} row")
        print(f"{'N':>10} {'peak RSS MiB':>13} {'ratio':>7} {'client MiB':>11} {'wall s':>8} {'journal MiB':>12}")
        for r in rows:
            print(f"{r['count']:>10,} {r['peak_rss_mib']:>13} {r['vs_10k']:>7} {r.get('client_rss_mib', '-'):>11} "
                  f"{r['wall_s']:>8} {r['journal_mib']:>12}")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
