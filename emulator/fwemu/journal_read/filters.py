"""Which injections and runs a command looks at: Filter, from the options' values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..board import NOTIFY_TYPES, SCENARIOS
from ..errors import UsageError
from .model import STATES, Injection
from .times import parse_time


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
