"""The typed results of reading a journal: a Run (one firmware instance as its lines tell
it), an Injection (its accepted, final and late lines merged), an OsLog (what the OS
printed during one request); the vocabulary they share (Event, NO_RUN, OPEN, STATES); and
the helpers that fill them from lines, each value taken only when it has its type (a
hand-edited line with a string for a number is read as if the key were absent)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import UsageError
from ..journal_check import FINAL
from ..request import field_key
from .times import local_time

Event = dict[str, Any]          # one journal line as json.loads gives it

NO_RUN = "(no run)"             # the pseudo-run of format-1 lines (no "run" key)
OPEN = "open"                   # an accepted injection without a final line
STATES: tuple[str, ...] = (*FINAL, OPEN)
LATE_EVENTS = ("consumed-late", "resolved")


class Window(Protocol):
    """A time window, epoch seconds, None = open on that side (a Filter is one)."""

    @property
    def since(self) -> float | None: ...

    @property
    def until(self) -> float | None: ...


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

    def overlaps(self, flt: Window) -> bool:
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


def _name(key: str) -> str:
    try:
        return field_key(key)
    except UsageError:     # not a field's name ("", "--"): shown as the journal has it
        return key


@dataclass(slots=True)
class Injection:
    """One injection: its accepted line, its final line and any late lines, merged.

    state is the final line's (consumed, dropped, refused, timed-out, interrupted), or
    OPEN when the journal has its accepted line only. Wall times (accepted, posted,
    notified, consumed) are epoch seconds; m_* are the run's monotonic instants. fields
    are the field values it was asked for, keyed by field name ("address": "0x60000000"),
    whatever the journal's format;
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
        if isinstance(f, dict):    # by name; formats 2 and 3 keyed them by option ("--address")
            self.fields = {_name(str(k)): str(v) for k, v in f.items()}
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
