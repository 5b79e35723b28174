"""`fwemu journal replay`: post journalled injections again, on the same board or another.

Each selected injection (journal_read.replayable: those with a final line, by run and id)
becomes one request on the target board's firmware session (its daemon, or in-process):

- exact (the default): the journalled status block, byte for byte (`record`). The firmware
  warns when the same bytes were posted within Linux's 10-s duplicate window, and labels a
  record the kernel's checks refuse `forged`, as for `inject raw`.
- --rebuild: the scenario built again from the journalled field values, with a fresh
  unique timestamp (what a replay to a live OS that saw the originals wants).

The source: the journalled notification kind's first source on the target board (the
same source id on the same board), `--same-source` the journalled source id, `--route`
the target board's route for the scenario. The original's PE is kept. What each replay
ended as is journalled in the target's journal, as any injection is.
"""

from __future__ import annotations

import time
from typing import Any

from .. import api
from ..board import Board, load_board
from ..errors import EXIT_OK, UsageError
from ..journal_read import Filter, JournalReader, replayable, split_key

MAX_LISTED = 10_000     # the envelope's pairs above this: the summary only (memory stays flat)


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="*", metavar="RUN|RUN:ID", help="runs or injections to replay (default: all)")
    p.add_argument("--to", metavar="BOARD", help="replay onto this board (default: the journal's, --board)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--rebuild", action="store_true",
                     help="build each record again from its fields (a fresh unique timestamp) instead "
                          "of posting the journalled bytes")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--same-source", action="store_true", help="post to the journalled source id")
    where.add_argument("--route", action="store_true", help="post to the target board's route for the scenario")
    p.add_argument("--rate", type=float, default=0.0, metavar="R", help="replays per second (default: as fast as accepted)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds each may take (default 5)")
    p.add_argument("--into", metavar="FILE", help="the target's journal (default: the target board's)")
    p.add_argument("--no-daemon", action="store_true", help="replay in-process even when a daemon serves the target")
    p.add_argument("--url", metavar="URL", help="an agent board's debug channel URL")


def _request(inj: Any, board: Board, args) -> api.InjectRequest:
    scenario = inj.scenario or "raw"
    source = notify = None
    if args.same_source:
        source = inj.source
    elif not args.route:
        notify = inj.notify
    if args.rebuild:
        if scenario == "raw" and "guid" not in inj.fields:
            raise UsageError("--rebuild", f"{inj.run}:{inj.id} is a raw record: only its bytes can be replayed")
        return api.InjectRequest(scenario, inj.fields, source=source, notify=notify, pe=inj.pe or 0,
                                 timeout=args.timeout)
    if inj.record is None:
        raise UsageError("RUN", f"{inj.run}:{inj.id} has no journalled record (a format-1 line or a run "
                                "cut short): --rebuild replays it from its fields")
    return api.InjectRequest(scenario, {}, source=source, notify=notify, pe=inj.pe or 0, timeout=args.timeout,
                             record=inj.record)


def selection(reader: JournalReader, items: list[str]) -> tuple[list[str], dict[str, set[int]]]:
    """RUN and RUN:ID arguments: the runs to read, and per run the ids asked for (a run
    named without an id: all of its injections)."""
    runs: list[str] = []
    ids: dict[str, set[int]] = {}
    whole: set[str] = set()
    for text in items:
        sel, iid = split_key(text)
        if iid is not None and not sel:
            found = reader.runs_with_id(iid)
            if len(found) != 1:
                raise UsageError("RUN:ID", f":{iid} is in {len(found)} runs: name one (RUN:{iid})"
                                 if found else f"no run has injection {iid}")
            run = found[0]
        else:
            run = reader.resolve_run(sel, "RUN")
        runs.append(run)
        if iid is None:
            whole.add(run)
        else:
            ids.setdefault(run, set()).add(iid)
    for run in whole:
        ids.pop(run, None)
    return runs, ids


def run(args, out, reader: JournalReader, flt: Filter, ids: dict[str, set[int]]) -> int:
    if args.rate < 0 or not args.timeout > 0:
        raise UsageError("--rate" if args.rate < 0 else "--timeout", "must be positive")
    board = load_board(args.to or args.board)
    options = api.SessionOptions(daemon=False if args.no_daemon else None, journal=args.into, url=args.url)
    pairs: list[dict[str, Any]] = []
    states: dict[str, int] = {}
    worst = EXIT_OK
    n = 0
    t0 = time.monotonic()
    with api.open_session(board, options) as session:
        for inj in replayable(reader, flt):
            if inj.run in ids and inj.id not in ids[inj.run]:
                continue
            if args.rate > 0:
                time.sleep(max(0.0, t0 + n / args.rate - time.monotonic()))
            res = session.inject(_request(inj, board, args))
            n += 1
            o = res.injections[0] if res.injections else None
            state = o.state if o is not None else "refused"
            states[state] = states.get(state, 0) + 1
            worst = max(worst, res.exit_code)
            pair = {"from": f"{inj.run}:{inj.id}", "was": inj.state, "id": o.id if o else None, "run": o.run if o else None,
                    "state": state, "reason": o.reason if o else None,
                    "latency_ms": o.latency_ms if o else None}
            if len(pairs) < MAX_LISTED:
                pairs.append(pair)
            if n <= 20:
                lat = f" {pair['latency_ms']:.3f} ms" if pair["latency_ms"] is not None else ""
                out.line(f"{pair['from']} ({inj.scenario}, was {inj.state}) -> #{pair['id']}: {state}{lat}"
                         + (f": {pair['reason']}" if pair["reason"] else ""))
        via = session.via
    if n > 20:
        out.line(f"   ... {n - 20} more (all of them: --json's replays)")
    out.line(f"replayed {n} injection{'s' if n != 1 else ''} onto {board.name} ({via}): "
             + (", ".join(f"{v} {k}" for k, v in states.items()) or "none selected"))
    out.set(board=board.name, via=via, count=n, states=states, replays=pairs,
            replays_listed=len(pairs))
    return worst
