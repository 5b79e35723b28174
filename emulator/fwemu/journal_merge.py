"""Journals of several boards as one: each line tagged with where it came from, and one
summary per journal and for all of them (`fwemu farm run`).

Both read the journals a line at a time: a summary keeps counts, the span of the run and
at most SAMPLES latencies (exact up to that many, a uniform seeded sample above, as
session's summaries), so memory stays flat whatever the journals hold.
"""

from __future__ import annotations

import heapq
import json
import random
from array import array
from collections.abc import Iterator
from typing import Any

from .journal_check import FINAL as FINAL_STATES   # the final lines' events

SAMPLES = 100_000


class Latencies:
    """Latency samples in ms: all of them up to SAMPLES, a uniform reservoir above."""

    def __init__(self, seed: int = 0) -> None:
        self.values = array("d")
        self.seen = 0
        self._rng = random.Random(seed)

    def add(self, value: float) -> None:
        self.seen += 1
        if len(self.values) < SAMPLES:
            self.values.append(value)
        else:
            j = self._rng.randrange(self.seen)
            if j < SAMPLES:
                self.values[j] = value

    def quantile(self, p: float) -> float | None:
        """The p-quantile as session.latency_summary takes it: sorted[int(p * n)]."""
        if not self.values:
            return None
        lat = sorted(self.values)
        return lat[min(len(lat) - 1, int(p * len(lat)))]


def _lines(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            try:
                obj = json.loads(raw)
            except ValueError:
                continue        # a line cut short by a crash: the journal's own rule is whole lines
            if isinstance(obj, dict):
                yield obj


def is_final(line: dict[str, Any]) -> bool:
    """An injection's one final line (its event is the state it ended in)."""
    return line.get("event") in FINAL_STATES


class Summary:
    """Counts by final state, latency p50/p99 and the injection rate of one journal (or,
    through `add`, of several)."""

    def __init__(self) -> None:
        self.states: dict[str, int] = {}
        self.count = 0
        self.latencies = Latencies()
        self.first: float | None = None      # earliest m_accepted of a finished injection
        self.last: float | None = None       # latest m_end
        self.rate_sum = 0.0                  # for a total: the boards' rates, summed

    def take(self, line: dict[str, Any]) -> None:
        if not is_final(line):
            return
        state = str(line["event"])
        self.states[state] = self.states.get(state, 0) + 1
        self.count += 1
        if isinstance(line.get("latency_ms"), (int, float)):
            self.latencies.add(float(line["latency_ms"]))
        start, end = line.get("m_accepted"), line.get("m_end")
        if isinstance(start, (int, float)):
            self.first = start if self.first is None else min(self.first, start)
        if isinstance(end, (int, float)):
            self.last = end if self.last is None else max(self.last, end)

    @property
    def rate(self) -> float | None:
        """Injections finished per second, from the first accepted to the last ended (the
        injecting itself: start-up, the channel's open and the report are outside it)."""
        if self.first is None or self.last is None or self.last <= self.first:
            return None
        return self.count / (self.last - self.first)

    def to_json(self, total: bool = False) -> dict[str, Any]:
        rate = self.rate_sum if total else self.rate
        return {"count": self.count, "states": dict(sorted(self.states.items())),
                "rate": None if rate is None else round(rate, 1),
                "p50_ms": self.latencies.quantile(0.50), "p99_ms": self.latencies.quantile(0.99)}


def summarize(path: str, total: Summary | None = None) -> Summary:
    """The summary of one journal; its final lines also go into `total` when given (one
    read of the journal for both)."""
    s = Summary()
    for line in _lines(path):
        s.take(line)
        if total is not None:
            total.take(line)
    if total is not None and s.rate is not None:
        total.rate_sum += s.rate        # boards inject in parallel: their rates add up
    return s


def _wall_key(lines: Iterator[dict[str, Any]], tag: dict[str, str]) -> Iterator[tuple[float, dict[str, Any]]]:
    """Each line with the wall time it was written at: its run's wall anchor plus the
    monotonic instant it carries (m_end, m_at, m_accepted, m_start), so boards interleave
    by when things happened; a line without one keeps its predecessor's time."""
    anchors: dict[str, float] = {}
    at = 0.0
    for line in lines:
        if line.get("event") == "run" and isinstance(line.get("wall_start"), (int, float)) \
                and isinstance(line.get("m_start"), (int, float)):
            anchors[line.get("run", "")] = line["wall_start"] - line["m_start"]
        anchor = anchors.get(line.get("run", ""))
        m = next((line[k] for k in ("m_end", "m_at", "m_accepted", "m_start")
                  if isinstance(line.get(k), (int, float))), None)
        if anchor is not None and m is not None:
            at = max(at, anchor + m)     # never back in time within one journal: its order stays
        yield at, {**tag, **line}


def merge(sources: list[tuple[dict[str, str], str]], out) -> int:
    """Writes the lines of every (tag, journal) to the text file `out`, each with the tag's
    keys first, interleaved by wall time; returns the number of lines."""
    n = 0
    streams = [_wall_key(_lines(path), tag) for tag, path in sources]
    for _, line in heapq.merge(*streams, key=lambda kv: kv[0]):
        out.write(json.dumps(line, separators=(",", ":")) + "\n")
        n += 1
    return n
