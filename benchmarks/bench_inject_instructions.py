"""Instructions per injection of `fwemu inject memory-ue --count N` on the sim board, per
notification kind, counted by valgrind's callgrind: all but deterministic (a fixed hash
seed; the wall clock still decides when a second's timestamps roll over), so a change of a
few per cent shows even on a shared VM whose wall-clock rates move by ±30 % within an hour.

A row is (instructions of the --count HIGH command - those of the --count LOW command) /
(HIGH - LOW): start-up, imports, the sim's boot and the report cancel out, leaving the
injecting loop (address swept, journal to a file or `--journal none`, one process per
command, bytecode compiled beforehand). Both counts are above 10,000, where the command
reports a summary rather than a record per injection (else the difference would count the
report). --baseline-python counts the same commands with
another fwemu install (for example the previous commit's, in its own venv) and adds the
ratio baseline / this (above 1: this one runs fewer instructions).

    python benchmarks/bench_inject_instructions.py [--low 11000] [--high 16000] [--journal file|none]
                                                   [--kinds sea,sdei,...] [--baseline-python PATH]

Instructions are not time (cache misses and the C core's share differ), but for the
Python-bound sim path they track the wall-clock rate closely. Not a test; needs valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

from _build import describe

KINDS = ("sea", "sdei", "sei", "gsiv", "external")


def count(python: str, kind: str, n: int, journal: str, tmp: str) -> int:
    """Instructions (callgrind's Ir total) of one `fwemu inject` command, all consumed."""
    state = tempfile.mkdtemp(dir=tmp)
    env = dict(os.environ, XDG_STATE_HOME=state, XDG_RUNTIME_DIR=state)
    env.pop("FWEMU_BOARD", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONHASHSEED"] = "0"     # set and dict layouts, hence instruction counts, the same each run
    jpath = "none" if journal == "none" else os.path.join(state, "j.jsonl")
    out = os.path.join(state, "callgrind.out")
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", python, "-m", "fwemu",
            "--json", "inject", "memory-ue", "--count", str(n), "--notify", kind,
            "--address", "0x40000000:0x80000000:0x1000", "--journal", jpath, "--no-daemon"]
    cp = subprocess.run(argv, capture_output=True, text=True, env=env)
    if cp.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {cp.returncode}: {cp.stderr.strip()[-500:]}")
    m = re.search(r"^summary:\s*(\d+)", open(out).read(), re.M)
    if m is None:
        raise SystemExit(f"{out}: no callgrind summary line")
    return int(m.group(1))


def per_injection(python: str, kind: str, low: int, high: int, journal: str, tmp: str) -> float:
    return (count(python, kind, high, journal, tmp) - count(python, kind, low, journal, tmp)) / (high - low)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--low", type=int, default=11_000)
    ap.add_argument("--high", type=int, default=16_000)
    ap.add_argument("--journal", choices=("file", "none"), default="file")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--baseline-python", help="a python whose fwemu is the baseline")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing counted")
        return 0
    pythons = {"this": sys.executable}
    if args.baseline_python:
        pythons["baseline"] = args.baseline_python
    for py in pythons.values():     # bytecode compiled once, outside the counts
        subprocess.run([py, "-m", "compileall", "-q", os.path.dirname(subprocess.run(
            [py, "-c", "import fwemu, os; print(os.path.dirname(fwemu.__file__))"],
            capture_output=True, text=True, check=True).stdout.strip())], check=False)
    print(f"fwemu inject memory-ue on sim, address swept, journal {args.journal}: instructions per "
          f"injection (callgrind, --count {args.high} less --count {args.low})")
    print(f"fwemu's hot modules: {describe(pythons)}")
    head = f"{'notification':<14}{'this':>12}"
    if "baseline" in pythons:
        head += f"{'baseline':>12}{'ratio':>8}"
    print(head, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            got = {name: per_injection(py, kind, args.low, args.high, args.journal, tmp)
                   for name, py in pythons.items()}
            line = f"{kind:<14}{got['this']:>12,.0f}"
            if "baseline" in got:
                line += f"{got['baseline']:>12,.0f}{got['baseline'] / got['this']:>7.2f}x"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
