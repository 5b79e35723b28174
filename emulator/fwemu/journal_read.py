"""Reading a journal: streaming passes over its lines, bounded memory, typed results.

    reader = JournalReader(path)                     # UsageError: missing, unreadable, not a file
    flt = reader.filter(runs=["last"], states=["refused"], since="2h")   # UsageError: a bad filter
    for inj in reader.injections(flt): ...           # Injection: accepted + final + late lines
    scan = reader.scan(flt)                          # Run aggregates and a Summary

A journal (journal.py) is JSON lines, appended by every run on a board: a `run` line, then
per injection an `accepted` line and one final line (its `state`), sometimes a
`consumed-late` or `resolved` line after that, an `os-log` line per request and a
`run-end`. Lines from before runs were journalled (format 1) have no `run`: they are read
as the pseudo-run NO_RUN, never addressed by RUN:ID. An injection is addressed as RUN:ID, or
`:ID` when one run holds that id (format 3 hands out ids unique among a journal's runs;
in older journals each run counted from 1); a run by any unique prefix of its id, or `last`.

Nothing here holds the file: every pass reads it line by line. What is kept is per run
(Run: its line's metadata and counts), per summary (counts by state × notification ×
scenario, a latency reservoir and histogram per notification, bounded reasons, a time
histogram, OS reaction counts), and per injection only while it is in flight (accepted, no
final line yet) or waiting for an earlier id of its run to end: so memory stays flat for
10^7 lines. `consumed-late`/`resolved` lines, which come after the final line they belong
to, are found by a cheap first pass (a substring test per line) and merged; at most
LATE_KEPT of them are kept.

A line that is not a JSON object is a UsageError naming its line number, except a torn
line (a run killed mid-write, a full disk): a last line without its newline is skipped
with a warning, and so is a torn fragment that a later run's whole line was appended to.
"""

from __future__ import annotations

import array
import datetime as dt
import json
import math
import os
import random
import re
import stat
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from heapq import heappop, heappush
from typing import Any, NamedTuple

from .board import NOTIFY_TYPES, SCENARIOS
from .errors import UsageError
from .journal_check import FINAL

Event = dict[str, Any]          # one journal line as json.loads gives it

NO_RUN = "(no run)"             # the pseudo-run of format-1 lines (no "run" key)
OPEN = "open"                   # an accepted injection without a final line
STATES: tuple[str, ...] = (*FINAL, OPEN)
LATE_EVENTS = ("consumed-late", "resolved")
LATE_KEPT = 100_000             # late lines merged into injections; more are counted only
REASONS_KEPT = 200              # distinct (state, reason) pairs counted apart; the rest pooled
OTHER_REASONS = "(other reasons: more than 200 distinct)"
PANICS_KEPT = 100


# ---- filters ------------------------------------------------------------------------

_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$")
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_AGO = 100 * 366 * 86400


def parse_time(text: str, what: str, now: float | None = None) -> float:
    """An instant as epoch seconds: an ISO date/time (`2026-12-02T05:45`, local time unless
    it says its offset or Z), or a time ago: `90s`, `10m`, `2h`, `1d`, `1w`."""
    now = time.time() if now is None else now
    m = _REL.match(text)
    if m:
        ago = float(m.group(1)) * _UNIT[m.group(2)]
        if ago > MAX_AGO:
            raise UsageError(what, f"{text!r} is more than 100 years ago")
        return now - ago
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return when.timestamp()       # naive: local time
    except (ValueError, OverflowError, OSError):
        raise UsageError(what, f"{text!r} is not a time: give an ISO time (2026-12-02T05:45, "
                               "local unless it has an offset) or a time ago (90s, 10m, 2h, 1d, 1w)") from None


def _words(values: Iterable[str] | None) -> list[str]:
    """Values of a repeatable option, each also a comma-separated list."""
    out: list[str] = []
    for v in values or ():
        out += [w.strip() for w in str(v).split(",") if w.strip()]
    return out


@dataclass(frozen=True)
class Filter:
    """Which injections (and runs) a command looks at. None = no restriction.

    runs: resolved run ids (JournalReader.filter resolves prefixes and `last`);
    since/until: epoch seconds, compared with an injection's `accepted` wall time, and with
    a run's span (a run is selected when it overlaps the window)."""

    runs: frozenset[str] | None = None
    states: frozenset[str] | None = None
    notify: frozenset[str] | None = None
    scenarios: frozenset[str] | None = None
    sources: frozenset[int] | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def parse(cls, *, states: Iterable[str] | None = None, notify: Iterable[str] | None = None,
              scenarios: Iterable[str] | None = None, sources: Iterable[str] | None = None,
              since: str | None = None, until: str | None = None, runs: frozenset[str] | None = None,
              now: float | None = None) -> Filter:
        """From option values (each repeatable, each may be a comma list); UsageError names
        the option of a bad one."""
        st = _words(states)
        for s in st:
            if s not in STATES:
                raise UsageError("--state", f"unknown state {s!r} (one of: {', '.join(STATES)})")
        nt = _words(notify)
        for n in nt:
            if n not in NOTIFY_TYPES:
                raise UsageError("--notify", f"unknown notification {n!r} (one of: {', '.join(sorted(NOTIFY_TYPES))})")
        sc = _words(scenarios)
        for s in sc:
            if s not in SCENARIOS:
                raise UsageError("--scenario", f"unknown scenario {s!r} (one of: {', '.join(SCENARIOS)})")
        src: list[int] = []
        for s in _words(sources):
            try:
                v = int(s, 0)
            except ValueError:
                raise UsageError("--source", f"{s!r} is not a source id (0 .. 0xffff)") from None
            if not 0 <= v <= 0xFFFF:
                raise UsageError("--source", f"{s!r} is out of range (0 .. 0xffff)")
            src.append(v)
        t0 = parse_time(since, "--since", now) if since else None
        t1 = parse_time(until, "--until", now) if until else None
        if t0 is not None and t1 is not None and t1 < t0:
            raise UsageError("--until", "is before --since")
        return cls(runs=runs, states=frozenset(st) or None, notify=frozenset(nt) or None,
                   scenarios=frozenset(sc) or None, sources=frozenset(src) or None, since=t0, until=t1)

    @property
    def by_injection(self) -> bool:
        """Filters on an injection's own fields (not only on runs and time) are given."""
        return bool(self.states or self.notify or self.scenarios or self.sources)

    def run_selected(self, run: str | None) -> bool:
        return self.runs is None or (run is not None and run in self.runs)

    def in_window(self, t: float | None) -> bool:
        if self.since is None and self.until is None:
            return True
        if t is None:
            return False
        return (self.since is None or t >= self.since) and (self.until is None or t <= self.until)

    def match(self, run: str | None, state: str, notify: str | None, scenario: str | None,
              source: int | None, accepted: float | None) -> bool:
        return ((self.runs is None or run in self.runs)
                and (self.states is None or state in self.states)
                and (self.notify is None or notify in self.notify)
                and (self.scenarios is None or scenario in self.scenarios)
                and (self.sources is None or source in self.sources)
                and self.in_window(accepted))

    def matches(self, inj: Injection) -> bool:
        return self.match(inj.run, inj.state, inj.notify, inj.scenario, inj.source, inj.accepted)

    def to_json(self) -> dict[str, Any]:
        def lst(v: frozenset[Any] | None) -> list[Any] | None:
            return sorted(v) if v is not None else None
        return {"runs": lst(self.runs), "states": lst(self.states), "notify": lst(self.notify),
                "scenarios": lst(self.scenarios), "sources": lst(self.sources),
                "since": self.since, "until": self.until}


# ---- typed results ------------------------------------------------------------------

@dataclass(slots=True)
class Run:
    """One run (a firmware instance) as its lines tell it; counts are of all its lines,
    whatever the filter."""

    run: str                                # its id, or NO_RUN
    line: int | None = None                 # its `run` line's number (None: not in this file)
    board: str | None = None
    target: str | None = None
    pid: int | None = None
    boot_id: str | None = None
    format: int | None = None               # the run line's "format" (1 when it has none)
    m_start: float | None = None
    wall_start: float | None = None
    sei_settle_ms: float | None = None
    unsafe_concurrent_sei: bool = False
    states: dict[str, int] = field(default_factory=dict)   # final lines by state
    accepted: int = 0
    finals: int = 0
    consumed_late: int = 0
    resolved: int = 0
    ended: bool = False                     # its own run-end (a clean end)
    m_end: float | None = None              # the run-end's m_at
    end_counts: dict[str, int] | None = None
    resolved_by: str | None = None          # the later run that ended its open injections
    m_last: float | None = None             # the last monotonic instant in its lines
    wall_first: float | None = None         # accepted wall times (format 1: the only times)
    wall_last: float | None = None
    os_logs: int = 0
    os_lines: int = 0                       # lines the OS printed (journalled: at most 1,000 a request)
    os_up: bool | None = None
    panic: str | None = None
    live: bool = False                      # listed in JOURNAL.runs and its process is alive
    matched: int = 0                        # injections the filter selected

    @property
    def open(self) -> int:
        return max(0, self.accepted - self.finals)

    @property
    def started(self) -> float | None:
        return self.wall_start if self.wall_start is not None else self.wall_first

    def wall(self, m: float | None) -> float | None:
        """A monotonic instant of this run as wall time (its anchor + elapsed)."""
        if m is None or self.m_start is None or self.wall_start is None:
            return None
        return self.wall_start + (m - self.m_start)

    @property
    def duration(self) -> float | None:
        """Seconds from its start to its run-end, else to the last instant in its lines."""
        if self.m_start is not None:
            last = self.m_end if self.m_end is not None else self.m_last
            return None if last is None else max(0.0, last - self.m_start)
        if self.wall_first is not None and self.wall_last is not None:
            return self.wall_last - self.wall_first
        return None

    @property
    def ended_wall(self) -> float | None:
        d = self.duration
        return None if d is None or self.started is None else self.started + d

    @property
    def end(self) -> str:
        """ended | resolved (cut short; a later run ended its injections) | running | cut-short | no-run"""
        if self.run == NO_RUN:
            return "no-run"
        if self.ended:
            return "ended"
        if self.resolved_by:
            return "resolved"
        if self.live:
            return "running"
        return "cut-short"

    def end_text(self) -> str:
        e = self.end
        if e == "ended":
            return "ended"
        if e == "resolved":
            return f"cut short, resolved by {self.resolved_by}"
        if e == "running":
            return f"running (pid {self.pid})"
        if e == "no-run":
            return "format 1 lines (no run)"
        return "cut short" + (f" ({self.open} open)" if self.open else "")

    def overlaps(self, flt: Filter) -> bool:
        if flt.since is None and flt.until is None:
            return True
        a, b = self.started, self.ended_wall
        if a is None:
            return False
        b = a if b is None else b
        return (flt.until is None or a <= flt.until) and (flt.since is None or b >= flt.since)

    def to_json(self) -> dict[str, Any]:
        return {"run": None if self.run == NO_RUN else self.run, "board": self.board, "target": self.target,
                "pid": self.pid, "boot_id": self.boot_id, "format": self.format, "line": self.line,
                "started": _r6(self.started), "started_local": local_time(self.started),
                "duration_s": _r6(self.duration), "end": self.end, "resolved_by": self.resolved_by,
                "states": dict(self.states), "accepted": self.accepted, "open": self.open,
                "consumed_late": self.consumed_late, "resolved": self.resolved,
                "run_end_counts": self.end_counts, "sei_settle_ms": self.sei_settle_ms,
                "unsafe_concurrent_sei": self.unsafe_concurrent_sei,
                "os": {"requests": self.os_logs, "lines": self.os_lines, "up": self.os_up, "panic": self.panic},
                "matched": self.matched}


@dataclass(slots=True)
class Injection:
    """One injection: its accepted line, its final line and any late lines, merged.

    state is the final line's (consumed, dropped, refused, timed-out, interrupted), or
    OPEN when the journal has its accepted line only. Wall times (accepted, posted,
    notified, consumed) are epoch seconds; m_* are the run's monotonic instants. fields
    are the field options it was asked for, keyed by option ("--address": "0x60000000");
    record is the status block posted (format 2; None in older lines)."""

    run: str | None
    id: int
    scenario: str | None = None
    source: int | None = None
    notify: str | None = None
    pe: int | None = None
    block: int | None = None
    length: int | None = None
    digest: str | None = None
    state: str = OPEN
    reason: str | None = None
    accepted: float | None = None
    posted: float | None = None
    notified: float | None = None
    consumed: float | None = None
    latency_ms: float | None = None
    m_accepted: float | None = None
    m_posted: float | None = None
    m_notified: float | None = None
    m_consumed: float | None = None
    m_end: float | None = None
    fields: dict[str, str] = field(default_factory=dict)
    record: bytes | None = None
    bs: int | None = None                    # the accepted line's block_status
    left_in_memory: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    forged: bool = False
    unsafe_concurrent_sei: bool = False
    resolved_by: str | None = None           # its final line was written by a later run
    late: list[Event] = field(default_factory=list)   # consumed-late / resolved lines
    line_accepted: int | None = None
    line_final: int | None = None

    @property
    def key(self) -> str:
        """RUN:ID, the injection's name across runs."""
        return f"{self.run if self.run is not None else NO_RUN}:{self.id}"

    @property
    def final(self) -> bool:
        return self.state != OPEN

    def to_json(self, record: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run": self.run, "id": self.id, "scenario": self.scenario, "source": self.source,
            "notify": self.notify, "pe": self.pe, "block": self.block, "length": self.length,
            "digest": self.digest, "state": self.state, "reason": self.reason, "accepted": self.accepted,
            "posted": self.posted, "notified": self.notified, "consumed": self.consumed,
            "latency_ms": self.latency_ms, "m_accepted": self.m_accepted, "m_posted": self.m_posted,
            "m_notified": self.m_notified, "m_consumed": self.m_consumed, "m_end": self.m_end,
            "fields": self.fields}
        if record:
            out["record"] = None if self.record is None else self.record.hex()
        for k in ("left_in_memory", "resolved_by"):
            if getattr(self, k) is not None:
                out[k] = getattr(self, k)
        if self.warnings:
            out["warnings"] = self.warnings
        if self.forged:
            out["forged"] = True
        if self.unsafe_concurrent_sei:
            out["unsafe_concurrent_sei"] = True
        if self.late:
            out["late"] = self.late
        out["lines"] = {"accepted": self.line_accepted, "final": self.line_final}
        return out

    # -- building from lines
    @classmethod
    def from_accepted(cls, ev: Event, line: int) -> Injection:
        run = ev.get("run")
        inj = cls(run=run if isinstance(run, str) else None, id=int(ev["id"]), line_accepted=line)
        inj._take(ev, ("scenario", "source", "pe", "digest", "accepted", "m_accepted", "length", "bs"))
        return inj

    def merge_final(self, ev: Event, line: int) -> None:
        self.state = str(ev.get("state") or ev["event"])
        self.line_final = line
        self._take(ev, ("scenario", "source", "notify", "pe", "block", "length", "digest", "reason",
                        "accepted", "posted", "notified", "consumed", "latency_ms", "m_accepted",
                        "m_posted", "m_notified", "m_consumed", "m_end", "left_in_memory", "resolved_by"))
        f = ev.get("fields")
        if isinstance(f, dict):
            self.fields = {str(k): str(v) for k, v in f.items()}
        rec = ev.get("record")
        if isinstance(rec, str):
            try:
                self.record = bytes.fromhex(rec)
            except ValueError:
                self.record = None
        w = ev.get("warnings")
        if isinstance(w, list):
            self.warnings = [str(x) for x in w]
        self.forged = bool(ev.get("forged"))
        self.unsafe_concurrent_sei = bool(ev.get("unsafe_concurrent_sei"))

    def _take(self, ev: Event, keys: tuple[str, ...]) -> None:
        """Copy the keys the line has, each only when of its type (a hand-edited line with a
        string for a number is read as if the key were absent, never crashes a report)."""
        for k in keys:
            v = _typed(k, ev.get(k))
            if v is not None:
                setattr(self, k, v)


_INT_KEYS = frozenset(("id", "source", "pe", "block", "length", "bs"))
_STR_KEYS = frozenset(("scenario", "notify", "digest", "reason", "resolved_by", "state"))


def _typed(key: str, v: Any) -> Any:
    if v is None:
        return None
    if key in _INT_KEYS:
        return v if isinstance(v, int) and not isinstance(v, bool) else None
    if key in _STR_KEYS:
        return v if isinstance(v, str) else None
    if key == "left_in_memory":
        return v if isinstance(v, dict) else None
    return _f(v)      # the times and latency_ms


@dataclass(slots=True)
class OsLog:
    """An `os-log` line: what the OS printed while one request ran (its last 1,000 lines,
    `count` in all) and its state after. first_id..last_id: the run's injections whose final
    line came since the run's previous os-log line (the request's, unless a daemon served
    two requests at once)."""

    run: str | None
    line: int
    m_at: float | None
    wall: float | None
    count: int
    lines: list[str]
    os: dict[str, Any]
    first_id: int | None = None
    last_id: int | None = None
    injections: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run, "line": self.line, "m_at": self.m_at, "at": _r6(self.wall),
                "count": self.count, "lines": self.lines, "os": self.os, "first_id": self.first_id,
                "last_id": self.last_id, "injections": self.injections}


# ---- summaries ----------------------------------------------------------------------

HIST_LO, HIST_DECADES, HIST_PER_DECADE = -4, 10, 10   # 0.0001 ms .. 1,000,000 ms, 10 bins a decade


class Latency:
    """Latencies (ms) of one notification kind: exact count, mean, min and max; a log-binned
    histogram of every value; percentiles from a reservoir (every value up to SAMPLES, then
    a uniform sample of SAMPLES, as `fwemu inject`'s summary does)."""

    SAMPLES = 100_000

    def __init__(self) -> None:
        self.n = 0
        self.sum = 0.0
        self.min: float | None = None
        self.max: float | None = None
        self.sample = array.array("d")
        self.bins = [0] * (HIST_DECADES * HIST_PER_DECADE + 2)   # [under, ..., over]
        self._rng = random.Random(0x5EED)

    def add(self, v: float) -> None:
        self.n += 1
        self.sum += v
        if self.min is None or v < self.min:
            self.min = v
        if self.max is None or v > self.max:
            self.max = v
        if len(self.sample) < self.SAMPLES:
            self.sample.append(v)
        else:
            k = self._rng.randrange(self.n)
            if k < self.SAMPLES:
                self.sample[k] = v
        self.bins[self.bin(v)] += 1

    @staticmethod
    def bin(v: float) -> int:
        if v <= 0:
            return 0
        i = math.floor((math.log10(v) - HIST_LO) * HIST_PER_DECADE)
        return min(max(i + 1, 0), HIST_DECADES * HIST_PER_DECADE + 1)

    @staticmethod
    def edges() -> list[float]:
        """Bin i (1 .. len-2) holds [edges[i-1], edges[i]); bin 0 below edges[0], the last above."""
        return [10 ** (HIST_LO + k / HIST_PER_DECADE) for k in range(HIST_DECADES * HIST_PER_DECADE + 1)]

    @property
    def sampled(self) -> bool:
        return self.n > len(self.sample)

    def percentiles(self, ps: Iterable[float] = (0.5, 0.9, 0.99)) -> dict[str, float | None]:
        lat = sorted(self.sample)
        out: dict[str, float | None] = {}
        for p in ps:
            out[f"p{p * 100:g}"] = lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None
        return out

    def to_json(self) -> dict[str, Any]:
        return {"count": self.n, **{f"{k}_ms": v for k, v in self.percentiles().items()},
                "max_ms": self.max, "min_ms": self.min, "mean_ms": self.sum / self.n if self.n else None,
                "sampled": self.sampled}


class TimeHist:
    """Injections per time bucket, by state, over any span in bounded memory: buckets start
    1 ms wide and double (merging pairs) whenever there would be more than MAX_BUCKETS."""

    MAX_BUCKETS = 2048

    def __init__(self) -> None:
        self.width = 0.001
        self.buckets: dict[int, list[int]] = {}

    def add(self, t: float, state: str) -> None:
        k = math.floor(t / self.width)
        b = self.buckets.get(k)
        if b is None:
            b = self.buckets[k] = [0] * len(STATES)
        b[STATES.index(state) if state in STATES else len(STATES) - 1] += 1
        if len(self.buckets) > self.MAX_BUCKETS:
            self._coarsen()

    def _coarsen(self) -> None:
        while len(self.buckets) > self.MAX_BUCKETS:
            self.width *= 2
            merged: dict[int, list[int]] = {}
            for k, counts in self.buckets.items():
                m = merged.setdefault(k // 2, [0] * len(STATES))
                for i, c in enumerate(counts):
                    m[i] += c
            self.buckets = merged

    def series(self) -> tuple[float, list[tuple[float, list[int]]]]:
        """(bucket width s, [(bucket start epoch s, counts by STATES)] in time order)."""
        return self.width, [(k * self.width, v) for k, v in sorted(self.buckets.items()) if any(v)]


_PFN = re.compile(r"^Memory failure: 0x[0-9a-fA-F]+: ")
_HW = re.compile(r"^\{\d+\}\[Hardware Error\]: Hardware error from APEI Generic Hardware Error Source: (\d+)")


class OsReactions:
    """What the OS printed, in categories (from the journalled os-log lines)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.memory_failure: Counter[str] = Counter()   # outcome text, the PFN taken out
        self.records_by_source: Counter[str] = Counter()
        self.panics: list[dict[str, Any]] = []
        self.panic_count = 0
        self.requests = 0
        self.lines_journalled = 0
        self.lines_printed = 0

    def add(self, log: OsLog) -> None:
        self.requests += 1
        self.lines_printed += log.count
        self.lines_journalled += len(log.lines)
        for line in log.lines:
            self.classify(line)
        if log.os.get("panic"):
            self.panic_count += 1
            if len(self.panics) < PANICS_KEPT:
                self.panics.append({"run": log.run, "at": _r6(log.wall), "panic": str(log.os["panic"]),
                                    "ids": [log.first_id, log.last_id]})

    def classify(self, line: str) -> None:
        c = self.counts
        if line.startswith("Memory failure: "):
            c["memory_failure"] += 1
            self.memory_failure[_PFN.sub("", line)] += 1
        m = _HW.match(line)
        if m:
            c["hardware_error_records"] += 1
            self.records_by_source[m.group(1)] += 1
        if "SIGBUS" in line:
            c["sigbus"] += 1
        if "AER:" in line or line.startswith("aer "):
            c["aer"] += 1
        if line.startswith("Kernel panic"):
            c["kernel_panic_lines"] += 1
        if "[Firmware Warn]" in line or "[Firmware Bug]" in line:
            c["firmware_warnings"] += 1
        if "SError Interrupt" in line:
            c["serror"] += 1
        if line.startswith("[sim]"):
            c["sim_notes"] += 1
        if "soft offline" in line:
            c["soft_offline"] += 1

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "lines_printed": self.lines_printed,
                "lines_journalled": self.lines_journalled, "counts": dict(self.counts),
                "memory_failure": dict(self.memory_failure.most_common()),
                "records_by_source": dict(self.records_by_source), "panics": self.panics,
                "panic_count": self.panic_count}


class Summary:
    """Aggregates over the selected injections, bounded whatever their number."""

    def __init__(self) -> None:
        self.count = 0
        self.states: Counter[str] = Counter()
        self.cells: Counter[tuple[str, str, str]] = Counter()     # (state, notify, scenario)
        self.latency: dict[str, Latency] = {}
        self.reasons: dict[tuple[str, str], list[Any]] = {}       # → [count, first key, last key]
        self.rate = TimeHist()
        self.first: float | None = None
        self.last: float | None = None
        self.consumed_late = 0
        self.resolved: Counter[str] = Counter()                   # by `found`
        self.os = OsReactions()

    def add(self, run: str | None, iid: int, state: str, notify: str | None, scenario: str | None,
            latency_ms: float | None, accepted: float | None, reason: str | None) -> None:
        self.count += 1
        self.states[state] += 1
        self.cells[(state, notify or "?", scenario or "?")] += 1
        if latency_ms is not None and state == "consumed":
            lat = self.latency.get(notify or "?")
            if lat is None:
                lat = self.latency[notify or "?"] = Latency()
            lat.add(latency_ms)
        if state not in ("consumed", OPEN):
            key = (state, reason or "no reason given")
            r = self.reasons.get(key)
            name = f"{run if run is not None else NO_RUN}:{iid}"
            if r is None:
                if len(self.reasons) >= REASONS_KEPT:
                    key = (state, OTHER_REASONS)
                    r = self.reasons.get(key)
                if r is None:
                    r = self.reasons[key] = [0, name, name]
            r[0] += 1
            r[2] = name
        if accepted is not None:
            self.first = accepted if self.first is None else min(self.first, accepted)
            self.last = accepted if self.last is None else max(self.last, accepted)
            self.rate.add(accepted, state)

    def reason_rows(self) -> list[dict[str, Any]]:
        rows = [{"state": s, "reason": r, "count": v[0], "first": v[1], "last": v[2]}
                for (s, r), v in self.reasons.items()]
        rows.sort(key=lambda x: (-x["count"], x["state"], x["reason"]))
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "states": dict(self.states),
                "by_state_notify_scenario": [{"state": s, "notify": n, "scenario": c, "count": v}
                                             for (s, n, c), v in sorted(self.cells.items())],
                "latency": {k: v.to_json() for k, v in sorted(self.latency.items())},
                "reasons": self.reason_rows(), "first_accepted": self.first, "last_accepted": self.last,
                "consumed_late": self.consumed_late, "resolved": dict(self.resolved)}


@dataclass
class Scan:
    """One pass over a journal: every run seen (file order) and the selection's summary."""

    path: str
    lines: int = 0
    runs: dict[str, Run] = field(default_factory=dict)
    summary: Summary = field(default_factory=Summary)
    warnings: list[str] = field(default_factory=list)

    def selected_runs(self, flt: Filter) -> list[Run]:
        """The runs a filter selects: by id, overlapping the window, and with at least one
        selected injection when the filter is on injections' fields."""
        out = []
        for r in self.runs.values():
            if r.run == NO_RUN:
                ok = flt.runs is None and r.matched > 0
            else:
                ok = flt.run_selected(r.run) and r.overlaps(flt) and (r.matched > 0 or not flt.by_injection)
            if ok:
                out.append(r)
        return out


# ---- fast parsing of fwemu's own lines ------------------------------------------------

_S = rb'(null|"[^"\\]*(?:\\.[^"\\]*)*")'
_FINAL_RX = re.compile(
    rb'\{"id":(\d+),"scenario":' + _S + rb',"source":(-?\d+|null),"notify":' + _S +
    rb',"pe":(-?\d+|null),"block":[^,]*,"length":[^,]*,"digest":[^,]*,"state":"([a-z-]+)","reason":' + _S +
    rb',"accepted":([^,]*),"posted":[^,]*,"notified":[^,]*,"consumed":[^,]*,"latency_ms":([^,]*),'
    rb'"run":"([^"\\]*)","m_accepted":([^,]*),"m_posted":[^,]*,"m_notified":[^,]*,"m_consumed":[^,]*,'
    rb'"m_end":([^,}]*)[,}]')
_ACC_RX = re.compile(
    rb'\{"event":"accepted","id":(\d+),"scenario":' + _S + rb',"source":(-?\d+|null),"pe":(-?\d+|null),'
    rb'"digest":[^,]*,"accepted":([^,]*),"run":"([^"\\]*)","m_accepted":([^,]*),"length":\d+,"bs":\d+\}$')


_STR_CACHE: dict[bytes, str | None] = {}


def _str(b: bytes) -> str | None:
    """A JSON string (or null) from the line's bytes; repeated ones (run ids, scenarios,
    notifications, reasons) come from a small cache."""
    v = _STR_CACHE.get(b, "")
    if v != "":
        return v
    if b == b"null":
        v = None
    elif b"\\" in b:
        d = json.loads(b)
        v = d if isinstance(d, str) else None
    else:
        v = b[1:-1].decode("utf-8")
    if len(_STR_CACHE) < 4096:
        _STR_CACHE[b] = v
    return v


def _fb(b: bytes) -> float | None:
    """A number's bytes as a finite float (null, NaN, Infinity: None)."""
    if b == b"null":
        return None
    v = float(b)
    return v if math.isfinite(v) else None


class _Light(NamedTuple):
    """The fields the aggregates need from an accepted or final line."""

    event: str
    run: str | None
    id: int
    scenario: str | None
    source: int | None
    notify: str | None
    state: str
    reason: str | None
    accepted: float | None
    latency_ms: float | None
    m_last: float | None       # m_end (final), m_accepted (accepted)


def _light(body: bytes) -> _Light | None:
    """A final or accepted line as fwemu writes it, read with one regex instead of
    json.loads (a third of the cost); None for any other line (json.loads reads it)."""
    if body.startswith(b'{"id":'):
        m = _FINAL_RX.match(body)
        if m is None:
            return None
        iid, sc, src, nt, _pe, st, rs, acc, lat, run, _macc, mend = m.groups()
        if not body.endswith(b'"event":"' + st + b'"}'):
            return None
        try:
            state = st.decode()
            return _Light(state, _str(b'"' + run + b'"'), int(iid), _str(sc),
                          None if src == b"null" else int(src), _str(nt), state,
                          None if rs == b"null" else _str(rs), _fb(acc), _fb(lat), _fb(mend))
        except (ValueError, UnicodeDecodeError):
            return None
    if body.startswith(b'{"event":"accepted",'):
        m = _ACC_RX.match(body)
        if m is None:
            return None
        iid, sc, src, _pe, acc, run, macc = m.groups()
        try:
            return _Light("accepted", _str(b'"' + run + b'"'), int(iid), _str(sc),
                          None if src == b"null" else int(src), None, OPEN, None, _fb(acc), None, _fb(macc))
        except (ValueError, UnicodeDecodeError):
            return None
    return None


def _light_of(ev: Event) -> _Light:
    """The same fields from a parsed line (any line fwemu did not write in its own layout);
    a value of the wrong type is read as absent."""
    kind = str(ev.get("event"))
    final = kind != "accepted"
    iid = ev["id"]
    if not isinstance(iid, int) or isinstance(iid, bool):
        raise ValueError("id")
    state = _typed("state", ev.get("state")) or kind
    return _Light(kind, ev.get("run") if isinstance(ev.get("run"), str) else None, iid,
                  _typed("scenario", ev.get("scenario")), _typed("source", ev.get("source")),
                  _typed("notify", ev.get("notify")), state if final else OPEN,
                  _typed("reason", ev.get("reason")), _f(ev.get("accepted")), _f(ev.get("latency_ms")),
                  _f(ev.get("m_end") if final else ev.get("m_accepted")))


# ---- the reader ---------------------------------------------------------------------

class JournalReader:
    """A journal file, read in streaming passes. Construction checks it can be read."""

    def __init__(self, path: str | os.PathLike[str], what: str = "--journal"):
        self.path = os.fspath(path)
        self.what = what
        self.warnings: list[str] = []
        self._warned: set[int] = set()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise UsageError(what, f"{self.path}: no such file (nothing journalled there yet?)") from None
        except OSError as exc:
            raise UsageError(what, f"cannot read {self.path}: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(what, f"{self.path} is a directory, not a journal")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(what, f"{self.path} is not a regular file (a journal is read more than once)")
        try:
            with open(self.path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise UsageError(what, f"cannot read {self.path}: {exc.strerror or exc}") from None

    # -- lines
    def _warn(self, n: int, text: str) -> None:
        if n not in self._warned:
            self._warned.add(n)
            self.warnings.append(f"{self.path}:{n}: {text}")

    def raw_lines(self) -> Iterator[tuple[int, bytes, bool]]:
        """(line number, the line's bytes without its newline, whether it is an unterminated
        last line) for each line that is not blank."""
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise UsageError(self.what, f"cannot read {self.path}: {exc.strerror or exc}") from None
        with f:
            n = 0
            try:
                for raw in f:
                    n += 1
                    if raw.endswith(b"\n"):
                        body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
                        if body.strip():
                            yield n, body, False
                    elif raw.strip():
                        yield n, raw, True
            except OSError as exc:
                raise UsageError(self.what, f"cannot read {self.path} at line {n + 1}: "
                                            f"{exc.strerror or exc}") from None

    def parse(self, n: int, body: bytes, unterminated: bool = False) -> Event | None:
        """A line as a dict; None for a torn line (warned); UsageError for anything else
        that is not one JSON object."""
        try:
            ev = json.loads(body)
        except (ValueError, RecursionError) as exc:
            if unterminated:
                self._warn(n, f"the last line is torn ({len(body)} bytes without a newline, not "
                              "whole JSON: a run killed mid-write?); skipped")
                return None
            whole = _after_torn(body)
            if whole is not None:
                cut, ev2 = whole
                self._warn(n, f"a torn line ({cut} bytes, cut short) with a whole line appended to it; "
                              "the torn part skipped")
                return ev2
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise UsageError(self.what, f"{self.path}:{n}: not a whole JSON line ({msg}); "
                                        "the journal is damaged there") from None
        if not isinstance(ev, dict):
            raise UsageError(self.what, f"{self.path}:{n}: a JSON {type(ev).__name__}, not a journal line")
        return ev

    def _id(self, n: int, ev: Event) -> int:
        """An injection line's id; UsageError naming the line when it is not a number."""
        v = ev.get("id")
        if not isinstance(v, int) or isinstance(v, bool):
            raise UsageError(self.what, f"{self.path}:{n}: an injection line ({ev.get('event')}) without a "
                                        "numeric id")
        return v

    def events(self, needles: tuple[bytes, ...] | None = None) -> Iterator[tuple[int, Event]]:
        """(line number, event) of each line; with needles, only lines containing one of
        them are parsed (the others are skipped unread)."""
        for n, body, unterminated in self.raw_lines():
            if needles is not None and not any(x in body for x in needles) and _looks_whole(body, unterminated):
                continue
            ev = self.parse(n, body, unterminated)
            if ev is not None:
                yield n, ev

    # -- runs
    def run_ids(self) -> list[tuple[str, float | None]]:
        """(run id, wall start) of each `run` line, in file order (a quick pass)."""
        out: list[tuple[str, float | None]] = []
        seen: set[str] = set()
        for _n, ev in self.events((b'"event":"run"', b'"event": "run"')):
            if ev.get("event") == "run" and isinstance(ev.get("run"), str) and ev["run"] not in seen:
                seen.add(ev["run"])
                ws = ev.get("wall_start")
                out.append((ev["run"], float(ws) if isinstance(ws, (int, float)) else None))
        return out

    def resolve_run(self, selector: str, what: str = "RUN", known: list[tuple[str, float | None]] | None = None) -> str:
        """A run id from a selector: the id, a unique prefix of it, or `last` (the newest)."""
        runs = self.run_ids() if known is None else known
        sel = selector.strip()
        if not sel:
            raise UsageError(what, "an empty run id")
        if not runs:
            raise UsageError(what, f"no run in {self.path} (it holds no run line)")
        if sel == "last":
            best = max(range(len(runs)), key=lambda i: (runs[i][1] if runs[i][1] is not None else -math.inf, i))
            return runs[best][0]
        ids = [r for r, _ in runs]
        if sel in ids:
            return sel
        hits = [r for r in ids if r.startswith(sel)]
        if len(hits) == 1:
            return hits[0]
        if hits:
            more = f", … ({len(hits)} in all)" if len(hits) > 5 else ""
            raise UsageError(what, f"{sel!r} names {len(hits)} runs ({', '.join(hits[:5])}{more}): give more of the id")
        raise UsageError(what, f"no run {sel!r} in {self.path} ({len(ids)} run{'s' if len(ids) != 1 else ''}; "
                               f"newest {self.resolve_run('last', what, runs)}; `fwemu journal list` lists them)")

    def runs_with_id(self, iid: int) -> list[str]:
        """The runs (file order) with an accepted or final line for injection `iid`: one in a
        format-3 journal (ids unique among its runs), possibly several in older ones."""
        out: list[str] = []
        needles = (b'"id":%d,' % iid, b'"id": %d,' % iid)
        for _n, ev in self.events(needles):
            rid = ev.get("run")
            kind = ev.get("event")
            if ev.get("id") == iid and isinstance(rid, str) and rid not in out and \
                    (kind == "accepted" or kind in FINAL):
                out.append(rid)
        return out

    def filter(self, *, runs: Iterable[str] | None = None, **options: Any) -> Filter:
        """Filter.parse with run selectors resolved against this journal."""
        sel = _words(runs)
        resolved: frozenset[str] | None = None
        if sel:
            known = self.run_ids()
            resolved = frozenset(self.resolve_run(s, "--run", known) for s in sel)
        return Filter.parse(runs=resolved, **options)

    def live_runs(self) -> set[str]:
        """Runs listed in the journal's run file (JOURNAL.runs) whose process is still alive
        on this boot (a daemon or a command running now)."""
        try:
            with open(self.path + ".runs", "rb") as f:
                state = json.loads(f.read(1 << 22) or b"{}")
        except (OSError, ValueError):
            return set()
        boot = _boot_id()
        out: set[str] = set()
        for e in state.get("runs", []) if isinstance(state, dict) else []:
            if isinstance(e, dict) and not e.get("ended") and e.get("boot_id") == boot and \
                    isinstance(e.get("pid"), int) and _alive(e["pid"], e.get("start")):
                out.add(str(e.get("run")))
        return out

    # -- the aggregate pass
    def scan(self, flt: Filter | None = None, *, os_reactions: bool = False) -> Scan:
        """One pass: every run's aggregates and the summary of the selected injections.
        os_reactions: classify the OS's journalled lines too (reports)."""
        flt = flt or Filter()
        res = Scan(self.path)
        runs = res.runs
        summ = res.summary
        pending: dict[tuple[str | None, int], tuple[str | None, int | None, float | None]] = {}
        notify_of: dict[tuple[str | None, int], str] = {}
        since_log: dict[str | None, list[int]] = {}     # run → [first id, last id, selected]
        needles = _run_needles(flt.runs) if flt.runs is not None else None

        def run_of(rid: str | None) -> Run:
            key = rid if rid is not None else NO_RUN
            r = runs.get(key)
            if r is None:
                r = runs[key] = Run(key, format=1 if rid is None else None)
            return r

        def seen(r: Run, m: float | None) -> None:
            if m is not None and (r.m_last is None or m > r.m_last):
                r.m_last = m

        for n, body, unterminated in self.raw_lines():
            res.lines = n
            if needles is not None and not any(x in body for x in needles) and _looks_whole(body, unterminated):
                continue
            li = None if unterminated else _light(body)
            ev: Event | None = None
            if li is None:
                ev = self.parse(n, body, unterminated)
                if ev is None:
                    continue
                kind = ev.get("event")
                if (kind == "accepted" or kind in FINAL) and "id" in ev:
                    try:
                        li = _light_of(ev)
                    except (TypeError, ValueError):
                        raise UsageError(self.what, f"{self.path}:{n}: an injection line ({kind}) "
                                                    "without a numeric id") from None
            if li is not None:
                rid = li.run if isinstance(li.run, str) else None
                r = run_of(rid)
                if li.event == "accepted":
                    r.accepted += 1
                    pending[(rid, li.id)] = (li.scenario, li.source, li.accepted)
                    seen(r, li.m_last)
                    _wall_span(r, li.accepted)
                    continue
                r.finals += 1
                r.states[li.state] = r.states.get(li.state, 0) + 1
                pending.pop((rid, li.id), None)
                if li.source is not None and li.notify:
                    notify_of[(rid, li.source)] = li.notify
                if b'"resolved_by"' not in body:      # a later run's line: not this run's time
                    seen(r, li.m_last)
                _wall_span(r, li.accepted)
                s = since_log.setdefault(rid, [li.id, li.id, 0])
                s[0], s[1] = min(s[0], li.id), max(s[1], li.id)
                if flt.match(rid, li.state, li.notify, li.scenario, li.source, li.accepted):
                    r.matched += 1
                    s[2] += 1
                    summ.add(rid, li.id, li.state, li.notify, li.scenario, li.latency_ms, li.accepted, li.reason)
                continue
            assert ev is not None
            kind = ev.get("event")
            rid = ev.get("run") if isinstance(ev.get("run"), str) else None
            if kind == "run" and rid is not None:
                r = run_of(rid)
                if r.line is None:
                    r.line = n
                    _run_meta(r, ev)
                    seen(r, _f(ev.get("m_start")))
            elif kind == "run-end" and rid is not None:
                r = run_of(rid)
                _seen(r, ev)
                _run_end(r, ev)
            elif kind == "os-log":
                r = run_of(rid)
                _os_state(r, ev)
                seen(r, _f(ev.get("m_at")))
                ended = since_log.pop(rid) if rid in since_log else None
                if os_reactions and ended is not None and ended[2] > 0:
                    summ.os.add(_oslog(ev, n, r, ended))
            elif kind == "consumed-late":
                r = run_of(rid)
                r.consumed_late += 1
                seen(r, _f(ev.get("m_consumed")))
                if flt.run_selected(rid):
                    summ.consumed_late += 1
            elif kind == "resolved":
                r = run_of(rid)
                r.resolved += 1
                seen(r, _f(ev.get("m_at")))
                if flt.run_selected(rid):
                    summ.resolved[str(ev.get("found"))] += 1
        for (rid, iid), (scenario, source, accepted) in pending.items():
            notify = notify_of.get((rid, source)) if source is not None else None
            if flt.match(rid, OPEN, notify, scenario, source, accepted):
                run_of(rid).matched += 1
                summ.add(rid, iid, OPEN, notify, scenario, None, accepted, None)
        live = self.live_runs()
        for r in runs.values():
            r.live = r.run in live
        res.warnings = list(self.warnings)
        return res

    # -- injections, one at a time
    def late_lines(self, flt: Filter) -> dict[tuple[str | None, int], list[Event]]:
        """The consumed-late and resolved lines of the selected runs (a quick pass: only
        lines holding those words are parsed), keyed by (run, id); at most LATE_KEPT."""
        out: dict[tuple[str | None, int], list[Event]] = {}
        kept = 0
        for n, ev in self.events((b'"consumed-late"', b'"resolved"')):
            if ev.get("event") not in LATE_EVENTS or "id" not in ev:
                continue
            rid = ev.get("run") if isinstance(ev.get("run"), str) else None
            if not flt.run_selected(rid):
                continue
            if kept >= LATE_KEPT:
                self._warn(n, f"more than {LATE_KEPT:,} late lines: this one and later ones are not "
                              "shown with their injections")
                break
            kept += 1
            out.setdefault((rid, self._id(n, ev)), []).append(dict(ev, line=n))
        return out

    def stream(self, flt: Filter | None = None, *, late: bool = True) -> Iterator[Run | Injection | OsLog]:
        """The journal in order, as typed items, for the selected runs:

        - a Run at each `run` line (the same object is updated as the pass goes on: by the
          end it has its counts, its run-end or resolved_by, its last instant);
        - each selected Injection once it has ended, in id order within its run (an
          injection waits for every earlier accepted id of its run to end); those left open
          (accepted, no final line) at the end of the file;
        - each OsLog after the injections of its request, when at least one of them was
          selected (and its time is in the window).

        Late lines are merged into their injection (late=True: one quick pass first).
        Bounded memory: only injections in flight or waiting for an earlier id are held."""
        flt = flt or Filter()
        lates = self.late_lines(flt) if late else {}
        needles = _run_needles(flt.runs) if flt.runs is not None else None
        pending: dict[tuple[str | None, int], Injection] = {}
        waiting: dict[str, list[int]] = {}           # run → heap of open ids (lazily pruned)
        ready: dict[str, list[tuple[int, int, Injection]]] = {}
        runs: dict[str, Run] = {}
        since_log: dict[str | None, list[int]] = {}  # run → [first id, last id, selected]
        notify_of: dict[tuple[str | None, int], str] = {}
        seq = 0

        def emit(inj: Injection) -> Iterator[Injection]:
            inj.late = lates.get((inj.run, inj.id), [])
            if flt.matches(inj):
                if inj.run in runs:
                    runs[inj.run].matched += 1
                s = since_log.get(inj.run)
                if s is not None:
                    s[2] += 1
                yield inj

        def flush(rid: str) -> Iterator[Injection]:
            w, rd = waiting.get(rid, []), ready.get(rid, [])
            while w and (rid, w[0]) not in pending:
                heappop(w)
            while rd and (not w or rd[0][0] < w[0]):
                yield from emit(heappop(rd)[2])

        for n, ev in self.events(needles):
            kind = ev.get("event")
            rid = ev.get("run") if isinstance(ev.get("run"), str) else None
            r = runs.get(rid) if rid is not None else None
            if r is not None:
                _seen(r, ev)
            if kind == "accepted" and "id" in ev:
                self._id(n, ev)
                inj = Injection.from_accepted(ev, n)
                inj.run = rid
                pending[(rid, inj.id)] = inj
                if rid is not None:
                    heappush(waiting.setdefault(rid, []), inj.id)
                if r is not None:
                    r.accepted += 1
            elif kind in FINAL and "id" in ev:
                iid = self._id(n, ev)
                got = pending.pop((rid, iid), None)
                inj = got if got is not None else Injection(run=rid, id=iid)
                inj.merge_final(ev, n)
                if r is not None:
                    r.finals += 1
                    r.states[inj.state] = r.states.get(inj.state, 0) + 1
                if inj.source is not None and inj.notify:
                    notify_of[(rid, inj.source)] = inj.notify
                s = since_log.setdefault(rid, [iid, iid, 0])
                s[0], s[1] = min(s[0], iid), max(s[1], iid)
                if rid is None:
                    yield from emit(inj)
                else:
                    seq += 1
                    heappush(ready.setdefault(rid, []), (iid, seq, inj))
                    yield from flush(rid)
            elif kind == "os-log":
                if rid is not None:
                    yield from flush(rid)
                ended = since_log.pop(rid) if rid in since_log else None
                if r is not None:
                    _os_state(r, ev)
                if ended is not None and ended[2] > 0:
                    log = _oslog(ev, n, r, ended)
                    if log.wall is None or flt.in_window(log.wall):
                        yield log
            elif kind == "run" and rid is not None and r is None:
                r = runs[rid] = Run(rid, line=n)
                _run_meta(r, ev)
                _seen(r, ev)
                yield r
            elif kind == "run-end" and r is not None:
                _run_end(r, ev)
            elif kind == "consumed-late" and r is not None:
                r.consumed_late += 1
            elif kind == "resolved" and r is not None:
                r.resolved += 1
        for rid in list(ready):
            rd = ready[rid]
            while rd:
                yield from emit(heappop(rd)[2])
        for inj in sorted(pending.values(), key=lambda i: (i.run or "", i.id)):
            if inj.source is not None:
                inj.notify = notify_of.get((inj.run, inj.source))
            yield from emit(inj)
        live = self.live_runs() if runs else set()
        for r in runs.values():
            r.live = r.run in live

    def injections(self, flt: Filter | None = None, *, late: bool = True) -> Iterator[Injection]:
        """The selected injections (stream() without the os-log lines)."""
        for item in self.stream(flt, late=late):
            if isinstance(item, Injection):
                yield item

    def injection(self, run: str, iid: int) -> tuple[Injection, list[tuple[int, Event]], OsLog | None, Run | None]:
        """Everything about RUN:ID, in one pass over that run's lines: the merged injection,
        each of its journal lines (line number, event), the os-log line of its request (the
        run's first after its final line), and its run (None when the file has no run
        line for it). UsageError when the journal has no such injection."""
        inj: Injection | None = None
        lines: list[tuple[int, Event]] = []
        log: OsLog | None = None
        meta: Run | None = None
        since: list[int] | None = None     # ids ended since the run's last os-log line
        for n, ev in self.events(_run_needles(frozenset([run]))):
            if ev.get("run") != run:
                continue
            kind = ev.get("event")
            if meta is not None:
                _seen(meta, ev)
            if kind == "run" and meta is None:
                meta = Run(run, line=n)
                _run_meta(meta, ev)
                _seen(meta, ev)
            elif kind == "run-end" and meta is not None:
                _run_end(meta, ev)
            elif kind == "os-log":
                if meta is not None:
                    _os_state(meta, ev)
                if log is None and inj is not None and inj.final and since is not None:
                    log = _oslog(ev, n, meta, [since[0], since[1], 1])
                since = None
            elif kind in FINAL and "id" in ev:
                j = self._id(n, ev)
                since = [j, j, 1] if since is None else [min(since[0], j), max(since[1], j), 1]
                if meta is not None:
                    meta.finals += 1
                    st = str(ev.get("state") or kind)
                    meta.states[st] = meta.states.get(st, 0) + 1
            elif kind == "accepted" and meta is not None:
                meta.accepted += 1
            elif kind == "consumed-late" and meta is not None:
                meta.consumed_late += 1
            elif kind == "resolved" and meta is not None:
                meta.resolved += 1
            if ev.get("id") != iid or kind in ("run", "run-end", "os-log"):
                continue
            lines.append((n, ev))
            if kind == "accepted" and inj is None:
                inj = Injection.from_accepted(ev, n)
            elif kind in FINAL:
                if inj is None:
                    inj = Injection(run=run, id=iid)
                inj.merge_final(ev, n)
            elif kind in LATE_EVENTS and inj is not None:
                inj.late.append(dict(ev, line=n))
        if inj is None:
            raise UsageError("RUN:ID", f"run {run} has no injection #{iid} in {self.path}")
        inj.run = run
        if meta is not None:
            meta.live = run in self.live_runs()
        return inj, lines, log, meta


# ---- helpers ------------------------------------------------------------------------

def _looks_whole(body: bytes, unterminated: bool) -> bool:
    """A line another run's filter may skip unread: it has its newline and is braced like
    one JSON object (anything else is parsed, so damage is reported wherever it is)."""
    return not unterminated and body[:1] == b"{" and body[-1:] == b"}"


def _after_torn(body: bytes) -> tuple[int, Event] | None:
    """A line that fails to parse because a torn line (cut short) had a whole line appended
    to it: (bytes of the torn part, the whole line's event), or None."""
    pos = body.find(b'{"', 1)
    while pos > 0:
        try:
            ev = json.loads(body[pos:])
        except (ValueError, RecursionError):
            pos = body.find(b'{"', pos + 1)
            continue
        return (pos, ev) if isinstance(ev, dict) and "event" in ev else None
    return None


def _run_needles(runs: frozenset[str] | None) -> tuple[bytes, ...]:
    out: list[bytes] = []
    for r in sorted(runs or ()):
        e = json.dumps(r).encode()
        out += [b'"run":' + e, b'"run": ' + e]
    return tuple(out)


def _f(v: Any) -> float | None:
    """A finite number from a line, else None."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _r6(v: float | None) -> float | None:
    return None if v is None else round(v, 6)


def _run_meta(r: Run, ev: Event) -> None:
    r.board = ev.get("board") if isinstance(ev.get("board"), str) else None
    r.target = ev.get("target") if isinstance(ev.get("target"), str) else None
    r.pid = ev.get("pid") if isinstance(ev.get("pid"), int) else None
    r.boot_id = ev.get("boot_id") if isinstance(ev.get("boot_id"), str) else None
    fmt = ev.get("format")
    r.format = fmt if isinstance(fmt, int) else 1
    r.m_start, r.wall_start = _f(ev.get("m_start")), _f(ev.get("wall_start"))
    r.sei_settle_ms = _f(ev.get("sei_settle_ms"))
    r.unsafe_concurrent_sei = bool(ev.get("unsafe_concurrent_sei"))


def _run_end(r: Run, ev: Event) -> None:
    if ev.get("resolved_by"):
        r.resolved_by = str(ev["resolved_by"])
    else:
        r.ended = True
        r.m_end = _f(ev.get("m_at"))
        c = ev.get("counts")
        r.end_counts = dict(c) if isinstance(c, dict) else None


def _os_state(r: Run, ev: Event) -> None:
    r.os_logs += 1
    cnt = ev.get("count")
    lines = ev.get("lines")
    r.os_lines += cnt if isinstance(cnt, int) else len(lines) if isinstance(lines, list) else 0
    osd = ev.get("os")
    if isinstance(osd, dict):
        if isinstance(osd.get("up"), bool):
            r.os_up = osd["up"]
        if osd.get("panic"):
            r.panic = str(osd["panic"])


_INSTANTS = ("m_start", "m_accepted", "m_end", "m_at", "m_consumed")


def _seen(r: Run, ev: Event) -> None:
    """Keep the latest monotonic instant of a run's lines (a cut-short run's duration);
    lines a later run wrote for it (resolved_by) are on that run's time."""
    if ev.get("resolved_by"):
        return
    for k in _INSTANTS:
        v = ev.get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and (r.m_last is None or v > r.m_last):
            r.m_last = float(v)


def _wall_span(r: Run, t: float | None) -> None:
    if t is None:
        return
    if r.wall_first is None or t < r.wall_first:
        r.wall_first = t
    if r.wall_last is None or t > r.wall_last:
        r.wall_last = t


def _oslog(ev: Event, n: int, r: Run | None, since: list[int] | None) -> OsLog:
    lines = ev.get("lines")
    osd = ev.get("os")
    m_at = _f(ev.get("m_at"))
    cnt = ev.get("count")
    lst = [str(x) for x in lines] if isinstance(lines, list) else []
    return OsLog(run=ev.get("run") if isinstance(ev.get("run"), str) else None, line=n, m_at=m_at,
                 wall=r.wall(m_at) if r is not None else None,
                 count=cnt if isinstance(cnt, int) else len(lst), lines=lst,
                 os=osd if isinstance(osd, dict) else {},
                 first_id=since[0] if since else None, last_id=since[1] if since else None,
                 injections=(since[1] - since[0] + 1) if since else 0)


def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _alive(pid: int, start: Any) -> bool:
    """The process is alive and is the one that registered (its start time matches)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        now = data[data.rfind(b")") + 2:].split()[19].decode()
    except (OSError, IndexError):
        return True
    return start is None or str(start) == now


def local_time(t: float | None, ms: bool = False) -> str | None:
    """Epoch seconds as local time, `2026-12-02 05:45:26` (with ms: `.123`)."""
    if t is None:
        return None
    try:
        d = dt.datetime.fromtimestamp(t)
    except (ValueError, OverflowError, OSError):
        return f"{t!r} (epoch s)"
    return d.strftime("%Y-%m-%d %H:%M:%S") + (f".{d.microsecond // 1000:03d}" if ms else "")


def duration_text(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"


def split_key(text: str) -> tuple[str, int | None]:
    """RUN or RUN:ID → (run selector, id or None); `:ID` gives an empty run selector (the
    run that holds the id: JournalReader.runs_with_id). UsageError for a bad id."""
    if ":" not in text:
        return text, None
    run, _, iid = text.rpartition(":")
    try:
        n = int(iid, 10)
    except ValueError:
        raise UsageError("RUN:ID", f"{iid!r} is not an injection id (RUN:ID, e.g. last:17, or :17)") from None
    if n < 1:
        raise UsageError("RUN:ID", "injection ids start at 1")
    return run, n


# ---- for replays --------------------------------------------------------------------

def replayable(reader: JournalReader, flt: Filter | None = None) -> Iterator[Injection]:
    """The selected injections that have a final line, one at a time, for posting again.

    Each Injection has: `scenario`, `source` (the id it was posted to), `notify` (that
    source's notification kind), `pe`, `fields` (the field options it was asked for, keyed
    by option as `fwemu inject` takes them: {"--address": "0x60001000"}; a sweep's value for
    that injection), `record` (the exact status block posted, bytes; None in format-1 lines,
    which did not journal it) and `run`/`id`/`state`/`key` to name it. Order: by run as the
    journal holds them, and by id (the order they were accepted) within a run. Open
    injections (no final line) are left out; so are lines of other runs, states,
    notifications, scenarios, sources and times than `flt` selects. Late lines are not read
    (a replay needs none). Memory stays bounded (JournalReader.stream)."""
    for inj in reader.injections(flt, late=False):
        if inj.final:
            yield inj
