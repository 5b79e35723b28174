"""`fwemu status` and `fwemu reset`: ask the running daemon for the board.

Without a daemon (or with --no-daemon) they run on a new in-process instance, and say so:
its queues and injections are this command's only. On the sim board that instance is a
simulated OS booted for this command, so `reset` has nothing to reset and refuses."""

from __future__ import annotations

from ..board import load_board
from ..targets import Cap
from ..errors import EXIT_OK, UsageError
from ._target import add_no_daemon_option, add_url_option, target_url

FRESH = "in-process: no daemon serves this board, so this is a new instance started for this command"


def register(sub, common) -> None:
    s = sub.add_parser("status", parents=[common], help="per-source state, queues, the pending SEI, last injections")
    add_url_option(s)
    add_no_daemon_option(s)
    s.set_defaults(func=cmd_status)
    r = sub.add_parser("reset", parents=[common], help="reboot the target's OS (sim: bring a panicked OS back)")
    add_url_option(r)
    add_no_daemon_option(r)
    r.set_defaults(func=cmd_reset)


def _with_session(board, fn, args):
    from .. import api

    # status and reset inject nothing: an in-process instance journals nothing either
    options = api.SessionOptions(daemon=False if args.no_daemon else None, url=target_url(board, args),
                                 local_journal="none")
    with api.open_session(board, options) as session:
        if fn == "reset" and Cap.MACHINE_PER_SESSION in session.caps:
            raise UsageError("reset", f"no daemon serves board {board.name!r}: every in-process command boots "
                                      "its own simulated OS, so there is nothing to reset (start `fwemu daemon` "
                                      "to keep one across commands)")
        return getattr(session, fn)(), session.via


def cmd_status(args, out) -> int:
    board = load_board(args.board)
    st, via = _with_session(board, "status", args)
    out.set(via=via, **st)
    if via == "in-process":
        out.set(note=FRESH)
    out.line(f"board {st['board']} ({via})" if via == "daemon" else
             f"board {st['board']} ({FRESH}; earlier commands' injections are not here)")
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
        out.line(f"  OS: {_os_text(os_state)}")
    rs = st.get("restart")
    if rs:
        runs = ", ".join(f"{r['run']} (pid {r['pid']}, {r['open']} open)" for r in rs["runs"])
        out.line(f"  at start, ended {rs['count']} injection(s) left without a final state by run(s) "
                 f"cut short: {runs}: " + (", ".join(f"{v} {k}" for k, v in rs["states"].items()) or "none"))
        for i in rs["injections"][:10]:
            out.line(f"    run {i['run']} #{i['id']} source {i['source']}: {i['state']}: {i['reason']}")
        if rs["count"] > 10:
            out.line(f"    ... {rs['count'] - 10} more (all of them: --json's restart, and the journal)")
    return EXIT_OK


def _os_text(os_state: dict) -> str:
    if os_state.get("up", True):
        return "up"
    why = os_state.get("panic") or os_state.get("down")
    return f"DOWN: {why}" if why else "DOWN (the target gave no reason)"


def cmd_reset(args, out) -> int:
    board = load_board(args.board)
    res, via = _with_session(board, "reset", args)
    out.set(via=via, **res)
    os_state = res.get("os") or {}
    out.line(f"board {board.name} reset ({via}); OS {'up' if os_state.get('up', True) else 'down'}")
    return EXIT_OK
