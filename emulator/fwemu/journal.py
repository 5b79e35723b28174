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
import stat
import threading
from pathlib import Path
from collections.abc import Callable
from typing import Any

from .safe_io import make_parent, open_output


def default_path(board_name: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "fwemu" / f"journal-{board_name}.jsonl"


class Journal:
    """Lines go straight to the file with os.write on an O_APPEND descriptor: each line is
    in the kernel (visible to a reader, kept if fwemu dies) when write_line returns, which
    is what flushing a buffered file gives, at half the cost."""

    def __init__(self, path: str | os.PathLike[str] | None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._fd: int | None = None
        self.error: str | None = None     # set once a write fails; nothing is written after it
        self.lines = 0                    # lines written whole
        self._regular = False
        self._held: list[bytes] | None = None     # text kept between hold() and release(), each piece whole lines
        self._held_lines = 0                      # how many lines _held's pieces hold (counting them was a cost)
        self._deferred: list[Any] = []            # defer()'s items, not yet formatted
        # held text and deferred items: the firmware defers under its lock, but another
        # thread (a daemon client's os-log line) may write while a burst holds the journal
        self._hold_lock = threading.Lock()
        self._format: Callable[[list[Any]], bytes] | None = None
        # called with each piece of whole lines just before it is written: a test's view of
        # the firmware at the instant each line is journalled
        self.tap: Callable[[bytes], None] | None = None
        if self.path:
            make_parent(self.path, "--journal")
            self._fd = open_output(self.path, "--journal", append=True, perms=0o644)
            self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
            if self._regular:
                self._end_torn_line()

    def _end_torn_line(self) -> None:
        """A journal whose last line was cut short (a run killed mid-write, a disk that
        filled): end it, so this run's first line starts a line of its own."""
        fd = self._fd
        assert fd is not None
        size = os.fstat(fd).st_size
        if not size:
            return
        try:     # the same file, read-only (ours is opened for appending only)
            rfd = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return
        try:
            last = os.pread(rfd, 1, size - 1)
        finally:
            os.close(rfd)
        if last != b"\n":
            self.write_line("")
            self.lines -= 1

    @property
    def writing(self) -> bool:
        """Lines are written (a journal file is open and no write has failed): callers
        format a line only then."""
        return self._fd is not None

    @property
    def regular(self) -> bool:
        """The journal is a regular file (a run file beside it can list its runs)."""
        return self._regular

    def write(self, event: dict[str, object]) -> None:
        if self._fd is not None:
            self.write_line(json.dumps(event, separators=(",", ":"), sort_keys=False))

    def write_line(self, line: str | bytes) -> None:
        """One JSON object already formatted (no newline): appended, in the kernel on return."""
        if self._fd is None:
            return
        data = (line if line.__class__ is bytes else line.encode()) + b"\n"   # type: ignore[union-attr]
        if self._held is None or not self._keep(data, 1):
            self._write(data, 1)

    def write_block(self, data: bytes, nlines: int) -> None:
        """`nlines` lines already joined, each ending in a newline, in one write (a burst's
        accepted lines, before any is posted)."""
        if self._fd is None or not nlines:
            return
        if self._held is None or not self._keep(data, nlines):
            self._write(data, nlines)

    def _keep(self, data: bytes, nlines: int) -> bool:
        """While held: `data` (`nlines` whole lines) kept after the deferred items before it (True)."""
        with self._hold_lock:
            held = self._held
            if held is None:
                return False
            if self._deferred:
                self._format_deferred()
            held.append(data)
            self._held_lines += nlines
            return True

    def hold(self, formatter: Callable[[list[Any]], bytes] | None = None) -> None:
        """Keep the lines written from now on until release(), which writes them at once
        (a burst of injections that all end before the caller returns: one system call
        instead of one each). Nothing is held across a wait. `formatter` turns a run of
        defer()'s items into their lines (one newline-ended line each), in one call."""
        with self._hold_lock:
            if self._held is None:
                self._held = []
                self._held_lines = 0
                self._format = formatter

    def defer(self, item: Any) -> bool:
        """While held with a formatter: keep `item`, to be formatted with the items next to it
        in one formatter call, in its place among the lines (True). False: not held; the
        caller writes its line itself."""
        if self._held is None:      # (the common case outside a burst: no lock taken)
            return False
        with self._hold_lock:
            if self._held is None or self._format is None or self._fd is None:
                return False
            self._deferred.append(item)
            return True

    def _format_deferred(self) -> None:
        """Under _hold_lock."""
        items, self._deferred = self._deferred, []
        assert self._format is not None and self._held is not None
        self._held.append(self._format(items))
        self._held_lines += len(items)

    def release(self) -> None:
        with self._hold_lock:
            try:
                if self._deferred:
                    self._format_deferred()
            finally:   # a formatter that raised still leaves the journal unheld, its lines written
                held, self._held, self._format = self._held, None, None
                if held:
                    self._write(b"".join(held), self._held_lines)

    def room_for(self, nbytes: int) -> bool:
        """The file system holds at least nbytes more (always true of a journal that is not
        a regular file). Lines are batched only then, so a disk that fills still cuts the
        journal between two injections' lines, never across a batch of them."""
        if not self._regular or self._fd is None:
            return True
        try:
            st = os.fstatvfs(self._fd)
        except OSError:
            return False
        return st.f_bavail * st.f_frsize >= nbytes

    def _write(self, data: bytes, nlines: int) -> None:
        with self._lock:
            fd = self._fd
            if fd is None:
                return
            if self.tap is not None:
                self.tap(data)
            done = 0
            try:
                done = os.write(fd, data)
                while done < len(data):          # a short write (rare on a regular file): finish it
                    done += os.write(fd, data[done:])
            except OSError as exc:
                # the whole lines written stay (counted); a line cut short is cut off
                whole = data.rfind(b"\n", 0, done) + 1
                self.lines += data.count(b"\n", 0, whole)
                self._failed(fd, exc, done - whole)
                return
            self.lines += nlines

    def _failed(self, fd: int, exc: OSError, done: int) -> None:
        """A write failed (disk full, I/O error, a file that takes no data): never raise into
        the firmware model (an injection must still reach its final state); remember the
        first failure for the caller, which stops submitting and says so in one line, and
        write nothing more. A line cut short is cut off, so the file holds whole lines."""
        if done and self._regular:
            try:
                os.ftruncate(fd, os.fstat(fd).st_size - done)
            except OSError:
                pass
        self.error = (f"--journal: cannot write {self.path}: {exc.strerror or exc} after "
                      f"{self.lines} line{'s' if self.lines != 1 else ''}; nothing more is journalled")
        os.close(fd)
        self._fd = None

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
