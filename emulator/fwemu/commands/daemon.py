"""`fwemu daemon`: keep one firmware instance for the board alive, in the foreground, and
serve `inject`, `status` and `reset` over its Unix control socket (see fwemu.daemon).

The sim OS model's knobs, --unsafe-concurrent-sei and --journal are fixed when the daemon
starts (an `inject` sent to it cannot change them). Prints one line with the socket path
once it listens; logs go to stderr. SIGTERM/SIGINT stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import json
import logging
import os

from ..board import load_board
from ..errors import UsageError
from ..session import Session
from ._simopts import add_os_model_options, os_model_options, os_model_options_given


def register(sub, common) -> None:
    p = sub.add_parser("daemon", parents=[common],
                       help="keep a firmware instance for the board alive; serve inject/status/reset on a socket")
    # `fwemu daemon --board NAME` reads naturally; the global `fwemu --board NAME daemon` works too
    p.add_argument("--board", default=argparse.SUPPRESS, help="board name or TOML path (as the global --board)")
    p.add_argument("--journal", metavar="FILE",
                   help="journal file (default: ~/.local/state/fwemu/journal-BOARD.jsonl; 'none')")
    p.add_argument("--unsafe-concurrent-sei", action="store_true",
                   help="DANGER: lift the one-pending-NOTIFY_SEI rule (negative testing only)")
    p.add_argument("--sei-settle-ms", type=float, default=None, metavar="MS",
                   help="wait after an SEI record's ack before raising the next SEI "
                        "(default: 1 ms on real targets, 0 on sim)")
    add_os_model_options(p)
    p.set_defaults(func=cmd_daemon)


def cmd_daemon(args, out) -> int:
    from .. import daemon

    board = load_board(args.board)   # None → $FWEMU_BOARD, else sim
    if board.target.kind != "sim" and os_model_options_given(args):
        raise UsageError(os_model_options_given(args)[0],
                         f"OS model options only apply to the sim board, not {board.name!r}")
    logging.getLogger("fwemu.daemon").setLevel(logging.DEBUG if args.verbose >= 2 else logging.INFO)
    session = Session.open(board, journal=args.journal, unsafe_concurrent_sei=args.unsafe_concurrent_sei,
                           sei_settle=None if args.sei_settle_ms is None else args.sei_settle_ms / 1000,
                           sim=os_model_options(args))

    def ready(d) -> None:
        info = {"event": "ready", "board": board.name, "socket": str(d.path), "pid": os.getpid(),
                "journal": str(session.journal.path) if session.journal.path else None}
        if out.as_json:
            print(json.dumps(info), flush=True)
        else:
            print(f"fwemu daemon: board {board.name} listening on {d.path} (pid {os.getpid()})", flush=True)

    status = daemon.run(session, ready)
    out.set(board=board.name, stopped=True)
    return status
