"""The injection journal: JSON lines, append-only, flushed per line.

Every accepted injection writes an `accepted` line at once and exactly one final line
(`consumed`, `dropped` (the OS acked it, then threw it away as a duplicate), `refused`,
`timed-out` or `interrupted`); a record the OS consumes after its injection timed out adds
a `consumed-late` line, and the late answer to a request whose outcome was unknown when its
injection ended (agent boards: a lost reply) adds a `resolved` line with what the target
reported (`found`). Nothing is kept in memory per line, so a
long campaign's footprint does not grow with the journal.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from .safe_io import make_parent, open_output


def default_path(board_name: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "fwemu" / f"journal-{board_name}.jsonl"


class Journal:
    """Lines go straight to the file with os.write on an O_APPEND descriptor: each line is
    in the kernel (visible to a reader, kept if fwemu dies) when write_line returns, which
    is what flushing a buffered file gives, at half the cost."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._fd: int | None = None
        if self.path:
            make_parent(self.path, "--journal")
            self._fd = open_output(self.path, "--journal", append=True, perms=0o644)

    def write(self, event: dict) -> None:
        if self._fd is not None:
            self.write_line(json.dumps(event, separators=(",", ":"), sort_keys=False))

    def write_line(self, line: str) -> None:
        """One JSON object already formatted (no newline): appended, in the kernel on return."""
        if self._fd is None:
            return
        data = (line + "\n").encode()
        with self._lock:
            done = os.write(self._fd, data)
            while done < len(data):          # a short write (rare on a regular file): finish it
                done += os.write(self._fd, data[done:])

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read(path: str | os.PathLike) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
