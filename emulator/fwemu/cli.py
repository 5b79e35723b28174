"""The `fwemu` command: subcommands registered from fwemu.commands, one JSON envelope.

Every subcommand module exposes `register(subparsers, common)` and sets a handler
`func(args, out) -> int` with `set_defaults(func=...)`. Handlers print through `out`
(human text, or one JSON object with --json); errors are raised as FwemuError and turned
into a one-line message and the documented exit code here, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from . import __version__
from .errors import EXIT_USAGE, FwemuError, Terminated
from .output import JSON_ENVELOPE_VERSION, Output, one_line  # noqa: F401 - re-exported

class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit 2 (no usage dump)."""

    def error(self, message):  # noqa: D401 - argparse API
        raise _ArgError(message)


class _ArgError(FwemuError):
    exit_code = EXIT_USAGE


GLOBAL_WITH_VALUE = ("--board",)


def _command_name(argv: list[str]) -> str | None:
    """The subcommand in argv (the first word that is not a global option or its value)."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word in GLOBAL_WITH_VALUE:
            skip = True
        elif not word.startswith("-"):
            return word
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only that command's module is imported and registered."""
    from .commands import modules

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    common.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr")
    # before the command or after it, for every command (SUPPRESS: a subcommand's absent
    # --board leaves the global one in place; main() fills in None)
    common.add_argument("--board", default=argparse.SUPPRESS, metavar="NAME|PATH",
                        help="board name or TOML path (default: $FWEMU_BOARD, else the built-in 'sim')")

    parser = _Parser(prog="fwemu", description="Firmware-side RAS error emulator for arm64.",
                     parents=[common])
    parser.add_argument("--version", action="version", version=f"fwemu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in modules(command):
        module.register(sub, common)
    return parser


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one command. SIGTERM is handled as SIGINT is (exit 143 instead of 130) while it
    runs; `fwemu daemon` installs its own handlers on top."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    as_json = "--json" in argv
    out = Output(as_json)
    if "--jsonl" in argv:     # inject's: even an error before the run is a JSON line
        out.stream_lines()
    try:
        for word in argv:
            if "\0" in word:      # no exec'd argv holds one; an in-process caller's might
                raise _ArgError(f"{word.split('=')[0] if word.startswith('-') else 'argument'}: "
                                "contains a NUL byte")
            if word.startswith("--") and word.endswith("=--"):
                # argparse drops a '--' value and hands the option an empty list, unconverted
                raise _ArgError(f"argument {word[:-3]}: '--' is not a value")
        parser = build_parser(_command_name(argv))
        args = parser.parse_args(argv)
        if not hasattr(args, "board"):
            args.board = None
        logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2),
                            format="fwemu: %(levelname)s: %(message)s", stream=sys.stderr)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        status = args.func(args, out)
        out.finish(status)
        return status
    except FwemuError as exc:
        out.finish(exc.exit_code, str(exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:
        code, why = (143, "interrupted by SIGTERM") if isinstance(exc, Terminated) else (130, "interrupted")
        out.finish(code, why)
        return code
    except BrokenPipeError:
        # stdout closed early (| head): not an error of ours; keep Python from complaining
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
