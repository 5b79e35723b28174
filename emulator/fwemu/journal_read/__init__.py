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
LATE_KEPT of them are kept (stream.py).

A line that is not a JSON object is a UsageError naming its line number, except a torn
line (a run killed mid-write, a full disk): a last line without its newline is skipped
with a warning, and so is a torn fragment that a later run's whole line was appended to.

The package, one concept a module, lowest first:

    times       --since/--until values as instants; local times and durations as text
    model       Run, Injection, OsLog, the vocabulary (Event, NO_RUN, OPEN, STATES) and
                the helpers that fill them from lines
    filters     Filter: which injections and runs a command looks at
    summaries   Latency, TimeHist, OsReactions, Summary: bounded aggregates
    fastparse   fwemu's own accepted and final lines read with one regex (not json.loads)
    lines       JournalLines: the file's lines, parsed, torn lines skipped with a warning
    live        the runs that are running now (the run file and their processes)
    scan        the aggregate pass and its result, Scan
    stream      the passes that give injections one at a time (stream, injection)
    reader      JournalReader (the runs, filters, and the passes above); split_key
    replay      replayable(): the injections to post again
"""

from __future__ import annotations

from ..journal_check import FINAL
from .fastparse import _light as _light, _light_of as _light_of   # the tests compare the two readers
from .filters import Filter
from .model import NO_RUN, OPEN, STATES, Injection, OsLog, Run
from .reader import JournalReader, split_key
from .replay import replayable
from .scan import Scan
from .summaries import OTHER_REASONS, REASONS_KEPT, Latency, Summary, TimeHist
from .times import duration_text, local_time, parse_time

__all__ = ["FINAL", "NO_RUN", "OPEN", "OTHER_REASONS", "REASONS_KEPT", "STATES", "Filter", "Injection",
           "JournalReader", "Latency", "OsLog", "Run", "Scan", "Summary", "TimeHist", "duration_text",
           "local_time", "parse_time", "replayable", "split_key"]
