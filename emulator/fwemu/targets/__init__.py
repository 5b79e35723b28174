"""Target backends: where the firmware model's memory writes and notifications land.

`open_target(board, sim=..., url=...)` picks the backend named by the board's `target.kind`
and hands it the options that are its own, so callers above this package never name a
backend's internals (the sim OS model's knobs are built in sim.py, not by the session).
"""

from __future__ import annotations

from ..board import Board
from ..errors import UsageError
from .base import Target


def open_target(board: Board, sim: dict | None = None, url: str | None = None) -> Target:
    """sim: the sim OS model's options (sim boards only); url: an agent board's channel
    instead of target.url (agent boards only). Each is ignored by the other backends."""
    kind = board.target.kind
    # Imported on use, not at the top: each backend pulls in its own stack (the OS model,
    # the channel, QEMU's launcher) and a command loads only the one its board needs
    # (start-up time is part of `fwemu inject`'s wall time).
    if kind == "sim":
        from .sim import SimTarget
        return SimTarget.from_options(board, sim or {})
    if kind == "qemu":
        from .qemu import QemuTarget
        return QemuTarget(board)
    if kind == "agent":
        from .agent import AgentTarget
        return AgentTarget(board, url=url)
    raise UsageError("target.kind", f"board {board.name!r} needs the {kind!r} backend, "
                     "which this fwemu does not have yet")


__all__ = ["Target", "open_target"]
