"""Board files: load, validate, and explain every error by field.

A board is data (a TOML file, schema in docs/boards.md): the target kind and how to reach
it, the PEs, the memory windows fwemu may touch, the GHES error sources (HEST entries) and
the SDEI events they use, and the default source per scenario.

    from fwemu.board import load_board
    board = load_board("rd-n2")            # shipped board, or a path ("./my.toml")
    src = board.route("memory-ce")         # -> Source
    board.window_for(src.block, src.block_length)

Every problem is a BoardError(file, field, reason), printed as
`sim.toml: source[2].block: overlaps source[1].block (0x7c410410 .. 0x7c4107ff)`.
Array entries are numbered from 0 in file order; address ranges are inclusive.

This module finds and reads board files; the types are board_model.py's and the checks
board_parse.py's. All three are pure stdlib: they must not import fwemu.records (the C core).
"""

from __future__ import annotations

import importlib.resources
import os
import tomllib
from importlib.resources.abc import Traversable

from .board_model import (
    NOTIFY_TYPES, SCENARIO_MIN_BLOCK_LENGTH, SCENARIOS, Board, Gas, Pes, ReadAck, SdeiEvent,
    Source, TargetSpec, Window,
)
from .board_parse import board_from_dict, parse_board
from .errors import BoardError
from .safe_io import read_capped

# the types (board_model) and the parser (board_parse) are re-exported: callers name
# every board concept from here
__all__ = [
    "Board", "Gas", "Pes", "ReadAck", "SdeiEvent", "Source", "TargetSpec", "Window",
    "NOTIFY_TYPES", "SCENARIOS", "SCENARIO_MIN_BLOCK_LENGTH", "DEFAULT_BOARD",
    "load_board", "list_boards", "board_names", "parse_board", "board_from_dict",
]

DEFAULT_BOARD = "sim"
BOARD_ENV = "FWEMU_BOARD"


def _shipped_dir() -> Traversable:
    return importlib.resources.files(__package__).joinpath("boards")


def board_names() -> list[str]:
    """Names of the boards shipped in the package."""
    names = [res.name[:-5] for res in _shipped_dir().iterdir()
             if res.name.endswith(".toml") and res.is_file()]
    return sorted(names)


MAX_BOARD_FILE = 1 << 20      # bytes (a board file is a few KiB; /dev/zero is endless)


def _is_path(name: str) -> bool:
    return "/" in name or os.sep in name or name.endswith(".toml")


def load_board(name_or_path: str | None = None) -> Board:
    """Load a board by shipped name or by path. None → $FWEMU_BOARD, else "sim"."""
    if name_or_path is None or name_or_path == "":
        name_or_path = os.environ.get(BOARD_ENV) or DEFAULT_BOARD
    if _is_path(name_or_path):
        raw = read_capped(name_or_path, MAX_BOARD_FILE, BoardError, "a board file")
        return _load_bytes(raw, name_or_path, shipped=False)
    res = _shipped_dir().joinpath(f"{name_or_path}.toml")
    try:
        found = res.is_file()
    except (OSError, ValueError):      # a name too long for a file name, a NUL byte
        found = False
    if not found:
        raise BoardError(name_or_path, "board",
                         f"no shipped board named {name_or_path!r} (shipped: "
                         f"{', '.join(board_names())}); a path must contain '/' or end in .toml")
    return _load_bytes(res.read_bytes(), f"{name_or_path}.toml", shipped=True)


def list_boards() -> list[Board]:
    """Every shipped board, loaded and validated, sorted by name."""
    return [load_board(name) for name in board_names()]


def _load_bytes(raw: bytes, file: str, shipped: bool) -> Board:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BoardError(file, "file", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BoardError(file, "syntax", str(exc)) from None
    return parse_board(data, file, shipped=shipped)
