"""A journal file's lines: opening checks, each line's bytes and its parsed event, torn
lines (a run killed mid-write, a full disk) skipped with a warning, and a cheap skip of
lines that cannot concern the runs asked for (a substring test per line)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator

from ..errors import UsageError
from .model import Event


class JournalLines:
    """A journal file's lines, read in streaming passes (JournalReader adds the typed
    passes over them). Construction checks it can be read."""

    def __init__(self, path: str | os.PathLike[str], what: str = "--journal"):
        self.path = os.fspath(path)
        self.what = what
        self.warnings: list[str] = []
        self._warned: set[int] = set()
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise UsageError(what, f"{self.path}: no such file (nothing journalled there yet?)") from None
        except OSError as exc:
            raise UsageError(what, f"cannot read {self.path}: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(what, f"{self.path} is a directory, not a journal")
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(what, f"{self.path} is not a regular file (a journal is read more than once)")
        try:
            with open(self.path, "rb") as f:
                f.read(1)
        except OSError as exc:
            raise UsageError(what, f"cannot read {self.path}: {exc.strerror or exc}") from None

    # -- lines
    def _warn(self, n: int, text: str) -> None:
        if n not in self._warned:
            self._warned.add(n)
            self.warnings.append(f"{self.path}:{n}: {text}")

    def raw_lines(self) -> Iterator[tuple[int, bytes, bool]]:
        """(line number, the line's bytes without its newline, whether it is an unterminated
        last line) for each line that is not blank."""
        try:
            f = open(self.path, "rb")
        except OSError as exc:
            raise UsageError(self.what, f"cannot read {self.path}: {exc.strerror or exc}") from None
        with f:
            n = 0
            try:
                for raw in f:
                    n += 1
                    if raw.endswith(b"\n"):
                        body = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
                        if body.strip():
                            yield n, body, False
                    elif raw.strip():
                        yield n, raw, True
            except OSError as exc:
                raise UsageError(self.what, f"cannot read {self.path} at line {n + 1}: "
                                            f"{exc.strerror or exc}") from None

    def parse(self, n: int, body: bytes, unterminated: bool = False) -> Event | None:
        """A line as a dict; None for a torn line (warned); UsageError for anything else
        that is not one JSON object."""
        try:
            ev = json.loads(body)
        except (ValueError, RecursionError) as exc:
            if unterminated:
                self._warn(n, f"the last line is torn ({len(body)} bytes without a newline, not "
                              "whole JSON: a run killed mid-write?); skipped")
                return None
            whole = _after_torn(body)
            if whole is not None:
                cut, ev2 = whole
                self._warn(n, f"a torn line ({cut} bytes, cut short) with a whole line appended to it; "
                              "the torn part skipped")
                return ev2
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise UsageError(self.what, f"{self.path}:{n}: not a whole JSON line ({msg}); "
                                        "the journal is damaged there") from None
        if not isinstance(ev, dict):
            raise UsageError(self.what, f"{self.path}:{n}: a JSON {type(ev).__name__}, not a journal line")
        return ev

    def _id(self, n: int, ev: Event) -> int:
        """An injection line's id; UsageError naming the line when it is not a number."""
        v = ev.get("id")
        if not isinstance(v, int) or isinstance(v, bool):
            raise UsageError(self.what, f"{self.path}:{n}: an injection line ({ev.get('event')}) without a "
                                        "numeric id")
        return v

    def events(self, needles: tuple[bytes, ...] | None = None) -> Iterator[tuple[int, Event]]:
        """(line number, event) of each line; with needles, only lines containing one of
        them are parsed (the others are skipped unread)."""
        for n, body, unterminated in self.raw_lines():
            if needles is not None and not any(x in body for x in needles) and _looks_whole(body, unterminated):
                continue
            ev = self.parse(n, body, unterminated)
            if ev is not None:
                yield n, ev


def _looks_whole(body: bytes, unterminated: bool) -> bool:
    """A line another run's filter may skip unread: it has its newline and is braced like
    one JSON object (anything else is parsed, so damage is reported wherever it is)."""
    return not unterminated and body[:1] == b"{" and body[-1:] == b"}"


def _after_torn(body: bytes) -> tuple[int, Event] | None:
    """A line that fails to parse because a torn line (cut short) had a whole line appended
    to it: (bytes of the torn part, the whole line's event), or None."""
    pos = body.find(b'{"', 1)
    while pos > 0:
        try:
            ev = json.loads(body[pos:])
        except (ValueError, RecursionError):
            pos = body.find(b'{"', pos + 1)
            continue
        return (pos, ev) if isinstance(ev, dict) and "event" in ev else None
    return None


def _run_needles(runs: frozenset[str] | None) -> tuple[bytes, ...]:
    out: list[bytes] = []
    for r in sorted(runs or ()):
        e = json.dumps(r).encode()
        out += [b'"run":' + e, b'"run": ' + e]
    return tuple(out)
