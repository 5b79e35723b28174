"""JournalReader: a journal file and the passes a command makes over it: its runs (ids,
selectors, which run holds an injection id, which are running now), a Filter with run
selectors resolved, the aggregate pass (scan.py) and the injection passes (stream.py); and
split_key, RUN:ID as a command line gives it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import UsageError
from ..journal_check import FINAL
from . import scan as _scan
from . import stream as _stream
from .filters import Filter, _words
from .lines import JournalLines
from .live import live_runs
from .model import Event, Injection, OsLog, Run
from .scan import Scan


class JournalReader(JournalLines):
    """A journal file, read in streaming passes. Construction checks it can be read."""

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
        return live_runs(self.path)

    # -- the aggregate pass
    def scan(self, flt: Filter | None = None, *, os_reactions: bool = False) -> Scan:
        """One pass: every run's aggregates and the summary of the selected injections
        (scan.scan). os_reactions: classify the OS's journalled lines too (reports)."""
        return _scan.scan(self, flt, os_reactions=os_reactions)

    # -- injections, one at a time
    def late_lines(self, flt: Filter) -> dict[tuple[str | None, int], list[Event]]:
        """The consumed-late and resolved lines of the selected runs, keyed by (run, id)
        (stream.late_lines)."""
        return _stream.late_lines(self, flt)

    def stream(self, flt: Filter | None = None, *, late: bool = True) -> Iterator[Run | Injection | OsLog]:
        """The journal in order, as typed items (Run, Injection, OsLog), for the selected
        runs, in bounded memory (stream.stream says in what order)."""
        return _stream.stream(self, flt, late=late)

    def injections(self, flt: Filter | None = None, *, late: bool = True) -> Iterator[Injection]:
        """The selected injections (stream() without the os-log lines)."""
        for item in self.stream(flt, late=late):
            if isinstance(item, Injection):
                yield item

    def injection(self, run: str, iid: int) -> tuple[Injection, list[tuple[int, Event]], OsLog | None, Run | None]:
        """Everything about RUN:ID, in one pass over that run's lines: the merged injection,
        its journal lines, the os-log line of its request and its run (stream.injection).
        UsageError when the journal has no such injection."""
        return _stream.injection(self, run, iid)


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
