"""Aggregates over the selected injections, each bounded whatever their number: Latency
(a reservoir and a log-binned histogram per notification kind), TimeHist (injections per
time bucket), OsReactions (what the OS printed, in categories) and the Summary that holds
them with the counts by state × notification × scenario and the reasons."""

from __future__ import annotations

import array
import math
import random
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .model import NO_RUN, OPEN, STATES, OsLog, _r6

REASONS_KEPT = 200              # distinct (state, reason) pairs counted apart; the rest pooled
OTHER_REASONS = "(other reasons: more than 200 distinct)"
PANICS_KEPT = 100

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
