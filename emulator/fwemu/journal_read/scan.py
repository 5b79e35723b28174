"""The aggregate pass (JournalReader.scan): one pass over a journal, every run's counts and
the summary of the selected injections, in memory bounded whatever the journal's size."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError
from ..journal_check import FINAL
from .fastparse import _light, _light_of
from .filters import Filter
from .lines import JournalLines, _looks_whole, _run_needles
from .live import live_runs
from .model import NO_RUN, OPEN, Event, Run, _f, _os_state, _oslog, _run_end, _run_meta, _seen, _wall_span
from .summaries import Summary


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


def scan(reader: JournalLines, flt: Filter | None = None, *, os_reactions: bool = False) -> Scan:
    """One pass: every run's aggregates and the summary of the selected injections.
    os_reactions: classify the OS's journalled lines too (reports)."""
    flt = flt or Filter()
    res = Scan(reader.path)
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

    for n, body, unterminated in reader.raw_lines():
        res.lines = n
        if needles is not None and not any(x in body for x in needles) and _looks_whole(body, unterminated):
            continue
        li = None if unterminated else _light(body)
        ev: Event | None = None
        if li is None:
            ev = reader.parse(n, body, unterminated)
            if ev is None:
                continue
            kind = ev.get("event")
            if (kind == "accepted" or kind in FINAL) and "id" in ev:
                try:
                    li = _light_of(ev)
                except (TypeError, ValueError):
                    raise UsageError(reader.what, f"{reader.path}:{n}: an injection line ({kind}) "
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
    live = live_runs(reader.path)
    for r in runs.values():
        r.live = r.run in live
    res.warnings = list(reader.warnings)
    return res
