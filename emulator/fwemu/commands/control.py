"""`fwemu status` and `fwemu reset`: ask the running daemon for the board (in-process, a
fresh instance is shown/booted, which is mostly useful to check a board comes up)."""

from __future__ import annotations

from ..board import load_board
from ..errors import EXIT_OK
from ..session import Session


def register(sub, common) -> None:
    s = sub.add_parser("status", parents=[common], help="per-source state, queues, the pending SEI, last injections")
    s.set_defaults(func=cmd_status)
    r = sub.add_parser("reset", parents=[common], help="reboot the target's OS (sim: bring a panicked OS back)")
    r.set_defaults(func=cmd_reset)


def _with_session(board, fn):
    from ..daemon import Client
    client = Client.connect(board.name)
    if client is not None:
        with client:
            return client.request(fn), "daemon"
    with Session.open(board, journal="none") as session:
        return getattr(session, fn)(), "in-process"


def cmd_status(args, out) -> int:
    board = load_board(args.board)
    st, via = _with_session(board, "status")
    out.set(via=via, **st)
    out.line(f"board {st['board']} ({via})")
    for s in st["sources"]:
        cur = f" #{s['current']}" if s["current"] else ""
        out.line(f"  source {s['id']:3} {s['notify']:8} {s['state']}{cur}  queue {s['queue_depth']}/{s['queue_limit']}")
    sei = st["sei_pending"]
    out.line("  NOTIFY_SEI: " + ("none pending" if not sei else
                                f"pending: injection #{sei['injection']} on PE {sei['pe']} (source {sei['source']})"
                                + (" — timed out, later SEIs are refused" if sei["timed_out"] else "")))
    if st["sei_waiting"]:
        out.line(f"  SEI waiting: {', '.join('#' + str(i) for i in st['sei_waiting'])}")
    if st.get("counts"):
        out.line("  injections: " + ", ".join(f"{v} {k}" for k, v in st["counts"].items()))
    for i in st.get("last", []):
        lat = f" {i['latency_ms']:.3f} ms" if i.get("latency_ms") is not None else ""
        out.line(f"  #{i['id']} {i['scenario']} source {i['source']}: {i['state']}{lat} {i['reason'] or ''}".rstrip())
    os_state = st.get("target", {}).get("os")
    if os_state:
        out.line(f"  OS: {'up' if os_state['up'] else 'DOWN: ' + str(os_state['panic'])}")
    return EXIT_OK


def cmd_reset(args, out) -> int:
    board = load_board(args.board)
    res, via = _with_session(board, "reset")
    out.set(via=via, **res)
    os_state = res.get("os") or {}
    out.line(f"board {board.name} reset ({via}); OS {'up' if os_state.get('up', True) else 'down'}")
    return EXIT_OK
