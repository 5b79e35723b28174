"""The selected injections of a journal, for posting them again (a replay)."""

from __future__ import annotations

from collections.abc import Iterator

from .filters import Filter
from .model import Injection
from .reader import JournalReader


def replayable(reader: JournalReader, flt: Filter | None = None) -> Iterator[Injection]:
    """The selected injections that have a final line, one at a time, for posting again.

    Each Injection has: `scenario`, `source` (the id it was posted to), `notify` (that
    source's notification kind), `pe`, `fields` (the field values it was asked for, keyed
    by field name as requests take them: {"address": "0x60001000"}; a sweep's value for
    that injection), `record` (the exact status block posted, bytes; None in format-1 lines,
    which did not journal it) and `run`/`id`/`state`/`key` to name it. Order: by run as the
    journal holds them, and by id (the order they were accepted) within a run. Open
    injections (no final line) are left out; so are lines of other runs, states,
    notifications, scenarios, sources and times than `flt` selects. Late lines are not read
    (a replay needs none). Memory stays bounded (JournalReader.stream)."""
    for inj in reader.injections(flt, late=False):
        if inj.final:
            yield inj
