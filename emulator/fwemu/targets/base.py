"""The one interface every target backend implements (sim, agent, qemu).

The firmware model (firmware.py) owns the rules; a target only moves bytes and raises
notifications, and reports refusals with the reason the real firmware would give.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from .._corelib import lib
from ..board import Board, Source
from ..errors import RefusedError
from ..memory import ack_reg


class Cap:
    """What a backend can do or is, as flags callers test instead of naming a backend."""

    MACHINE_PER_SESSION = "machine-per-session"   # its memory and OS live and die with the session
    OS_MODEL = "os-model"              # takes the sim OS model's options (SessionOptions.sim)
    FOLLOWS_MACHINE = "follows-machine"  # the machine can be replaced under the session (replaced())
    SEES_DROPS = "sees-drops"          # knows when the OS threw a record away (dropped())
    OS_LOG = "os-log"                  # reports the OS's log lines (os_log())
    RESET = "reset"                    # can reboot the OS (reset())


class Target(abc.ABC):
    board: Board
    # the backend's flags (Cap); an instance may add some (capabilities())
    caps: ClassVar[frozenset[str]] = frozenset()

    def capabilities(self) -> frozenset[str]:
        """This target's flags: the backend's, and any its options add."""
        return self.caps
    # Seconds the firmware waits after an SEI record's ack before raising the next SEI
    # (firmware.SEI_SETTLE explains why). A target whose OS cannot be interrupted in the
    # middle of a handler by firmware writes (the sim) needs none.
    sei_settle_default: ClassVar[float] = 0.001

    ## @name lifecycle
    @classmethod
    @abc.abstractmethod
    def open(cls, board: Board, *, sim: dict[str, Any] | None = None, url: str | None = None) -> Target:
        """The backend for `board`. sim: the sim OS model's options (backends with
        Cap.OS_MODEL); url: an agent board's channel instead of target.url. A backend
        ignores what is not its own."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the target (stop a simulation, close a channel)."""

    def reset(self) -> None:
        """Bring the target back to a booted, idle state (sim: reboot the OS model)."""
        raise NotImplementedError

    # False when reset() replaces the machine's memory (a new QEMU process): what was
    # posted before is gone unread, not consumed, however the fresh memory looks.
    keeps_memory_on_reset: ClassVar[bool] = True

    def replaced(self) -> str | None:
        """Why the memory this target posts into is no longer the machine's (a guest
        stopped, or restarted outside this session), or None. The firmware then ends what
        was posted there, reading the old memory one last time where it still can, and
        calls reattach()."""
        return None

    def reattach(self) -> None:
        """Attach to the machine as it is now (UnreachableError when there is none). Only
        called after replaced() gave a reason, which a target that overrides neither never does."""
        raise NotImplementedError

    def notify_kind_refusal(self, kind: str) -> str | None:
        """Why this target can never raise notifications of `kind` (a --notify naming a kind
        the board has no source for), when it knows better than "no such source"; else None."""
        return None

    def consumes_in_notify(self, notify: str) -> bool:
        """True when the OS reads, handles and acks a record of a `notify` source before
        notify() returns (the sim with no OS delay, but not a polled source): each injection then ends before the next starts, so the
        firmware may accept a burst at once (FirmwareModel.submit_many)."""
        return False

    def down_reason(self) -> str | None:
        """Why no notification can reach the OS now, when the target can see it without
        asking the machine (a qemu guest that stopped or panicked), else None. Firmware
        then refuses injections at once instead of queueing them behind a held source.
        Real firmware cannot tell an OS that panicked: targets modelling one answer None."""
        return None

    ## @name memory (addresses are physical; refused outside the board's windows)
    @abc.abstractmethod
    def read(self, addr: int, length: int) -> bytes: ...

    @abc.abstractmethod
    def read_reg(self, addr: int, width_bits: int) -> int: ...

    @abc.abstractmethod
    def write_reg(self, addr: int, width_bits: int, value: int) -> None: ...

    @abc.abstractmethod
    def post(self, source: Source, record: bytes) -> None:
        """Ordered commit of `record` into the source's block (block_status last), only into
        a free block: block_status 0 and, for GHESv2, the Read Ack register showing the OS's
        ack of the last record (re-armed by the post). Otherwise RefusedError saying what
        holds the block, with nothing written."""

    def consumed(self, source: Source) -> bool:
        """Has the OS released the source's last record? GHESv2: its Read Ack write shows;
        GHES v1: block_status is 0 again. (Targets with local memory answer in one C call.)"""
        ra = source.read_ack
        if ra:
            return bool(lib.fw_ack_is_acked(ack_reg(source), self.read_reg(ra.address, ra.width)))
        return self.read_reg(source.block, 32) == 0

    def dropped(self, source: Source) -> str | None:
        """Called once the OS has released the source's last record: why the OS threw it
        away unprocessed (Linux's duplicate cache on the SEA/SDEI/SEI path acks a repeat,
        then prints nothing and does no memory_failure), or None. Only a target that sees
        inside the OS (the sim) can tell; the others answer None."""
        return None

    @abc.abstractmethod
    def withdraw(self, source: Source) -> None:
        """Make the block's block_status 0 again (a post whose notification failed)."""

    ## @name ambiguous outcomes (targets behind a channel; post/notify/withdraw raise
    ## OutcomeUnknown when a request may or may not have executed)
    def resolve(self, source: Source, budget: float) -> str | RefusedError | None:
        """What became of the request that raised OutcomeUnknown, asking the target for up
        to `budget` seconds: None (still no answer), "done" (it executed), a RefusedError
        (it was refused: nothing happened), or "memory" (the target no longer knows: read
        its memory). A target whose requests cannot be lost never raises OutcomeUnknown."""
        return "memory"

    def read_back(self, source: Source, record: bytes) -> dict[str, Any]:
        """The source's state read from the target's memory (no side effect): block_status,
        Read Ack, `ours` (the block's bytes after block_status are `record`'s: the OS clears
        only block_status when it consumes a record, so a record that was written stays
        recognisable after it was consumed) and `pending` (the OS has not released the
        block: GHESv2, its Read Ack does not show the ack; GHES v1, block_status is set)."""
        status = self.read_reg(source.block, 32)
        out = {"block_status": status}
        ra = source.read_ack
        if ra:
            v = self.read_reg(ra.address, ra.width)
            out["read_ack"] = v
            released = bool(lib.fw_ack_is_acked(ack_reg(source), v))
        else:
            released = status == 0
        out["pending"] = not released
        out["ours"] = len(record) <= 4 or self.read(source.block + 4, len(record) - 4) == record[4:]
        return out

    ## @name notifications
    @abc.abstractmethod
    def notify_refusal(self, source: Source, pe: int) -> str | None:
        """Why raising the source's notification on `pe` would be refused now, or None."""

    @abc.abstractmethod
    def notify(self, source: Source, pe: int) -> None:
        """Raise the source's notification on PE index `pe`; RefusedError with the reason."""

    ## @name observation
    @abc.abstractmethod
    def wait(self, timeout: float) -> None:
        """Block until the target may have changed something the firmware watches (an ack,
        a cleared block) or `timeout` seconds pass."""

    def os_log(self, since: int = 0) -> tuple[list[str], int]:
        """OS log lines after mark `since`, and the new mark (sim: the OS model's log)."""
        return [], since

    def os_state(self) -> dict[str, Any]:
        """What is known about the OS (sim: up/down, panics); {} when unknown."""
        return {}

    def status(self) -> dict[str, Any]:
        return {}
