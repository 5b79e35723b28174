"""`fwemu farm run`: one workload across many boards of a labgrid lab, in parallel.

    fwemu farm run --tag ras=ghes --places 2 --board sim-agent -- inject memory-ue --count 200

Reserves N places whose tags match through the labgrid coordinator (one reservation per
place, waited for), acquires them, finds each place's serial resource and its channel URL
(fwemu.labgrid.driver), runs `fwemu WORKLOAD --board B --url URL --journal DIR/PLACE.jsonl
--json` for every place at once, then merges: DIR/farm.jsonl (every board's journal, each
line tagged with its place), a summary per board and in total, and the worst exit code.
Places are released and reservations cancelled on every way out (errors, Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from ..errors import EXIT_USAGE, FwemuError, StoppedError, UsageError
from ._target import finite, in_range

MAX_PLACES = 64
DEFAULT_COORDINATOR = "127.0.0.1:20408"        # labgrid's own default
# set by the farm for every board: the workload must not carry them
OWNED = ("--board", "--url", "--journal", "--json", "--jsonl")

EXAMPLES = """\
examples:
  fwemu farm run --tag ras=ghes --places 2 --board sim-agent -- \\
      inject memory-ue --count 200 --address 0x60000000:0x70000000:0x1000
  LG_COORDINATOR=lab:20408 fwemu farm run --tag soc=n2 --places 4 --board rd-n2 --json -- \\
      inject memory-ce --count 1000

exit codes: the worst (highest) of the boards' exit codes (see fwemu inject --help);
  2 usage (a bad option, no place with the tags, fewer places than --places);
  5 the coordinator unreachable, a place without a serial resource, a reservation not
  allocated within --wait; 130/143 interrupted (places released all the same).
"""


class BoardsFailed(FwemuError):
    """One or more boards ended non-zero: the report is printed, this is its one line."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def register(sub, common) -> None:
    p = sub.add_parser("farm", parents=[common], help="run one workload on many labgrid places at once",
                       description="Run fwemu workloads on boards reserved through a labgrid coordinator.")
    fsub = p.add_subparsers(dest="farm_command", metavar="ACTION")
    r = fsub.add_parser("run", parents=[common], help="reserve places by tag and fan a workload out",
                        usage="fwemu farm run --tag KEY=VALUE [options] -- WORKLOAD...",
                        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="a tag the places must have (repeat: all of them)")
    r.add_argument("--places", type=int, default=1, metavar="N", help="how many places (default 1)")
    r.add_argument("--coordinator", metavar="HOST[:PORT]",
                   help=f"labgrid coordinator (default: $LG_COORDINATOR, else {DEFAULT_COORDINATOR})")
    r.add_argument("--wait", type=finite, default=300.0, metavar="S",
                   help="seconds to wait for the reservations to be allocated (default 300)")
    r.add_argument("--resource", metavar="NAME",
                   help="the serial resource's name, for places with more than one")
    r.add_argument("--dir", metavar="DIR",
                   help="where the journals go (default: a new directory under ~/.local/state/fwemu/farm)")
    r.add_argument("workload", nargs=argparse.REMAINDER, metavar="-- WORKLOAD",
                   help="the fwemu command each board runs (after --), e.g. inject memory-ue --count 100")
    r.set_defaults(func=cmd_farm_run)
    p.set_defaults(func=lambda args, out: _no_action(p))


def _no_action(p) -> int:
    p.print_help(sys.stderr)
    return EXIT_USAGE


def _workload(args) -> list[str]:
    work = list(args.workload)
    if work and work[0] == "--":
        work = work[1:]
    if not work:
        raise UsageError("WORKLOAD", "missing: give the fwemu command after --, e.g. -- inject memory-ue")
    for word in work:
        flag = word.split("=", 1)[0]
        if flag in OWNED:
            raise UsageError("WORKLOAD", f"{flag} is set by the farm for each board (--board goes "
                                         "before --, the rest are the farm's)")
    return work


def _out_dir(args) -> str:
    if args.dir:
        path = args.dir
    else:
        base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
        path = os.path.join(base, "fwemu", "farm", time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise UsageError("--dir", f"cannot create {path}: {exc.strerror or exc}") from None
    if os.path.exists(os.path.join(path, "farm.jsonl")):
        raise UsageError("--dir", f"{path} already holds a farm run (farm.jsonl): give a new directory")
    return path


def cmd_farm_run(args, out) -> int:
    from ..board import load_board
    from ..labgrid import missing_labgrid

    work = _workload(args)
    in_range("--places", args.places, 1, MAX_PLACES)
    in_range("--wait", args.wait, 0, 7 * 86400.0, " seconds")
    why = missing_labgrid()
    if why:
        raise UsageError("farm", why)
    from ..labgrid.coordinator import check_tag

    if not args.tag:
        raise UsageError("--tag", "missing: the places are chosen by tag (--tag KEY=VALUE)")
    tags = dict(check_tag(t) for t in args.tag)
    board = load_board(args.board)
    if board.target.kind != "agent":
        raise UsageError("--board", f"board {board.name!r} is a {board.target.kind!r} target; a farm's "
                                    "boards are reached over their serial port (an agent board)")
    board_spec = board.name if board.shipped else board.file
    coordinator = args.coordinator or os.environ.get("LG_COORDINATOR") or DEFAULT_COORDINATOR
    outdir = _out_dir(args)

    from ._farmrun import Farm

    farm = Farm(coordinator, tags, args.places, args.wait, args.resource, board_spec, outdir,
                verbose=args.verbose > 0)
    stopped = 0
    try:
        farm.reserve()
        out.line(f"farm: {len(farm.boards)} place{'s' if len(farm.boards) != 1 else ''} "
                 f"tagged {' '.join(f'{k}={v}' for k, v in tags.items())} on {coordinator}")
        for b in farm.boards:
            out.line(f"   {b.place}: {b.url}")
        farm.start(work)
        stopped = farm.wait()
    finally:
        released = farm.cleanup()
    report = farm.report()
    out.set(board=board.name, coordinator=coordinator, tags=tags, workload=work, dir=outdir,
            places=report["places"], total=report["total"], journal=report["journal"],
            released=released, wall_s=report["wall_s"])
    _print(out, report, released)
    if stopped:
        code = 143 if stopped == signal.SIGTERM else 130
        raise StoppedError(f"interrupted by {signal.Signals(stopped).name}: the boards were stopped "
                           f"(reported above) and {len(released)} places released", code)
    failed = [p for p in report["places"] if p["exit"] != 0]
    if failed:
        worst = max(p["exit"] for p in failed)
        first = failed[0]
        raise BoardsFailed(f"{len(failed)} of {len(report['places'])} boards failed; place {first['place']} "
                           f"(board {board.name}): exit {first['exit']}: {first['error'] or 'no error given'}",
                           worst)
    return 0


def _fmt(s: dict) -> str:
    text = f"{s['count']} injections: " + (", ".join(f"{v} {k}" for k, v in s["states"].items()) or "none ended")
    if s.get("rate") is not None:
        text += f"; {s['rate']:.1f}/s"
    if s.get("p50_ms") is not None:
        text += f"; latency p50 {s['p50_ms']:.3f} ms, p99 {s['p99_ms']:.3f} ms"
    return text


def _print(out, report: dict, released: list[str]) -> None:
    width = max([len(p["place"]) for p in report["places"]] + [5])
    for p in report["places"]:
        line = f"{p['place']:<{width}}  {_fmt(p)}; exit {p['exit']}"
        out.line(line)
        if p["exit"] != 0 and p["error"]:
            out.line(f"{'':<{width}}  {p['error']}")
    out.line(f"{'total':<{width}}  {_fmt(report['total'])} (rates summed); wall {report['wall_s']:.2f} s")
    out.line(f"journal: {report['journal']} (each board's: {os.path.dirname(report['journal'])}/PLACE.jsonl)")
    out.line(f"released: {', '.join(released) or 'nothing'}")
