"""The passes that give injections one at a time (JournalReader.stream, .injection):
accepted, final and late lines merged into typed Injections, in journal order, holding only
the injections in flight or waiting for an earlier id of their run."""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heappop, heappush

from ..errors import UsageError
from ..journal_check import FINAL
from .filters import Filter
from .lines import JournalLines, _run_needles
from .live import live_runs
from .model import LATE_EVENTS, Event, Injection, OsLog, Run, _os_state, _oslog, _run_end, _run_meta, _seen

LATE_KEPT = 100_000             # late lines merged into injections; more are counted only


def late_lines(reader: JournalLines, flt: Filter) -> dict[tuple[str | None, int], list[Event]]:
    """The consumed-late and resolved lines of the selected runs (a quick pass: only
    lines holding those words are parsed), keyed by (run, id); at most LATE_KEPT."""
    out: dict[tuple[str | None, int], list[Event]] = {}
    kept = 0
    for n, ev in reader.events((b'"consumed-late"', b'"resolved"')):
        if ev.get("event") not in LATE_EVENTS or "id" not in ev:
            continue
        rid = ev.get("run") if isinstance(ev.get("run"), str) else None
        if not flt.run_selected(rid):
            continue
        if kept >= LATE_KEPT:
            reader._warn(n, f"more than {LATE_KEPT:,} late lines: this one and later ones are not "
                            "shown with their injections")
            break
        kept += 1
        out.setdefault((rid, reader._id(n, ev)), []).append(dict(ev, line=n))
    return out


def stream(reader: JournalLines, flt: Filter | None = None, *, late: bool = True) -> Iterator[Run | Injection | OsLog]:
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
    lates = late_lines(reader, flt) if late else {}
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

    for n, ev in reader.events(needles):
        kind = ev.get("event")
        rid = ev.get("run") if isinstance(ev.get("run"), str) else None
        r = runs.get(rid) if rid is not None else None
        if r is not None:
            _seen(r, ev)
        if kind == "accepted" and "id" in ev:
            reader._id(n, ev)
            inj = Injection.from_accepted(ev, n)
            inj.run = rid
            pending[(rid, inj.id)] = inj
            if rid is not None:
                heappush(waiting.setdefault(rid, []), inj.id)
            if r is not None:
                r.accepted += 1
        elif kind in FINAL and "id" in ev:
            iid = reader._id(n, ev)
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
    live = live_runs(reader.path) if runs else set()
    for r in runs.values():
        r.live = r.run in live


def injection(reader: JournalLines, run: str, iid: int) -> tuple[Injection, list[tuple[int, Event]], OsLog | None, Run | None]:
    """Everything about RUN:ID, in one pass over that run's lines: the merged injection,
    each of its journal lines (line number, event), the os-log line of its request (the
    run's first after its final line), and its run (None when the file has no run
    line for it). UsageError when the journal has no such injection."""
    inj: Injection | None = None
    lines: list[tuple[int, Event]] = []
    log: OsLog | None = None
    meta: Run | None = None
    since: list[int] | None = None     # ids ended since the run's last os-log line
    for n, ev in reader.events(_run_needles(frozenset([run]))):
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
            j = reader._id(n, ev)
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
        raise UsageError("RUN:ID", f"run {run} has no injection #{iid} in {reader.path}")
    inj.run = run
    if meta is not None:
        meta.live = run in live_runs(reader.path)
    return inj, lines, log, meta
