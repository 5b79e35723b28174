"""The injection journal: JSON lines, append-only, flushed per line.

Every accepted injection writes an `accepted` line at once and exactly one final line
(`consumed`, `refused`, `timed-out` or `interrupted`); a record the OS consumes after its
injection timed out adds a `consumed-late` line. Nothing is kept in memory per line, so a
long campaign's footprint does not grow with the journal.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path


def default_path(board_name: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "fwemu" / f"journal-{board_name}.jsonl"


class Journal:
    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._f = None
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = open(self.path, "a", encoding="utf-8")

    def write(self, event: dict) -> None:
        if self._f is None:
            return
        line = json.dumps(event, separators=(",", ":"), sort_keys=False)
        with self._lock:
            self._f.write(line + "\n")
            self._f.flush()

    def close(self) -> None:
        with self._lock:
            if self._f:
                self._f.close()
                self._f = None


def read(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
