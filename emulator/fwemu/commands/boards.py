"""`fwemu boards` (the shipped boards) and `fwemu board show [NAME|PATH]` (one board, resolved)."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from ..board import Board, list_boards, load_board
from ..errors import UsageError


class _Output(Protocol):
    """What a command uses of cli.Output (cli imports the commands, not the other way)."""

    def line(self, text: str = "") -> None: ...
    def set(self, **fields: Any) -> None: ...


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser],
             common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("boards", parents=[common], help="list the shipped boards",
                       description="List the boards shipped with fwemu (name, target kind, "
                                   "number of error sources, description).")
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser("board", parents=[common], help="inspect a board file",
                       description="Inspect a board file.")
    bsub = p.add_subparsers(dest="board_command", metavar="ACTION")  # same parser class as p
    show = bsub.add_parser("show", parents=[common], help="print a board, fully resolved",
                           description="Print a board with every default filled in. NAME is a "
                                       "shipped board name or a TOML path; default: --board, "
                                       "then $FWEMU_BOARD, then 'sim'.")
    show.add_argument("name", nargs="?", metavar="NAME|PATH", default=None)
    show.set_defaults(func=cmd_board_show)
    p.set_defaults(func=cmd_board_missing_action)


def cmd_board_missing_action(args: argparse.Namespace, out: _Output) -> int:
    raise UsageError("board", "missing action (try: fwemu board show [NAME|PATH])")


def cmd_boards(args: argparse.Namespace, out: _Output) -> int:
    boards = list_boards()
    rows = [{"name": b.name, "target": b.target.kind, "sources": len(b.sources),
             "description": b.description, "file": b.file} for b in boards]
    out.set(boards=rows)
    if rows:
        wn = max(4, *(len(b.name) for b in boards))
        wk = max(6, *(len(b.target.kind) for b in boards))
        out.line(f"{'NAME':<{wn}}  {'TARGET':<{wk}}  SOURCES  DESCRIPTION")
        for r in rows:
            out.line(f"{r['name']:<{wn}}  {r['target']:<{wk}}  {r['sources']:>7}  "
                     f"{r['description']}")
    return 0


def cmd_board_show(args: argparse.Namespace, out: _Output) -> int:
    board = load_board(args.name or getattr(args, "board", None))
    out.set(board=board.to_dict())
    for line in describe(board):
        out.line(line)
    return 0


def describe(board: Board) -> list[str]:
    """Human rendering of a resolved board."""
    t = board.target
    lines = [f"board {board.name} ({board.file}){': ' + board.description if board.description else ''}",
             f"target: {t.kind}" + (f" url={t.url}" if t.url else "")
             + (f" discover={t.discover}" if t.discover != "board" else "")]
    if t.notes:
        lines.append(f"  notes: {t.notes}")
    if t.hint:
        lines.append(f"  hint: {t.hint}")
    lines.append(f"pes: {board.pes.count}  mpidr: "
                 + " ".join(f"{m:#x}" for m in board.pes.mpidr))
    lines.append("windows:")
    for w in board.windows:
        extra = f" path={w.path} offset={w.offset:#x}" if w.path else ""
        lines.append(f"  {w.name}: {w.base:#x} .. {w.end - 1:#x} ({w.size:#x} bytes) "
                     f"{w.access}{extra}")
    lines.append("sources:")
    lines.append("  ID  TYPE    NOTIFY    VECTOR/POLL   ESA          BLOCK        LEN    "
                 "READ ACK (address preserve/write)")
    for s in board.sources:
        if s.notify == "polled":
            vp = f"{s.poll_interval_ms} ms"
        elif s.vector or s.notify in ("external", "gsiv", "sdei"):
            vp = str(s.vector)
        else:
            vp = "-"
        ra = (f"{s.read_ack.address:#x} {s.read_ack.preserve:#x}/{s.read_ack.write:#x}"
              if s.read_ack else "-")
        flags = "" if s.enabled else "  (disabled)"
        lines.append(f"  {s.id:<3} {s.type:<7} {s.notify:<9} {vp:<13} {s.esa:<#12x} "
                     f"{s.block:<#12x} {s.block_length:<6} {ra}{flags}")
    if board.sdei_events:
        lines.append("sdei events:")
        for e in board.sdei_events:
            bound = f" interrupt {e.interrupt}" if e.binding == "interrupt" else ""
            lines.append(f"  {e.number}: {e.priority}, {'shared' if e.shared else 'private'}, "
                         f"{e.binding}{bound}")
    lines.append("routes:" + ("" if board.routes else " none"))
    for scenario, sid in board.routes.items():
        lines.append(f"  {scenario} -> source {sid}")
    return lines
