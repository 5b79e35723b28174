"""`fwemu daemon`: keep one firmware instance for the board alive, in the foreground, and
serve `inject`, `status` and `reset` over its Unix control socket (see fwemu.daemon).

The sim OS model's knobs, --unsafe-concurrent-sei and --journal are fixed when the daemon
starts (an `inject` sent to it cannot change them). Prints one line with the socket path
once it listens; logs go to stderr. SIGTERM/SIGINT stop it cleanly (exit 0).
"""

from __future__ import annotations

import json
import logging
import os

from ..board import load_board
from ..session import Session
from ._simopts import add_os_model_options, check_os_model_options, os_model_options
from ._target import add_journal_option, add_url_option, finite, in_range, target_url


def register(sub, common) -> None:
    p = sub.add_parser("daemon", parents=[common],
                       help="keep a firmware instance for the board alive; serve inject/status/reset on a socket")
    add_journal_option(p)
    p.add_argument("--unsafe-concurrent-sei", action="store_true",
                   help="DANGER: lift the one-pending-NOTIFY_SEI rule (negative testing only)")
    add_url_option(p)
    p.add_argument("--sei-settle-ms", type=finite, default=None, metavar="MS",
                   help="wait after an SEI record's ack before raising the next SEI "
                        "(default: 1 ms on real targets, 0 on sim)")
    add_os_model_options(p)
    p.set_defaults(func=cmd_daemon)


def cmd_daemon(args, out) -> int:
    from .. import daemon

    board = load_board(args.board)   # None → $FWEMU_BOARD, else sim
    check_os_model_options(board, args)
    if args.sei_settle_ms is not None:
        in_range("--sei-settle-ms", args.sei_settle_ms, 0, 60_000.0)
    url = target_url(board, args)
    logging.getLogger("fwemu.daemon").setLevel(logging.DEBUG if args.verbose >= 2 else logging.INFO)
    session = Session.open(board, journal=args.journal, unsafe_concurrent_sei=args.unsafe_concurrent_sei,
                           sei_settle=None if args.sei_settle_ms is None else args.sei_settle_ms / 1000,
                           sim=os_model_options(args), url=url)

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
