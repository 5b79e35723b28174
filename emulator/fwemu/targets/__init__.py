"""Target backends: where the firmware model's memory writes and notifications land.

`open_target(board)` picks the backend named by the board's `target.kind`.
"""

from __future__ import annotations

from ..board import Board
from ..errors import UsageError
from .base import Target


def open_target(board: Board, **options) -> Target:
    kind = board.target.kind
    if kind == "sim":
        from .sim import SimTarget
        return SimTarget(board, **options)
    if kind == "qemu":
        from .qemu import QemuTarget
        return QemuTarget(board, **options)
    if kind == "agent":
        from .agent import AgentTarget
        return AgentTarget(board, **options)
    raise UsageError("target.kind", f"board {board.name!r} needs the {kind!r} backend, "
                     "which this fwemu does not have yet")


__all__ = ["Target", "open_target"]
