"""`fwemu inject --count N` on the sim board, per notification kind, as a user runs it: one
process per run, the address swept over 1 GiB of RAM (a new page each injection), the
journal to a file (default) or `--journal none`. A row's rate is N over the injecting
part of the command's wall time: the command's wall less that of the same command with
--count 1 (Python's start, imports, the sim's boot, the report), measured in the same run.

    python benchmarks/bench_inject_cli.py [--count N] [--repeat R] [--journal file|none]
                                          [--baseline-python [LABEL=]PATH ...] [--json]

--baseline-python runs the same commands with another fwemu install (for example the
previous commit's, in its own venv) interleaved with this one's, and adds its rate and the
ratio; repeat it for several baselines (LABEL=PATH names a column).
Each run gets a fresh state directory (uniqueness tokens) and journal, deleted after the run. Not a test: numbers
depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from _build import describe
import time

KINDS = ("sea", "sdei", "sei", "gsiv", "external")


def run_once(python: str, kind: str, count: int, journal: str, tmp: str) -> float:
    """Wall seconds of one `fwemu inject` run (all consumed, or it raises)."""
    state = tempfile.mkdtemp(dir=tmp)
    env = dict(os.environ, XDG_STATE_HOME=state, XDG_RUNTIME_DIR=state)
    env.pop("FWEMU_BOARD", None)
    jpath = "none" if journal == "none" else os.path.join(state, "j.jsonl")
    argv = [python, "-m", "fwemu", "--json", "inject", "memory-ue", "--count", str(count), "--notify", kind,
            "--address", "0x40000000:0x80000000:0x1000", "--journal", jpath, "--no-daemon"]
    t0 = time.perf_counter()
    cp = subprocess.run(argv, capture_output=True, text=True, env=env)
    dt = time.perf_counter() - t0
    # the journal (113 MB a 100,000 run) is deleted before its pages are written back: the
    # runs together write gigabytes, and the kernel's writeback throttling of the later
    # runs would be measured, not fwemu
    shutil.rmtree(state, ignore_errors=True)
    if cp.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr.strip()[-500:]}")
    out = json.loads(cp.stdout)
    states = out["summary"]["states"] if "summary" in out else {
        s: sum(1 for i in out["injections"] if i["state"] == s) for s in {i["state"] for i in out["injections"]}}
    if states != {"consumed": count}:
        raise SystemExit(f"{' '.join(argv)}: not all consumed: {states}")
    return dt


def measure(python: str, kind: str, count: int, journal: str, tmp: str) -> tuple[float, float]:
    """(injections/s of the injecting part, the --count 1 command's wall)."""
    base = run_once(python, kind, 1, journal, tmp)
    full = run_once(python, kind, count, journal, tmp)
    return (count - 1) / max(full - base, 1e-9), base


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--journal", choices=("file", "none"), default="file")
    ap.add_argument("--baseline-python", action="append", default=[], metavar="[LABEL=]PATH",
                    help="a python whose fwemu is a baseline (repeat for several: each gets a column "
                         "and a ratio; LABEL names the column)")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    pythons = {"this": sys.executable}
    for k, spec in enumerate(args.baseline_python):
        label, sep, path = spec.partition("=")
        if not sep:
            label, path = ("baseline" if k == 0 else f"baseline{k + 1}"), spec
        pythons[label] = path
    baselines = [n for n in pythons if n != "this"]
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            for _ in range(args.repeat):
                for name, py in pythons.items():   # interleaved: the same load on both
                    rate, _start = measure(py, kind, args.count, args.journal, tmp)
                    rows.setdefault(kind, {}).setdefault(name, []).append(rate)
    result = {k: {n: {"median": statistics.median(v), "min": min(v), "max": max(v)} for n, v in r.items()}
              for k, r in rows.items()}
    if args.json:
        print(json.dumps({"count": args.count, "journal": args.journal, "rows": result}, indent=1))
        return 0
    print(f"fwemu inject memory-ue --count {args.count} on sim, address swept, journal {args.journal}; "
          f"median of {args.repeat} runs (injecting part: wall less the --count 1 command's wall)")
    print(f"fwemu's hot modules: {describe(pythons)}")
    head = f"{'notification':<14}{'this /s':>10}{'min':>9}{'max':>9}"
    for name in baselines:
        head += f"{name + ' /s':>{max(13, len(name) + 5)}}{'ratio':>8}"
    print(head)
    for kind, r in result.items():
        line = f"{kind:<14}{r['this']['median']:>10,.0f}{r['this']['min']:>9,.0f}{r['this']['max']:>9,.0f}"
        for name in baselines:
            line += (f"{r[name]['median']:>{max(13, len(name) + 5)},.0f}"
                     f"{r['this']['median'] / r[name]['median']:>7.2f}x")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
