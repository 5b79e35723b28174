"""`fwemu inject SCENARIO`: post a record, notify the OS, report what happened.

Runs against a running `fwemu daemon` for the board when there is one, else in-process
(on the sim board that boots a fresh simulated OS for this one command).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from .. import scenarios
from ..board import NOTIFY_TYPES, load_board
from ..errors import EXIT_OK, EXIT_REFUSED, EXIT_TIMEOUT, UsageError
from ..session import Session, latency_summary
from ._simopts import add_os_model_options, os_model_options, os_model_options_given

OS_LOG_LINES = 60   # the human report shows the OS log's tail; --json carries all of it
ORDER = {"consumed": EXIT_OK, "dropped": EXIT_TIMEOUT, "timed-out": EXIT_TIMEOUT, "interrupted": EXIT_TIMEOUT, "refused": EXIT_REFUSED}


def register(sub, common) -> None:
    p = sub.add_parser("inject", parents=[common], help="inject an error: post a record and notify the OS")
    p.add_argument("scenario", metavar="SCENARIO", help=f"one of: {', '.join(scenarios.SCENARIOS)}")
    p.add_argument("file", metavar="FILE", nargs="?",
                   help="raw only: a file holding a whole status block, posted verbatim")
    p.add_argument("--source", type=int, metavar="ID", help="error source id (default: the board's route)")
    p.add_argument("--notify", choices=sorted(NOTIFY_TYPES), help="use the board's first source with this notification")
    p.add_argument("--pe", type=int, default=0, help="PE index the notification targets (default 0)")
    p.add_argument("--count", type=int, default=1, help="number of injections (default 1)")
    p.add_argument("--rate", type=float, default=0.0, help="injections per second (default: as fast as accepted)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds each may take to be consumed (default 5)")
    p.add_argument("--journal", metavar="FILE", help="journal file (default: ~/.local/state/fwemu/journal-BOARD.jsonl; 'none')")
    p.add_argument("--unsafe-concurrent-sei", action="store_true",
                   help="DANGER: lift the one-pending-NOTIFY_SEI rule (negative testing only)")
    p.add_argument("--sei-settle-ms", type=float, default=None, metavar="MS",
                   help="wait after an SEI record's ack before raising the next SEI "
                        "(default: 1 ms on real targets, 0 on sim)")
    p.add_argument("--identical", action="store_true",
                   help="do not make repeats unique (Linux drops repeats within 10 s on SEA/SDEI)")
    add_os_model_options(p)
    scenarios.add_field_options(p)
    p.set_defaults(func=cmd_inject)


def _validate(args) -> None:
    if args.count < 1:
        raise UsageError("--count", "must be at least 1")
    if args.rate < 0:
        raise UsageError("--rate", "must not be negative")
    if args.timeout <= 0:
        raise UsageError("--timeout", "must be positive")
    if args.file and args.scenario != "raw":
        raise UsageError("FILE", f"only the raw scenario takes a file (got {args.scenario})")
    if args.scenario not in scenarios.SCENARIOS:
        raise UsageError("scenario", f"unknown scenario {args.scenario!r} (one of: {', '.join(scenarios.SCENARIOS)})")


def cmd_inject(args, out) -> int:
    _validate(args)
    board = load_board(args.board)
    record = None
    if args.file:
        if scenarios.fields_from_args(args):
            raise UsageError(next(iter(scenarios.fields_from_args(args))), "cannot be combined with a raw FILE")
        try:
            record = Path(args.file).read_bytes()
        except OSError as exc:
            raise UsageError("FILE", f"cannot read {args.file}: {exc.strerror}") from None
    elif args.scenario == "raw" and "--guid" not in scenarios.fields_from_args(args):
        raise UsageError("FILE", "raw needs a FILE with a whole status block, or --guid/--data for a section")

    request = {"scenario": args.scenario, "fields": scenarios.fields_from_args(args),
               "source": args.source, "notify": args.notify, "pe": args.pe, "count": args.count,
               "rate": args.rate, "timeout": args.timeout, "record": record,
               "unique": not args.identical}
    sim_opts = os_model_options(args)
    if board.target.kind != "sim" and os_model_options_given(args):
        raise UsageError(os_model_options_given(args)[0],
                         f"OS model options only apply to the sim board, not {board.name!r}")

    t0 = time.perf_counter()
    result = _via_daemon(board, args, request)
    if result is None:
        with Session.open(board, journal=args.journal, unsafe_concurrent_sei=args.unsafe_concurrent_sei,
                          sei_settle=None if args.sei_settle_ms is None else args.sei_settle_ms / 1000,
                          sim=sim_opts) as session:
            result = session.inject(request)
    wall = time.perf_counter() - t0

    injs = result["injections"]
    out.set(board=board.name, injections=injs, os_log=result["os_log"], os=result.get("os"),
            summary=result.get("summary") or latency_summary(injs), via=result["via"], wall_s=round(wall, 4))
    _print_human(out, board, injs, result)
    return max((ORDER[i["state"]] for i in injs), default=EXIT_OK)


def _via_daemon(board, args, request: dict) -> dict | None:
    """Send the request to the daemon serving the board, if one runs (else None). Options
    fixed at the daemon's start are refused rather than silently ignored; @FILE field
    values are read here, since the daemon's working directory is not ours."""
    from ..daemon import Client

    client = Client.connect(board.name)
    if client is None:
        return None
    with client:
        given = os_model_options_given(args)
        given += ["--unsafe-concurrent-sei"] if args.unsafe_concurrent_sei else []
        given += ["--journal"] if args.journal else []
        given += ["--sei-settle-ms"] if args.sei_settle_ms is not None else []
        if given:
            raise UsageError(given[0], f"a daemon serves board {board.name!r} ({client.path}); "
                             f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} fixed when the daemon starts "
                             f"(`fwemu daemon {' '.join(given)}`), not per inject")
        byte_opts = {o.flag for o in scenarios.OPTIONS if o.parse is scenarios.parse_bytes}
        request = dict(request, fields={k: (scenarios.parse_bytes(k, v).hex()
                                            if k in byte_opts and v.startswith("@") else v)
                                        for k, v in request["fields"].items()})
        result = client.request("inject", request)
    result["via"] = "daemon"
    return result


def _print_human(out, board, injs, result) -> None:
    if not injs:
        return
    if len(injs) <= 10:
        for i in injs:
            how = f"{i['notify'].upper()} on PE {i['pe']}" if i["notify"] != "polled" else "polled"
            out.line(f"#{i['id']} {i['scenario']} -> source {i['source']} ({how}), block {i['block']:#x}, "
                     f"{i['length']} bytes")
            if i["state"] == "consumed":
                out.line(f"   consumed {i['latency_ms']:.3f} ms after the notification")
            else:
                out.line(f"   {i['state']}: {i['reason']}")
                if i.get("left_in_memory"):
                    left = ", ".join(f"{k} {v:#x}" for k, v in i["left_in_memory"].items())
                    out.line(f"   left in memory: {left}")
            for w in i.get("warnings", []):
                print(f"fwemu: warning: #{i['id']}: {w}", file=sys.stderr)
    s = latency_summary(injs)
    if len(injs) > 1:
        out.line(f"{len(injs)} injections: " + ", ".join(f"{v} {k}" for k, v in s["states"].items()) +
                 (f"; latency p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms" if s["p50_ms"] is not None else ""))
    log = result["os_log"]
    if log:
        out.line(f"OS log ({board.name}):")
        if len(log) > OS_LOG_LINES:
            out.line(f"   ... {len(log) - OS_LOG_LINES} earlier lines (all of them: --json's os_log)")
        for line in log[-OS_LOG_LINES:]:
            out.line(f"   {line}")
    os_state = result.get("os") or {}
    if os_state.get("panic"):
        out.line(f"OS is down: {os_state['panic']} (fwemu reset reboots it)")
