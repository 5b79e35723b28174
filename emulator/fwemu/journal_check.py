"""An independent check of the firmware rules from a journal alone.

    python -m fwemu.journal_check JOURNAL.jsonl      (exit 0: no violation; 1: violations listed)

It uses only what the journal says, never fwemu's firmware model: each run's `run` line
(clock, SEI settle time, whether the SEI rule was lifted), each injection's `accepted` line
and final line with its monotonic instants (`m_posted`: writing the block began;
`m_notified`: the notification raised; `m_consumed`: the OS's release observed; `m_end`:
the final state reached), and the later `consumed-late` / `resolved` lines. It verifies:

- every accepted injection has exactly one final line (`open` otherwise);
- never two records on one source at once: a post begins only after the source's previous
  record was released (consumed, dropped, withdrawn), per source;
- one NOTIFY_SEI pending system-wide: an SEI is raised only after the previous one was
  released plus the run's SEI settle time (unless the run lifted the rule);
- each injection's instants are in order (accepted ≤ posted ≤ notified ≤ consumed ≤ end).

Memory domains: a sim run's memory is its own (a new run boots a new board), so the sim
is checked per run; on any other target memory outlives a run, so every run of the board
on one boot of the machine (monotonic instants compare only within a boot) is one domain.
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

Event = dict[str, Any]   # one journal line, as json.loads gives it

FINAL = ("consumed", "dropped", "refused", "timed-out", "interrupted")
INF = math.inf


@dataclass
class Inj:
    run: str
    id: int
    accepted: Event | None = None
    finals: list[Event] = field(default_factory=list)
    late_release: float | None = None      # consumed-late or a resolved withdraw/consumption

    @property
    def final(self) -> Event | None:
        return self.finals[0] if self.finals else None

    @property
    def ended(self) -> Event:
        """The final line of an injection that has one (the post and SEI checks hold only those)."""
        f = self.final
        assert f is not None
        return f

    def release(self) -> float:
        """When the source was free again of this injection's record (INF: never, as far as
        the journal knows)."""
        f = self.final
        if f is None or f.get("m_posted") is None:
            return -INF      # never posted: never held the block
        if f.get("m_consumed") is not None:
            return float(f["m_consumed"])
        if f["event"] == "refused" and self.late_release is not None:
            return self.late_release   # the WITHDRAW got no answer at the time; the target's answer
        if f["event"] in ("dropped", "refused") and f.get("m_end") is not None:
            return float(f["m_end"])   # dropped: the ack seen at the end; refused after a post: withdrawn first
        if self.late_release is not None:
            return self.late_release
        return INF


@dataclass
class Report:
    runs: int = 0
    injections: int = 0
    posts: int = 0
    sei_notified: int = 0
    open: list[tuple[str, int]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations and not self.open

    def text(self) -> str:
        head = (f"{self.runs} run(s), {self.injections} injection(s), {self.posts} post(s), "
                f"{self.sei_notified} SEI(s) raised: ")
        if self.ok:
            return head + "every injection has one final line; no overwrite; one SEI pending at a time"
        lines = [head + f"{len(self.violations)} violation(s), {len(self.open)} without a final line"]
        lines += [f"  {v}" for v in self.violations[:200]]
        lines += [f"  open: run {r} #{i}" for r, i in self.open[:200]]
        return "\n".join(lines)


def check_lines(lines: Iterable[Event]) -> Report:
    """Check journal events (dicts, in file order)."""
    runs: dict[str, Event] = {}
    injs: dict[tuple[str, int], Inj] = {}
    rep = Report()

    def get(ev: Event) -> Inj | None:
        run = ev.get("run")
        if run is None or "id" not in ev:
            return None           # a line from before runs were journalled: not checkable
        key = (run, ev["id"])
        if key not in injs:
            injs[key] = Inj(run, ev["id"])
        return injs[key]

    for ev in lines:
        kind = ev.get("event")
        if kind == "run":
            runs[ev["run"]] = ev
        elif kind == "accepted":
            inj = get(ev)
            if inj is not None:
                if inj.accepted is not None:
                    rep.violations.append(f"run {inj.run} #{inj.id}: accepted twice")
                inj.accepted = ev
        elif kind in FINAL:
            inj = get(ev)
            if inj is not None:
                inj.finals.append(ev)
        elif kind == "consumed-late":
            inj = get(ev)
            if inj is not None and ev.get("m_consumed") is not None:
                inj.late_release = ev["m_consumed"]
        elif kind == "resolved":
            inj = get(ev)
            if inj is not None and ev.get("found") in ("posted", "refused", "gone", "consumed") \
                    and ev.get("m_at") is not None and inj.late_release is None:
                inj.late_release = ev["m_at"]   # taken back, or found consumed, by then

    rep.runs = len(runs)
    rep.injections = len(injs)
    domains: dict[object, list[Inj]] = {}
    for inj in injs.values():
        f = inj.final
        if inj.accepted is None:
            rep.violations.append(f"run {inj.run} #{inj.id}: a final line without an accepted line")
        if f is None:
            rep.open.append((inj.run, inj.id))
            continue
        if len(inj.finals) > 1:
            rep.violations.append(f"run {inj.run} #{inj.id}: {len(inj.finals)} final lines "
                                  f"({', '.join(e['event'] for e in inj.finals)})")
        seq = [f.get(k) for k in ("m_accepted", "m_posted", "m_notified", "m_consumed", "m_end")]
        known = [t for t in seq if t is not None]
        if known != sorted(known):
            rep.violations.append(f"run {inj.run} #{inj.id}: instants out of order {seq}")
        if f.get("m_posted") is None:
            continue
        meta = runs.get(inj.run, {})
        # a machine that lives with its run (the sim) is its own domain; else the board's
        per_run = meta.get("machine_per_run", meta.get("target", "sim") == "sim")
        dom = inj.run if per_run else ("board", meta.get("board"), meta.get("boot_id"))
        domains.setdefault(dom, []).append(inj)

    for members in domains.values():
        by_source: dict[int, list[Inj]] = {}
        for inj in members:
            by_source.setdefault(inj.ended["source"], []).append(inj)
        for src, posts in by_source.items():
            posts.sort(key=lambda i: i.ended["m_posted"])
            rep.posts += len(posts)
            for prev, nxt in itertools.pairwise(posts):
                if nxt.ended["m_posted"] < prev.release():
                    rep.violations.append(
                        f"source {src}: run {nxt.run} #{nxt.id} posted at {nxt.ended['m_posted']:.6f} while "
                        f"run {prev.run} #{prev.id}'s record (posted {prev.ended['m_posted']:.6f}) was "
                        f"not yet consumed (released {_t(prev.release())})")
        sei = sorted((i for i in members if i.ended.get("notify") == "sei" and i.ended.get("m_notified") is not None),
                     key=lambda i: i.ended["m_notified"])
        rep.sei_notified += len(sei)
        for prev, nxt in itertools.pairwise(sei):
            unsafe = any(runs.get(i.run, {}).get("unsafe_concurrent_sei") or i.ended.get("unsafe_concurrent_sei")
                         for i in (prev, nxt))
            if unsafe:
                continue
            settle = (runs.get(nxt.run, {}).get("sei_settle_ms") or 0) / 1000
            if nxt.ended["m_notified"] < prev.release() + settle - 1e-6:
                rep.violations.append(
                    f"NOTIFY_SEI: run {nxt.run} #{nxt.id} (source {nxt.ended['source']}, PE {nxt.ended['pe']}) "
                    f"raised at {nxt.ended['m_notified']:.6f} while run {prev.run} #{prev.id} (source "
                    f"{prev.ended['source']}, raised {prev.ended['m_notified']:.6f}) was pending "
                    f"(released {_t(prev.release())}, settle {settle * 1000:g} ms)")
    return rep


def _t(t: float) -> str:
    return "never" if t == INF else f"{t:.6f}"


def check_file(path: str) -> Report:
    def lines() -> Iterator[Event]:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except ValueError:
                        raise ValueError(f"{path}:{n}: not a whole JSON line") from None
    return check_lines(lines())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m fwemu.journal_check JOURNAL.jsonl", file=sys.stderr)
        return 2
    try:
        rep = check_file(argv[0])
    except (OSError, ValueError) as exc:
        print(f"journal_check: {exc}", file=sys.stderr)
        return 2
    print(rep.text())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
