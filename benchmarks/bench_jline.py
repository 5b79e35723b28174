"""Journal line formatting of a burst, per line against per block: µs per line, every row
measured in one process and run, median of repeats.

A burst is --rows injections (default 256, the firmware's largest burst) in the common form
(every instant known, no reason, no extras), each with a 172-byte record (a memory-UE
block's size), its own id, PE, source, digest and instants, and the burst's one fields dict
(one request's options); the instants include exact ties at the 6th decimal (k/128).
One timed run formats the whole burst; a row's number is that time / rows:

  accepted  per line  b"".join([i.accepted_bytes() + b"\\n" for i in injs]), every
                      fields_text cleared before the run (as when the lines are first made)
  accepted  block     injection.accepted_block(injs): the same bytes, one C call
  final     per line  b"".join([i.journal_bytes("consumed") + b"\\n" for i in injs]), the
                      fields text already made (as by the accepted line)
  final     block     injection.final_block([(i, "consumed") for i in injs]), the pairs'
                      list made inside the timed run
  final, 1 in 16 other  both again with every 16th injection carrying a warning (not the
                      common form: formatted line by line, in Python), final_block's one C
                      call formatting the 240 others
  final, 1 in 2 other   the same, every other injection carrying a warning

Each block's bytes are checked equal to the per-line bytes before timing; the per-line and
block runs alternate, so both see the same load.

    python benchmarks/bench_jline.py [--rows N] [--repeat R]

Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from fwemu.board import load_board
from fwemu.injection import Injection, accepted_block, final_block


def burst(n: int, other_every: int = 0) -> list[Injection]:
    rng = random.Random(42)
    sources = load_board("sim").sources
    fields = {"--address": "0x60000000"}
    out = []
    for k in range(n):
        t = 1000.0 + k / 128
        inj = Injection(id=10_000 + k, scenario="memory-ue", source=sources[k % len(sources)], pe=k % 4,
                        record=rng.randbytes(172), timeout=5.0, accepted_wall=1.796e9 + t, t_accepted=t,
                        digest="%016x" % rng.getrandbits(64), state="consumed", t_posted=t + 0.000125,
                        t_notified=t + 0.0003, t_consumed=t + rng.random() / 100, t_end=t + 0.02,
                        run="20261203T105857-4242-0a1b2c3d", fields=fields)
        if other_every and k % other_every == other_every - 1:
            inj.warnings = ["a warning"]
        out.append(inj)
    return out


def timed(per_line: Callable[[], object], block: Callable[[], object], reset: Callable[[], None],
          repeat: int) -> tuple[float, float]:
    """Median seconds of each, the two alternating run by run (a change in the machine's load
    reaches both alike)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((per_line, times[0]), (block, times[1])):
            reset()
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(times[0]), statistics.median(times[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    n = args.rows

    def clear(injs: list[Injection]) -> Callable[[], None]:
        def reset() -> None:
            for i in injs:
                i.fields_text = None
        return reset

    def nothing() -> None:
        pass

    rows = []
    injs = burst(n)
    per_acc = lambda: b"".join([i.accepted_bytes() + b"\n" for i in injs])   # noqa: E731
    blk_acc = lambda: accepted_block(injs)                                    # noqa: E731
    assert blk_acc() == per_acc()
    rows.append(("accepted", *timed(per_acc, blk_acc, clear(injs), args.repeat)))
    for label, every in (("final", 0), ("final, 1 in 16 other", 16), ("final, 1 in 2 other", 2)):
        fin = burst(n, every)
        for i in fin:
            i._fields_json()
        per_fin = lambda fin=fin: b"".join([i.journal_bytes("consumed") + b"\n" for i in fin])   # noqa: E731
        blk_fin = lambda fin=fin: final_block([(i, "consumed") for i in fin])                   # noqa: E731
        assert blk_fin() == per_fin()
        rows.append((label, *timed(per_fin, blk_fin, nothing, args.repeat)))

    print(f"{n} rows per burst, median of {args.repeat} runs, µs per line")
    print(f"{'line':<24}{'per line':>10}{'block':>10}{'ratio':>8}")
    for label, per, blk in rows:
        print(f"{label:<24}{per / n * 1e6:>10.3f}{blk / n * 1e6:>10.3f}{per / blk:>7.1f}x")


if __name__ == "__main__":
    main()
