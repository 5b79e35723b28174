"""A command's output: human lines as they come, or one JSON envelope (--json), or JSON
lines then the envelope (--jsonl). Below the CLI, so commands can name its type."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from . import __version__

JSON_ENVELOPE_VERSION = {"major": 1, "minor": 0}


class Output:
    """Collects a command's result: human lines go to stdout as they come; with --json,
    fields are gathered and printed once as an envelope {fwemu_version, version, status,
    error, ...}."""

    def __init__(self, as_json: bool, stream: TextIO | None = None):
        self.as_json = as_json
        self.jsonl = False       # inject --jsonl: a line per injection as it ends, the envelope last
        self._flushed = 0.0
        self.stream = stream or sys.stdout
        self.fields: dict[str, Any] = {}

    def stream_lines(self) -> None:
        self.as_json = self.jsonl = True

    def emit(self, obj: dict[str, Any]) -> None:
        """One JSON line (--jsonl), flushed within 0.1 s: a reader on a pipe sees each as it
        comes, without a write(2) per line at thousands of lines a second."""
        self.stream.write(json.dumps(obj) + "\n")
        now = time.monotonic()
        if now - self._flushed >= 0.1:
            self.stream.flush()
            self._flushed = now

    def line(self, text: str = "") -> None:
        if not self.as_json:
            print(text, file=self.stream)

    def set(self, **fields: Any) -> None:
        self.fields.update(fields)

    def finish(self, status: int, error: str | None = None) -> None:
        if error:
            error = one_line(error)
        if self.as_json:
            env = {"fwemu_version": __version__, "version": JSON_ENVELOPE_VERSION,
                   "status": status, "error": error}
            if self.jsonl:
                env["event"] = "end"
            env.update(self.fields)
            # dumps, not dump: json.dump streams through the pure-Python encoder in small
            # chunks (4 s for a 20,000-injection result); dumps uses the C encoder, one write
            self.stream.write(json.dumps(env) + "\n")
        elif error:
            print(f"fwemu: error: {error}", file=sys.stderr)


_LINE_BREAKS = {c: repr(chr(c))[1:-1] for c in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)}


def one_line(text: str) -> str:
    """An error message as exactly one line: control characters and every character
    str.splitlines() breaks on (from user input quoted in it) are shown escaped."""
    return text.translate(_LINE_BREAKS)
