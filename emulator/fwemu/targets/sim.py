"""The built-in simulated board: a platform (memory windows in shared memory, PEs, the SDEI
dispatcher, interrupt delivery) with the Linux model (linux_model.py) as its OS.

The firmware model drives it through the same Target interface as a real board. The
memory is mapped locally, and posts and Read Ack arming run in the C core exactly as a
firmware port would run them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, ClassVar

from mypy_extensions import mypyc_attr

from .._corelib import lib
from ..board import Board, Source
from ..errors import RefusedError
from ..memory import LocalMemory, ack_reg  # noqa: F401 - ack_reg re-exported for older imports
from ..records import kernel_profile
from ..sdei import SdeiDispatcher, SdeiError
from ..notification import platform_refusal
from .base import Cap, Target
from .linux_model import LinuxModel, OsKnobs


DROPPED_DUPLICATE = ("the OS acked it but dropped it as a duplicate: the same bytes as a record it "
                     "handled less than 10 s ago (Linux's estatus cache, SEA/SDEI/SEI path): "
                     "nothing printed, no memory_failure")


class SimPlatform:
    """Memory, PEs, SDEI and interrupt delivery; the OS attaches as `os`."""

    def __init__(self, board: Board, masked_pes: Iterable[int] = ()):
        self.board = board
        self.mem = LocalMemory(board.windows)
        self.read, self.read_reg, self.write_reg = self.mem.read, self.mem.read_reg, self.mem.write_reg
        self.masked_pes = set(masked_pes)
        self.reset_sdei()
        self.sei_owners: dict[int, int] = {}   # source id → PE the firmware raised SEI on
        self.os: LinuxModel | None = None
        self.power_on()

    def reset_sdei(self) -> None:
        """The SDEI dispatcher as firmware sets it up at boot: the board's events defined,
        nothing registered, every PE masked."""
        self.sdei = SdeiDispatcher(self.board.pes.count)
        for ev in self.board.sdei_events:
            self.sdei.define(ev.number, ev.critical, ev.shared, ev.binding == "explicit")

    def power_on(self) -> None:
        """Firmware's boot-time setup of every source: ESA → block, block zeroed, Read Ack
        in the acked state (QEMU starts its registers at 1 for the same reason)."""
        for src in self.board.sources:
            self.mem.write(src.block, bytes(src.block_length))
            self.mem.write_reg(src.esa, 64, src.block)
            if src.read_ack:
                reg = ack_reg(src)
                self.mem.write_reg(src.read_ack.address, src.read_ack.width,
                                   lib.fw_ack_os_value(reg, 0))

    # memory as the OS sees it: read(addr, length), read_reg(addr, width), write_reg(addr,
    # width, value) are the memory's own methods (bound in __init__: no extra call per access)

    def sdei_complete(self, event: int, pe: int) -> None:
        try:
            self.sdei.call("complete", event, pe)
        except SdeiError:
            pass

    def sei_owner(self, source_id: int) -> int | None:
        return self.sei_owners.get(source_id)


@mypyc_attr(allow_interpreted_subclasses=True)   # a backend of one's own may build on the sim
class SimTarget(Target):
    """Target backend for boards with `target.kind = "sim"`."""

    sei_settle_default: ClassVar[float] = 0.0   # posts never land inside an OS handler (see post())
    caps: ClassVar[frozenset[str]] = frozenset({Cap.MACHINE_PER_SESSION, Cap.OS_MODEL, Cap.SEES_DROPS,
                                                Cap.OS_LOG, Cap.RESET})

    def __init__(self, board: Board, knobs: OsKnobs | None = None, masked_pes: Iterable[int] = ()):
        self.board = board
        self._platform_refusals: dict[tuple[str, int], str | None] = {}
        self._cv = threading.Condition()
        self._generation = 0
        self._waiters = 0
        self.platform = SimPlatform(board, masked_pes)
        self.os = LinuxModel(board, self.platform, self._changed, knobs)
        self.platform.os = self.os

    @classmethod
    def open(cls, board: Board, *, sim: dict[str, Any] | None = None, url: str | None = None) -> SimTarget:
        return cls.from_options(board, sim or {})

    @classmethod
    def from_options(cls, board: Board, sim: dict[str, Any]) -> SimTarget:
        """The session's sim options (the CLI's and the daemon's OS-model knobs, by name)
        as this backend's own types."""
        knobs = OsKnobs(delay=sim.get("delay", 0.0), deaf=sim.get("deaf", False),
                        sei_mode=sim.get("sei_mode", "walk"), ratelimit=sim.get("ratelimit", True),
                        kernel=kernel_profile.get(sim.get("kernel")))
        return cls(board, knobs, sim.get("masked_pes", ()))

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        self.os.stop()
        self.platform.mem.close()

    def reset(self) -> None:
        """Reboot the OS (memory and firmware state survive, as on a warm reset)."""
        with self.os.lock:
            self.os.work.clear()
            self.platform.reset_sdei()
            self.os.boot()
        self._changed()

    # -- memory ---------------------------------------------------------------------------
    def read(self, addr: int, length: int) -> bytes:
        return self.platform.mem.read(addr, length)

    def read_reg(self, addr: int, width_bits: int) -> int:
        return self.platform.mem.read_reg(addr, width_bits)

    def write_reg(self, addr: int, width_bits: int, value: int) -> None:
        self.platform.mem.write_reg(addr, width_bits, value)

    def post(self, source: Source, record: bytes) -> None:
        # Firmware writes land between OS handler invocations, never inside one: the sim's
        # OS finishes each handler (e.g. an SEI walk) well within the firmware's SEI settle
        # time, as a real handler of microseconds does (firmware.SEI_SETTLE).
        with self.os.lock:
            self.os.dropped.pop(source.id, None)
            self.platform.mem.post_to_source(source, record)

    def consumed(self, source: Source) -> bool:
        return self.platform.mem.source_consumed(source)

    def dropped(self, source: Source) -> str | None:
        why = self.os.dropped.get(source.id)
        if not why:
            return None
        if why is True:
            return DROPPED_DUPLICATE
        return (f"the OS acked it but threw it away as invalid ({why.split(': ', 1)[-1]}): nothing printed, "
                "no memory_failure")

    def withdraw(self, source: Source) -> None:
        self.platform.mem.withdraw_source(source)

    # -- notifications ------------------------------------------------------------------
    def consumes_in_notify(self, notify: str) -> bool:
        knobs = self.os.knobs
        return notify != "polled" and knobs.delay <= 0 and not knobs.deaf

    def _platform_refusal(self, source: Source, pe: int) -> str | None:
        key = (source.notify, pe)     # the answer depends on nothing else: asked twice per injection
        try:
            return self._platform_refusals[key]
        except KeyError:
            why = self._platform_refusals[key] = platform_refusal(source.notify, pe, self.board.pes.count)
            return why

    def notify_refusal(self, source: Source, pe: int) -> str | None:
        reason = self._platform_refusal(source, pe)
        if reason is None and source.notify == "sdei":
            with self.os.lock:
                return self.platform.sdei.refusal(source.vector, pe)
        return reason

    def notify(self, source: Source, pe: int) -> None:
        reason = self._platform_refusal(source, pe)   # SDEI's own refusal comes from dispatch()
        if reason:
            raise RefusedError(reason)
        kind = source.notify
        if kind == "polled":
            return   # the OS finds it on its next poll
        if kind == "sdei":
            with self.os.lock:
                try:
                    self.platform.sdei.dispatch(source.vector, pe)
                except SdeiError as exc:
                    raise RefusedError(f"SDEI dispatch refused: {exc.reason}") from None
            self.os.deliver("sdei", pe, source.vector)
        elif kind == "sei":
            self.platform.sei_owners[source.id] = pe
            self.os.deliver("sei", pe)
        elif kind == "sea":
            self.os.deliver("sea", pe)
        elif kind == "external":
            self.os.deliver("irq", pe, source.vector)
        else:   # sci / gpio / gsiv: an ACPI Notify on the HED device
            self.os.deliver("hed", pe, source.vector)

    # -- observation --------------------------------------------------------------------
    def _changed(self) -> None:
        # The OS calls this per handler: the lock is taken only when someone waits. A waiter
        # counts itself in (under the lock) before wait_for checks the generation, and we
        # bump the generation before looking at the count, so one of us sees the other.
        self._generation += 1
        if self._waiters:
            with self._cv:
                self._cv.notify_all()

    def wait(self, timeout: float) -> None:
        with self._cv:
            gen = self._generation
            self._waiters += 1
            try:
                self._cv.wait_for(lambda: self._generation != gen, timeout)
            finally:
                self._waiters -= 1

    def os_log(self, since: int = 0) -> tuple[list[str], int]:
        return self.os.lines_since(since)

    def os_state(self) -> dict[str, Any]:
        return self.os.state()

    def status(self) -> dict[str, Any]:
        with self.os.lock:
            return {"kind": "sim", "os": self.os.state(), "sdei": self.platform.sdei.snapshot()}
