"""Target backends: where the firmware model's memory writes and notifications land.

Backends are registered by the `target.kind` a board names (`register_backend`, as
python-can registers interfaces): each entry says where its class lives, imported on use
(each pulls in its own stack: the OS model, the channel, QEMU's launcher; a command loads
only the one its board needs), and its capability flags (`Cap`), which callers test
instead of naming a backend. `open_target(board, sim=..., url=...)` is the one place that
maps a board to a backend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ..board import Board
from ..errors import UsageError
from .base import Cap, Target


@dataclass(frozen=True)
class Backend:
    kind: str            # the board's target.kind
    module: str          # where the Target subclass lives (imported on use)
    cls: str
    summary: str

    def load(self) -> type[Target]:
        cls: type[Target] = getattr(importlib.import_module(self.module), self.cls)
        return cls

    @property
    def caps(self) -> frozenset[str]:
        """What every target of this backend can do (its class's flags; an instance may add)."""
        return self.load().caps


BACKENDS: dict[str, Backend] = {}


def register_backend(backend: Backend) -> None:
    BACKENDS[backend.kind] = backend


register_backend(Backend("sim", f"{__name__}.sim", "SimTarget",
                         "the simulated platform and Linux OS model, in this process"))
register_backend(Backend("qemu", f"{__name__}.qemu", "QemuTarget",
                         "QEMU virt running a real Linux kernel, its RAM mapped into this process"))
register_backend(Backend("agent", f"{__name__}.agent", "AgentTarget",
                         "a board, an FVP, TF-A or the sim-agent, through the target agent's debug channel"))


def backend_for(board: Board) -> Backend:
    kind = board.target.kind
    try:
        return BACKENDS[kind]
    except KeyError:
        raise UsageError("target.kind", f"board {board.name!r} needs the {kind!r} backend, which this fwemu "
                         f"does not have (it has: {', '.join(sorted(BACKENDS))})") from None


def open_target(board: Board, sim: dict[str, Any] | None = None, url: str | None = None) -> Target:
    """sim: the sim OS model's options (Cap.OS_MODEL backends); url: an agent board's channel
    instead of target.url. Each backend ignores what is not its own."""
    return backend_for(board).load().open(board, sim=sim, url=url)


__all__ = ["Backend", "BACKENDS", "Cap", "Target", "backend_for", "open_target", "register_backend"]
