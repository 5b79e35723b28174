"""Times as a journal command takes and prints them: `--since`/`--until` values (an ISO
time or a time ago) as epoch seconds; epoch seconds as local time; a duration in words."""

from __future__ import annotations

import datetime as dt
import re
import time

from ..errors import UsageError

_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$")
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_AGO = 100 * 366 * 86400


def parse_time(text: str, what: str, now: float | None = None) -> float:
    """An instant as epoch seconds: an ISO date/time (`2026-12-02T05:45`, local time unless
    it says its offset or Z), or a time ago: `90s`, `10m`, `2h`, `1d`, `1w`."""
    now = time.time() if now is None else now
    m = _REL.match(text)
    if m:
        ago = float(m.group(1)) * _UNIT[m.group(2)]
        if ago > MAX_AGO:
            raise UsageError(what, f"{text!r} is more than 100 years ago")
        return now - ago
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return when.timestamp()       # naive: local time
    except (ValueError, OverflowError, OSError):
        raise UsageError(what, f"{text!r} is not a time: give an ISO time (2026-12-02T05:45, "
                               "local unless it has an offset) or a time ago (90s, 10m, 2h, 1d, 1w)") from None


def local_time(t: float | None, ms: bool = False) -> str | None:
    """Epoch seconds as local time, `2026-12-02 05:45:26` (with ms: `.123`)."""
    if t is None:
        return None
    try:
        d = dt.datetime.fromtimestamp(t)
    except (ValueError, OverflowError, OSError):
        return f"{t!r} (epoch s)"
    return d.strftime("%Y-%m-%d %H:%M:%S") + (f".{d.microsecond // 1000:03d}" if ms else "")


def duration_text(s: float | None) -> str:
    if s is None:
        return "?"
    if s < 1:
        return f"{s * 1000:.1f} ms"
    if s < 60:
        return f"{s:.2f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(s % 60)} s"
    if s < 86400:
        return f"{int(s // 3600)} h {int(s % 3600 // 60)} min"
    return f"{int(s // 86400)} d {int(s % 86400 // 3600)} h"

