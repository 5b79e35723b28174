"""Options every command that reaches a target shares: `--url` (an agent board's channel,
per run; `$FWEMU_URL` likewise) and `--no-daemon` (run in-process even though a daemon's
socket is there)."""

from __future__ import annotations

import os

from ..errors import UsageError

URL_ENV = "FWEMU_URL"


def add_url_option(p) -> None:
    p.add_argument("--url", metavar="URL", default=None,
                   help=f"agent boards: the debug channel's pyserial URL for this run, instead of the "
                        f"board's target.url (also ${URL_ENV})")


def add_journal_option(p) -> None:
    p.add_argument("--journal", metavar="FILE",
                   help="journal file (default: ~/.local/state/fwemu/journal-BOARD.jsonl; 'none')")


def add_no_daemon_option(p) -> None:
    p.add_argument("--no-daemon", action="store_true",
                   help="run in-process even when a daemon's socket exists for the board")


def target_url(board, args) -> str | None:
    """The channel URL for this run: --url, else $FWEMU_URL (agent boards only; the variable is
    ignored for other boards, the option is refused), else None (the board's own)."""
    url = getattr(args, "url", None)
    if url is not None:
        if board.target.kind != "agent":
            raise UsageError("--url", f"only an agent board's channel has a URL; board {board.name!r} "
                                      f"is a {board.target.kind!r} target")
        if not url.strip():
            raise UsageError("--url", "is empty")
        return url
    env = os.environ.get(URL_ENV)
    if env and board.target.kind == "agent":
        return env
    return None


def finite(text: str) -> float:
    """An argparse type: a finite float (a nan timeout never expires, a nan rate never
    paces, an inf delay never ends). Ranges are checked by the command, naming the option."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def in_range(flag: str, value, lo, hi, unit: str = "") -> None:
    """UsageError(flag, ...) unless lo <= value <= hi."""
    if not lo <= value <= hi:
        if isinstance(value, int):
            top = f"{hi:#x}" if hi > 0xFFFF else f"{hi}"
            raise UsageError(flag, f"{value} is outside {lo} .. {top}{unit}")
        raise UsageError(flag, f"{value:g} is outside {lo:g} .. {hi:g}{unit}")
