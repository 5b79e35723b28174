"""`fwemu inject SCENARIO`: post a record, notify the OS, report what happened.

Runs against a running `fwemu daemon` for the board when there is one, else in-process
(on the sim board that boots a fresh simulated OS for this one command).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time

from .. import scenarios
from ..board import NOTIFY_TYPES, load_board
from .. import api
from ..api import latency_summary
from ..errors import UnreachableError, UsageError
from ..request import field_flag
from ..sweep import Injections
from ..targets import Cap
from ._simopts import (add_os_model_options, check_os_model_options, os_model_options)
from ._stop import stop_on_signals, stopped_error
from ._target import add_journal_option, add_no_daemon_option, add_url_option, finite, in_range, target_url

MAX_COUNT = 1_000_000_000       # the daemon's limit too; memory stays flat at any count
MAX_TIMEOUT = 7 * 86400.0       # seconds one injection may wait (the daemon's limit too)
MAX_SEI_SETTLE_MS = 60_000.0

OS_LOG_LINES = 60   # the human report shows the OS log's tail; --json carries all of it


EXAMPLES = """\
examples:
  fwemu inject memory-ue                                 recoverable memory error, board's route
  fwemu inject memory-ce --address 0x60001000 --count 100 --rate 50
  fwemu inject memory-ue --count 256 --address 0x60000000:0x70000000:0x1000   a new page each
  fwemu inject memory-ce --count 50 --address random:0x60000000:0x70000000:0x1000 --seed 7
  fwemu inject arm-cache-ue --notify sdei --pe 1         on the first SDEI source, PE 1
  fwemu inject pcie-ue --bdf 0000:03:00.0 --json         one JSON object on stdout
  fwemu inject arm-cache-ue --arm-info type=cache --arm-info type=tlb,pa=none   two error-info entries
  fwemu inject raw block.bin --source 2                  a status block file, posted verbatim
  fwemu inject memory-ue --board fvp --url socket://127.0.0.1:5005

exit codes: 0 every injection consumed; 2 usage error (one line names the option);
  3 timed out; 4 refused by a firmware rule; 5 target or daemon unreachable, or the
  journal failed mid-run; 6 every injection consumed and the OS down after them (panic);
  130/143 interrupted (SIGINT/SIGTERM). With several injections the worst code wins.
"""


def register(sub, common) -> None:
    import argparse

    p = sub.add_parser("inject", parents=[common], help="inject an error: post a record and notify the OS",
                       description="Post a record into an error source's status block, notify the OS, "
                                   "and report what it did with it.",
                       usage="fwemu inject SCENARIO [FILE] [options] [field options]",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario", metavar="SCENARIO", help=f"one of: {', '.join(scenarios.SCENARIOS)}")
    p.add_argument("file", metavar="FILE", nargs="?",
                   help="raw only: a file holding a whole status block, posted verbatim")
    what = p.add_argument_group("where and how often")
    what.add_argument("--source", type=int, metavar="ID",
                      help="error source id (default: the board's route)")
    what.add_argument("--notify", choices=sorted(NOTIFY_TYPES),
                      help="use the board's first source with this notification")
    what.add_argument("--pe", default="0", metavar="N",
                      help="PE index the notification targets (default 0), or PEs in turn: "
                           "0:4:1, 0,2, random:0:4")
    what.add_argument("--count", type=int, default=1, metavar="N",
                      help="number of injections (default 1)")
    what.add_argument("--rate", type=finite, default=0.0, metavar="R",
                      help="injections per second (default 0: as fast as accepted)")
    what.add_argument("--timeout", type=finite, default=5.0, metavar="S",
                      help="seconds each may take to be consumed (default 5)")
    what.add_argument("--seed", type=int, default=0, metavar="N",
                      help="seed of random:LOW:HIGH field values (default 0: the same values each run)")
    what.add_argument("--jsonl", action="store_true",
                      help="JSON lines on stdout: one per injection as it ends, then the envelope "
                           "(\"event\": \"end\"); memory stays flat for any count")
    run = p.add_argument_group("run")
    add_journal_option(run)
    add_url_option(run)
    add_no_daemon_option(run)
    run.add_argument("--unsafe-concurrent-sei", action="store_true",
                     help="DANGER: lift the one-pending-NOTIFY_SEI rule (negative testing only)")
    run.add_argument("--sei-settle-ms", type=finite, default=None, metavar="MS",
                     help="wait after an SEI record's ack before raising the next SEI "
                          "(default: 1 ms on real targets, 0 on sim)")
    run.add_argument("--identical", action="store_true",
                     help="do not make repeats unique (Linux drops repeats within 10 s on SEA/SDEI)")
    add_os_model_options(p)
    scenarios.add_field_options(p)
    p.set_defaults(func=cmd_inject)


def _validate(args) -> None:
    if args.count < 1:
        raise UsageError("--count", "must be at least 1")
    if args.count > MAX_COUNT:
        raise UsageError("--count", f"must be at most {MAX_COUNT}")
    if args.rate < 0:
        raise UsageError("--rate", "must not be negative")
    if args.timeout <= 0:
        raise UsageError("--timeout", "must be positive")
    in_range("--timeout", args.timeout, 0, MAX_TIMEOUT, " seconds")
    if args.source is not None:
        in_range("--source", args.source, 0, 0xFFFF)
    in_range("--seed", args.seed, 0, (1 << 64) - 1)
    if args.sei_settle_ms is not None:
        in_range("--sei-settle-ms", args.sei_settle_ms, 0, MAX_SEI_SETTLE_MS)
    if args.file and args.scenario != "raw":
        raise UsageError("FILE", f"only the raw scenario takes a file (got {args.scenario})")
    if args.scenario not in scenarios.SCENARIOS:
        raise UsageError("scenario", f"unknown scenario {args.scenario!r} (one of: {', '.join(scenarios.SCENARIOS)})")


def cmd_inject(args, out) -> int:
    _validate(args)
    board = load_board(args.board)
    record = None
    fields = scenarios.fields_from_args(args)
    if args.file:
        if fields:
            raise UsageError(field_flag(next(iter(fields))), "cannot be combined with a raw FILE")
        record = scenarios.read_limited(args.file, "FILE", scenarios.MAX_FIELD_FILE)
    elif args.scenario == "raw" and "guid" not in fields:
        raise UsageError("FILE", "raw needs a FILE with a whole status block, or --guid/--data for a section")

    request = api.InjectRequest(args.scenario, fields, source=args.source, notify=args.notify, pe=args.pe,
                                count=args.count, rate=args.rate, timeout=args.timeout, record=record,
                                unique=not args.identical, seed=args.seed)
    Injections(request, board.pes.count)     # a bad sweep/list/random spec: one line, nothing run
    check_os_model_options(board, args)
    options = api.SessionOptions(
        daemon=False if args.no_daemon else None, journal=args.journal, url=target_url(board, args),
        sim=os_model_options(args), unsafe_concurrent_sei=args.unsafe_concurrent_sei,
        sei_settle_ms=args.sei_settle_ms)
    on_final = None
    if args.jsonl:
        out.stream_lines()

        def on_final(o: api.Outcome) -> None:
            out.emit({"event": "injection", **o.raw})
    t0 = time.perf_counter()
    stopped: list[int] = []
    with api.open_session(board, options) as session:
        own_machine = Cap.MACHINE_PER_SESSION in session.caps    # the OS ends with this command
        with stop_on_signals(session, stopped):
            try:
                with _progress_bar(request.count) as progress:
                    result = session.inject(request, progress=progress, on_final=on_final)
            except UnreachableError:
                if stopped:       # the signal came before the first submission
                    raise stopped_error(stopped[0], "before any injection was submitted") from None
                raise
    wall = time.perf_counter() - t0
    _report(out, board, result, args.jsonl, wall, own_machine)
    if result.journal_error:
        # the report above is what happened; the run stopped submitting at the failure
        left = result.not_submitted
        raise UnreachableError(result.journal_error + (f"; stopped with {left} injection"
                                                       f"{'s' if left != 1 else ''} not submitted"
                                                       if left else ""))
    if stopped:   # the report above is the partial one: what ran before the signal
        left = result.not_submitted
        raise stopped_error(stopped[0], f"{request.count - left} of {request.count} injections "
                                         f"submitted (reported above), {left} not submitted")
    return result.exit_code


def _report(out, board, result, jsonl: bool, wall: float, own_machine: bool) -> None:
    """The envelope's fields and the human report of one request's result."""
    injs = [dict(o.raw) for o in result.injections]
    summary = result.summary.to_json() if result.summarised else latency_summary(injs)
    out.set(board=board.name, injections=injs, os_log=list(result.os_log), os=dict(result.os) or None,
            summary=summary, via=result.via, wall_s=round(wall, 4))
    if jsonl:         # each injection has had its line: the envelope carries the rest
        out.fields.pop("injections")
        out.set(os_log=list(result.os_log)[-50:])
    raw = result.raw
    if result.summarised:
        _print_summary(out, board, summary, raw, own_machine)
    else:
        _print_human(out, board, injs, raw, own_machine)


@contextlib.contextmanager
def _progress_bar(count: int):
    """A progress bar on stderr when it is a terminal and the run is long enough to want
    one; nothing otherwise (logs, pipes and CI stay clean)."""
    if count < 1000 or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    try:
        size = os.get_terminal_size(sys.stderr.fileno())
        sized = size.columns > 0 and size.lines > 0
    except OSError:
        sized = False
    # a terminal that reports no size (a bare pty) gets 80x24: tqdm hides a bar on a
    # 0-line screen
    with tqdm(total=count, unit="inj", file=sys.stderr, dynamic_ncols=sized, ncols=None if sized else 80,
              nrows=None if sized else 24, leave=False, desc="inject") as bar:
        def progress(submitted: int) -> None:
            bar.update(submitted - bar.n)
        yield progress


def _print_summary(out, board, s: dict, result, own_machine: bool) -> None:
    """The report of a run the daemon summarised (a count above its full-report limit)."""
    out.line(f"{s['count']} injections: " + ", ".join(f"{v} {k}" for k, v in s["states"].items()) +
             (f"; latency p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms" if s.get("p50_ms") is not None else ""))
    for r in s.get("reasons", []):
        ids = f"#{r['first']}" if r["count"] == 1 else f"#{r['first']} .. #{r['last']}"
        out.line(f"   {r['count']} {r['state']} ({ids}): {r['reason']}")
    _print_os(out, board, result, result["os_log"], own_machine)


def _print_human(out, board, injs, result, own_machine: bool) -> None:
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
    if len(injs) > 10:
        # the per-injection lines are not printed: every distinct reason, with its count
        # and the first and last injection it ended
        reasons: dict = {}
        for i in injs:
            if i["state"] != "consumed":
                r = reasons.setdefault((i["state"], i.get("reason") or "no reason given"), [0, i["id"], i["id"]])
                r[0] += 1
                r[2] = i["id"]
        for (state, reason), (n, first, last) in reasons.items():
            ids = f"#{first}" if n == 1 else f"#{first} .. #{last}"
            out.line(f"   {n} {state} ({ids}): {reason}")
    _print_os(out, board, result, result["os_log"], own_machine)


def _print_os(out, board, result, log, own_machine: bool) -> None:
    if log:
        out.line(f"OS log ({board.name}):")
        if len(log) > OS_LOG_LINES:
            out.line(f"   ... {len(log) - OS_LOG_LINES} earlier lines (all of them: --json's os_log)")
        for line in log[-OS_LOG_LINES:]:
            out.line(f"   {line}")
    os_state = result.get("os") or {}
    if os_state.get("panic") or os_state.get("up") is False:
        why = os_state.get("panic") or os_state.get("down") or "the target gave no reason"
        if own_machine:
            # this command's own simulated OS: it ends with the command; the next one boots afresh
            out.line(f"OS is down: {why} (this command's own simulated OS; the next command "
                     "boots a fresh one, and `fwemu daemon` keeps one across commands)")
        else:
            out.line(f"OS is down: {why} (fwemu reset reboots it)")
