"""`fwemu hest build | import | lint`: the board as an ACPI HEST, a HEST as a board, and
what Linux would make of a HEST (docs/hest.md)."""

from __future__ import annotations

import argparse
import importlib.resources
import os
import re
import sys
import tomllib
from typing import Any

from ..board import Board, load_board, parse_board
from ..errors import EXIT_FAILED, BoardError, UsageError
from ..hest import (DEFAULT_OEM, HestError, HestTable, board_from_hest, board_to_toml, build_hest,
                    parse_hest)
from ..hest_lint import RULES, SEVERITIES, lint
from ..output import Output
from ..safe_io import write_output

SYS_HEST = "/sys/firmware/acpi/tables/HEST"


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _block(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\w+)\s*=\s*(\w+)\s*", text)
    try:
        if m is None:
            raise ValueError(text)
        return int(m.group(1), 0), int(m.group(2), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected ID=ADDRESS (e.g. 0=0x7c410010)") \
            from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("hest", parents=[common], help="build, import and lint ACPI HEST tables",
                       description="The board's HEST (build), a HEST as a board file (import), "
                                   "and what Linux does with each field (lint).")
    hsub = p.add_subparsers(dest="hest_command", metavar="ACTION")
    p.set_defaults(func=_missing_action)

    b = hsub.add_parser("build", parents=[common], help="write the board's HEST",
                        description="Write the ACPI HEST the board's OS boots with: one GHES "
                                    "(type 9) / GHESv2 (type 10) entry per source, in board "
                                    "order, checksum set.")
    b.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="where to write the table ('-' = stdout)")
    for opt, size in (("oem-id", 6), ("oem-table-id", 8), ("creator-id", 4)):
        b.add_argument(f"--{opt}", default=DEFAULT_OEM[opt.replace("-", "_")],
                       help=f"header field, up to {size} ASCII characters "
                            f"(default %(default)r)")
    for opt in ("oem-revision", "creator-revision"):
        b.add_argument(f"--{opt}", type=_int, default=DEFAULT_OEM[opt.replace("-", "_")],
                       help="header field, u32 (default %(default)s)")
    b.set_defaults(func=cmd_build)

    i = hsub.add_parser("import", parents=[common], help="turn a HEST into a board file",
                        description="Parse a HEST (a file, or /sys/firmware/acpi/tables/HEST "
                                    "on a running machine) into a board skeleton. GHES and "
                                    "GHESv2 entries become sources; other structure types are "
                                    "skipped with a note; windows cover every register and "
                                    "block found.")
    i.add_argument("file", metavar="FILE", help=f"the table (e.g. {SYS_HEST})")
    i.add_argument("-o", "--output", metavar="FILE", help="write the board TOML here "
                   "(default: print it)")
    i.add_argument("--name", help="board name (default: the output file's stem, else 'imported')")
    i.add_argument("--target", choices=("sim", "agent", "qemu"), default="sim",
                   help="target kind of the skeleton (default sim)")
    i.add_argument("--url", help="agent URL (required with --target agent)")
    i.add_argument("--pes", type=_int, default=1, help="PE count (the HEST does not say; "
                   "default 1)")
    i.add_argument("--block", type=_block, action="append", default=[], metavar="ID=ADDR",
                   help="a source's block address (the HEST holds only the register that "
                        "points at it); repeatable; ID must be a source in the table")
    i.add_argument("--ignore-checksum", action="store_true",
                   help="import a table whose checksum is wrong (noted in the output)")
    i.set_defaults(func=cmd_import)

    lt = hsub.add_parser("lint", parents=[common], help="check a HEST against what Linux does",
                         description="Report each problem with severity, rule, source id and "
                                     "what Linux does about it. Exit 0 without error-severity "
                                     "findings, 1 with, 2 for unreadable input.")
    lt.add_argument("file", nargs="?", metavar="FILE", help="a HEST file")
    lt.add_argument("--ignore", action="append", default=[], metavar="RULE",
                    help="drop findings of this rule (repeatable)")
    lt.set_defaults(func=cmd_lint)


def _missing_action(args: argparse.Namespace, out: Output) -> int:
    raise UsageError("hest", "missing action (try: fwemu hest build|import|lint)")


MAX_TABLE = 1 << 24     # bytes: an ACPI table's length field is a u32, real HESTs are KiBs


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TABLE + 1)
        if len(data) > MAX_TABLE:
            raise UsageError(path, f"holds more than {MAX_TABLE} bytes: not an ACPI table")
        return data
    except OSError as exc:
        why = exc.strerror or str(exc)
        if path.startswith("/sys/firmware/acpi/tables") and isinstance(exc, PermissionError):
            why += " (the ACPI tables in /sys are readable by root only)"
        raise UsageError(path, f"cannot read: {why}") from None


def _parse_file(path: str) -> HestTable:
    try:
        return parse_hest(_read(path))
    except HestError as exc:
        exc.file = path
        raise


def _needs_sources(board: Board) -> None:
    if not board.sources:
        raise UsageError("--board", f"board {board.name!r} has no [[source]] entries: its "
                         'sources are read from the target\'s own HEST at run time '
                         '(target.discover = "hest"), so there is no table to build or lint')


def cmd_build(args: argparse.Namespace, out: Output) -> int:
    board = load_board(args.board)
    _needs_sources(board)
    data = build_hest(board, oem_id=args.oem_id, oem_table_id=args.oem_table_id,
                      oem_revision=args.oem_revision, creator_id=args.creator_id,
                      creator_revision=args.creator_revision)
    table = parse_hest(data)
    if args.output == "-":
        if args.json:
            raise UsageError("--output", "'-' writes the table to stdout, which --json uses")
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        write_output(args.output, data, "--output")
        out.line(f"{args.output}: HEST for board {board.name}, {len(data)} bytes, "
                 f"{len(table.entries)} entries, checksum {table.checksum:#04x}")
    out.set(board=board.name, output=args.output, length=len(data),
            checksum=table.checksum, table=table.to_dict())
    return 0


def cmd_import(args: argparse.Namespace, out: Output) -> int:
    table = _parse_file(args.file)
    if not table.checksum_ok and not args.ignore_checksum:
        raise HestError(9, "checksum", f"is {table.checksum:#04x}, the table's bytes say "
                        f"{table.expected_checksum:#04x} (a damaged or hand-edited table; "
                        "--ignore-checksum imports it anyway)", file=args.file)
    ids = {e.source_id for e in table.entries}
    for sid, _addr in args.block:
        if sid not in ids:
            raise UsageError("--block", f"source {sid} is not in {args.file} (its sources: "
                             f"{', '.join(map(str, sorted(ids))) or 'none'})")
    if args.target == "agent" and not args.url:
        raise UsageError("--url", "required with --target agent (a pyserial URL)")
    name = args.name or (os.path.splitext(os.path.basename(args.output))[0] if args.output
                         else "imported")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise UsageError("--name", f"{name!r} is not a board name (letters, digits, '.', '_', '-')")
    try:
        skel = board_from_hest(table, name, blocks=dict(args.block), target=args.target,
                               url=args.url, pes=args.pes)
    except HestError as exc:
        exc.file = args.file
        raise
    if table.error_source_count != len(table.entries):
        raise HestError(36, "error_source_count", f"says {table.error_source_count} but the "
                        f"table's {table.length} bytes hold {len(table.entries)} entries", file=args.file)
    if not table.checksum_ok:
        skel.notes.append(f"the table's checksum is wrong ({table.checksum:#04x}, should be "
                          f"{table.expected_checksum:#04x}); imported with --ignore-checksum")
    comments = [f"Imported by `fwemu hest import` from {args.file}.", *skel.notes]
    text = board_to_toml(skel, comments)
    parse_board(tomllib.loads(text), name)      # what we write must load
    if args.output:
        write_output(args.output, text, "--output")
        out.line(f"{args.output}: board {name}, {len(skel['source'])} sources from "
                 f"{len(table.entries)} HEST entries")
        for note in skel.notes:
            out.line(f"  note: {note}")
    else:
        out.line(text.rstrip("\n"))
    out.set(file=args.file, output=args.output, board=dict(skel), notes=skel.notes,
            toml=text, table=table.to_dict())
    return 0


def _board_for_lint(name: str | None) -> tuple[Board, dict[str, Any]]:
    """The board and its routes. A board that fails to load only because of its routes is
    still linted (routes are lint findings too)."""
    try:
        board = load_board(name)
        return board, dict(board.routes)
    except BoardError as exc:
        if not exc.field.startswith("routes."):
            raise
        raw = _raw_board(exc.file, name)
        routes = raw.pop("routes", {})
        if not isinstance(routes, dict):
            raise
        return parse_board(raw, exc.file), routes


def _raw_board(file: str, name: str | None) -> dict[str, Any]:
    if name and ("/" in name or name.endswith(".toml")):
        return tomllib.loads(_read(name).decode("utf-8"))
    res = importlib.resources.files("fwemu").joinpath("boards", file)
    return tomllib.loads(res.read_text(encoding="utf-8"))


def cmd_lint(args: argparse.Namespace, out: Output) -> int:
    board_name = getattr(args, "board", None)
    if args.file and board_name:
        raise UsageError("lint", "give either --board NAME or a HEST FILE, not both")
    if not args.file and not board_name:
        raise UsageError("lint", "give --board NAME|PATH or a HEST FILE")
    for rule in args.ignore:
        if rule not in RULES:
            raise UsageError("--ignore", f"unknown rule {rule!r} (rules: {', '.join(RULES)})")
    if args.file:
        what, findings = args.file, lint(_parse_file(args.file))
    else:
        board, routes = _board_for_lint(board_name)
        _needs_sources(board)
        what, findings = f"board {board.name}", lint(board, routes=routes)
    findings = [f for f in findings if f.rule not in args.ignore]
    counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
    out.set(input=what, findings=[f.to_dict() for f in findings], counts=counts)
    out.line(f"{what}: " + ", ".join(f"{n} {s}{'s' if n != 1 and s != 'info' else ''}"
                                     for s, n in counts.items()))
    for f in findings:
        src = f"source {f.source_id}" if f.source_id is not None else "table"
        at = f" @{f.offset:#x}" if f.offset is not None else ""
        out.line(f"{f.severity:<7} {f.rule:<20} {src}{at}: {f.message}")
        out.line(f"        Linux: {f.linux}")
    return EXIT_FAILED if counts["error"] else 0
