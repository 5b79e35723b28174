"""QEMU arm64 `virt` running a real Linux kernel (boards with `target.kind = "qemu"`).

    template board (qemu-virt.toml) ──> guest (fwemu.qemu.launcher): attach, or boot one
    guest RAM file ──> discovery (fwemu.qemu.acpi): RSDP → XSDT → HEST → ESA → block, Read Ack
                  ──> `self.board`: the template with the DISCOVERED sources filled in

post    the C core's ordered commit straight into guest RAM (a LocalMemory window over the
        RAM file, only the pages holding the discovered registers and blocks), after arming
        the Read Ack register as QEMU does (preserve ~1, write 1: firmware writes 0, the OS 1).
        A GPIO/HED source is the exception: QEMU's own `inject-ghes-v2-error` writes its block
        (there is no way to raise the GED event without it), so post() keeps the record and
        notify() hands it to QMP.
notify  SEA: the guest's shell reads an unassigned physical address (busybox devmem), which
        TCG turns into a synchronous external abort; Linux runs do_sea → ghes_notify_sea.
        When GHES claims the abort the kernel returns to the load, which runs again: a
        second abort, with whatever is in the block THEN. So one devmem consumes every record
        posted before it exits, and "Bus error" only ends it when the block is empty. One
        record per abort therefore needs pacing: a SEA record is posted only once the last
        devmem has exited (its end marker is on the console) or can no longer load (below).
        Each devmem is guarded by a deadline in guest time (/proc/uptime, read by shell
        builtins): typed into a stalled guest, it never loads after ABORT_WINDOW seconds,
        so a notification that timed out cannot fire later and consume its record.
        GPIO (HED): QMP inject-ghes-v2-error, on a QEMU that has it (>= 10.2); the QMP
        connection is opened at post(), so notify() is the one command that raises it.
os_log  the kernel's lines from the serial console (printk timestamp removed).
os_state up / down, and the panic line when the kernel panicked (QEMU exits: -no-reboot).
"""

from __future__ import annotations

import base64
import os
import re
import time
from typing import Any

from ..board import Board, Source
from ..errors import BlockBusyError, RefusedError, UnreachableError, UsageError
from ..memory import LocalMemory
from ..qemu import acpi
from ..qemu.console import Console, kernel_lines
from ..qemu.launcher import RAM_BASE, Guest
from ..qemu.qmp import Qmp, QmpError
from ..notification import HED_KINDS, platform_refusal
from .base import Cap, Target

DEFAULT_ABORT_ADDRESS = 0x0B000000   # unassigned in the virt memory map (between the
                                     # virtio-mmio transports and the platform bus)
SETTLE_QUIET = 0.5                   # console quiet this long = the kernel finished printing
ABORT_WINDOW = 1.5                   # a typed devmem loads within this (guest time) or never
ABORT_GRACE = 1.0                    # + the fork/exec between the guard and the load, + the
                                     # kernel's retry of a claimed load: harmless after both
DEAD_CLIENT_WAIT = 3.0               # how long to wait for QEMU to drop a console client that left


def _autostart_default() -> bool:
    return os.environ.get("FWEMU_QEMU_AUTOSTART", "").lower() in ("1", "yes", "true")


class QemuTarget(Target):
    """Target backend for a QEMU virt guest. Options: run_dir (the guest's run directory,
    default $FWEMU_QEMU_RUN or /tmp/fwemu-qemu-UID), start (boot a guest when none is
    running, and stop it at close; default $FWEMU_QEMU_AUTOSTART), boot_timeout,
    abort_address (the PA the guest reads to take a SEA; default 0x0b000000 or
    $FWEMU_QEMU_ABORT_ADDR)."""

    def __init__(self, board: Board, *, run_dir: str | None = None, start: bool | None = None,
                 boot_timeout: float = 120.0, abort_address: int | None = None):
        if board.target.kind != "qemu":
            raise UsageError("target.kind", f"board {board.name!r} is not a qemu board")
        self.template = board
        ram = next((w for w in board.windows if w.name == "ram"), None)
        self.ram_base = ram.base if ram else RAM_BASE
        self.ram_size = ram.size if ram else 1 << 30
        self.guest = Guest(run_dir, ram_size=self.ram_size, smp=board.pes.count,
                           ram_base=self.ram_base)
        env_abort = os.environ.get("FWEMU_QEMU_ABORT_ADDR")
        self.abort_address = abort_address if abort_address is not None else \
            int(env_abort, 0) if env_abort else DEFAULT_ABORT_ADDRESS
        self.boot_timeout = boot_timeout
        self.owned = False
        self.console: Console | None = None
        self.mem: LocalMemory | None = None
        self._pending_qmp: dict[int, bytes] = {}
        self._qmp_open: dict[int, Qmp] = {}    # GPIO: connected at post(), used by notify()
        env_window = os.environ.get("FWEMU_QEMU_ABORT_WINDOW")
        self.abort_window = float(env_window) if env_window else ABORT_WINDOW
        self._sea_cmd: tuple[str, int, float] | None = None   # last devmem: marker, log offset, harmless at
        self._clock_off: float | None = None   # host monotonic - guest uptime (an upper bound)
        self.sea_paced_s = 0.0                 # total time posts waited for the previous devmem
        self._dirty = False            # notified since the console last settled
        self.started_info: dict[str, Any] | None = None
        if not self.guest.alive():
            if start if start is not None else _autostart_default():
                self.started_info = self.guest.start(timeout=boot_timeout)
                self.owned = True
            else:
                raise UnreachableError(
                    f"no qemu-virt guest is running in {self.guest.run_dir}: start one with "
                    "`fwemu qemu up` (or set FWEMU_QEMU_AUTOSTART=1)")
        self._attach()

    # -- attaching ------------------------------------------------------------------------
    def _attach(self) -> None:
        info = self.guest.info()
        if not info.get("serial_port"):
            raise UnreachableError(f"{self.guest.run_dir}/guest.json does not describe a running guest")
        self.info = info
        holder = self.guest.console_client()
        if holder and self.guest.console_client_gone(holder):
            # the client left, QEMU has not noticed yet (it does when the guest reads or prints)
            deadline = time.monotonic() + DEAD_CLIENT_WAIT
            while holder and time.monotonic() < deadline:
                time.sleep(0.1)
                holder = self.guest.console_client()
            if holder:
                raise UnreachableError(
                    f"the guest's console is still held for a client that has gone ({holder}: "
                    "its connection is closed on its side); QEMU lets go when the guest next "
                    f"reads its console or prints, and it has done neither for {DEAD_CLIENT_WAIT:g} s: "
                    "the guest looks stalled (a command that client typed may still be queued: "
                    "fwemu's SEA commands expire and will not load)")
        if holder:
            raise UnreachableError(
                f"the guest's console already has a client ({holder}; QEMU serves one at a "
                "time): close `fwemu qemu console` or the other fwemu using this guest")
        self.console = Console(info["serial_port"], self.guest.serial_log).connect()
        self._calibrate_clock(self.console)
        with open(self.guest.serial_log, "rb") as fh:
            boot_log = fh.read().decode(errors="replace")
        with acpi.GuestRam(info["ram_file"], info["ram_base"], info["ram_size"]) as ram:
            self.discovery = acpi.discover(ram, boot_log)
        board = acpi.board_for(self.template, self.discovery, info["ram_file"],
                               info["ram_base"], info["ram_size"])
        self.discovery.notes = [n for n in self.discovery.notes if not n.startswith("HEST header")]
        if getattr(self, "board", None) is not None and \
                [s.to_dict() for s in board.sources] != [s.to_dict() for s in self.board.sources]:
            raise UnreachableError("the restarted guest's HEST differs from the one this session "
                                   "was built on: open a new session")
        self.board = board
        self.mem = LocalMemory(board.windows)
        self.qmp_inject = bool(info.get("qmp_inject"))

    def _calibrate_clock(self, console: Console) -> None:
        """Host monotonic minus guest uptime, an upper bound (the uptime was read before the
        marker came back), so a deadline computed from it is never later in the guest than
        intended. Guest time follows host time under TCG, also while the guest is stalled."""
        out = console.run("read u _ </proc/uptime; echo U=$u", timeout=20)
        t_after = time.monotonic()
        m = re.search(r"U=(\d+)\.(\d\d)", out)
        if not m:
            raise UnreachableError(f"could not read the guest's uptime from its console: {out!r}")
        self._clock_off = t_after - (int(m.group(1)) + int(m.group(2)) / 100)
        self._sea_cmd = None

    def _close_qmp(self, source_id: int | None = None) -> None:
        for sid in [source_id] if source_id is not None else list(self._qmp_open):
            q = self._qmp_open.pop(sid, None)
            if q is not None:
                try:
                    q.close()
                except OSError:
                    pass

    def _detach(self) -> None:
        self._close_qmp()
        if self.console is not None:
            self.console.close()
            self.console = None
        if self.mem is not None:
            self.mem.close()
            self.mem = None

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        self._detach()
        if self.owned:
            self.guest.stop()

    keeps_memory_on_reset = False      # reset() boots a new QEMU on a fresh RAM file
    caps = frozenset({Cap.FOLLOWS_MACHINE, Cap.OS_LOG, Cap.RESET})

    @classmethod
    def open(cls, board: Board, *, sim: dict[str, Any] | None = None, url: str | None = None) -> QemuTarget:
        return cls(board)

    def replaced(self) -> str | None:
        """Another guest runs in this run directory than the one this target attached to
        (`fwemu qemu down` / `up` while a daemon holds this target). A guest that is only
        down (stopped, or exited after a panic) is not replaced: notify_refusal says so, and
        what was posted in it stays held until a guest runs again."""
        if not self.guest.alive():
            return None
        pid, old = self.guest.pid(), self.info.get("pid")
        if self.mem is None:
            return f"the guest (QEMU pid {pid}) was not attached"
        if pid == old:
            return None
        return f"the guest was restarted outside this session (QEMU pid {old}, now {pid})"

    def reattach(self) -> None:
        self._detach()
        if not self.guest.alive():
            raise UnreachableError(f"no qemu-virt guest is running in {self.guest.run_dir}: start "
                                   "one with `fwemu qemu up`")
        self._attach_new()

    def _attach_new(self) -> None:
        """Attach to a guest booted since the last attach: nothing of the old one carries over."""
        self._pending_qmp.clear()
        self._dirty = False
        self._panic_scan = (0, None)
        self._attach()

    def reset(self) -> None:
        """Restart the guest (a new boot: fresh RAM, Read Ack registers back to 1) and attach
        to it again; the sources must be the same ones."""
        image = self.guest.booted_image()     # the same QEMU/firmware/kernel, not $FWEMU_QEMU now
        self._detach()
        self.guest.stop()
        self.started_info = self.guest.start(timeout=self.boot_timeout, image=image)
        self._attach_new()

    # -- memory -------------------------------------------------------------------------
    def _memory(self) -> LocalMemory:
        if self.mem is None:
            raise UnreachableError("the qemu target is closed")
        return self.mem

    def read(self, addr: int, length: int) -> bytes:
        return self._memory().read(addr, length)

    def read_reg(self, addr: int, width_bits: int) -> int:
        return self._memory().read_reg(addr, width_bits)

    def write_reg(self, addr: int, width_bits: int, value: int) -> None:
        self._memory().write_reg(addr, width_bits, value)

    def _via_qmp(self, source: Source) -> bool:
        return source.notify in HED_KINDS

    def post(self, source: Source, record: bytes) -> None:
        if self._via_qmp(source):
            # QEMU's inject-ghes-v2-error writes the block and arms Read Ack itself.
            if len(record) > source.block_length:
                raise RefusedError(f"source {source.id}: {len(record)} bytes exceed its "
                                   f"{source.block_length}-byte block")
            why = self._memory().source_free(source)
            if why:
                raise BlockBusyError(why)
            self._close_qmp(source.id)
            self._qmp_open[source.id] = Qmp(self.guest.qmp_path)
            self._pending_qmp[source.id] = record
            return
        mem = self._memory()
        if source.notify == "sea":
            self._pace_sea()
        mem.post_to_source(source, record)

    def _pace_sea(self) -> None:
        """Wait until the last devmem can take no more aborts: its end marker is on the
        console (it exited), or its guard deadline plus ABORT_GRACE has passed (it never
        loaded, or its loads are over). Until then a record posted now would be consumed by
        that devmem's retried load, not by the abort of its own notification."""
        cmd, self._sea_cmd = self._sea_cmd, None
        if cmd is None or self.console is None:
            return
        marker, pos, harmless_at = cmd
        done = re.compile("^" + re.escape(marker) + "$", re.M)
        t0 = time.monotonic()
        while time.monotonic() < harmless_at and self.guest.alive():
            if done.search(self.console.read_log(pos)[0]):
                break
            time.sleep(0.002)
        self.sea_paced_s += time.monotonic() - t0

    def consumed(self, source: Source) -> bool:
        return self._memory().source_consumed(source)

    def withdraw(self, source: Source) -> None:
        """block_status back to 0 and Read Ack back to the acked state: also how a source
        wedged by a block_status-0 record (Linux never acks it) is made usable again."""
        self._close_qmp(source.id)
        if self._pending_qmp.pop(source.id, None) is not None:
            return
        self._memory().withdraw_source(source)

    # -- notifications ------------------------------------------------------------------
    def down_reason(self) -> str | None:
        if not self.guest.alive():
            why = self.guest.exit_reason()
            return "the guest is down" + (f" (kernel panic: {why}; `fwemu reset` reboots it)" if why else
                                          " (QEMU is not running; `fwemu qemu up` starts a guest)")
        panic = self._panic_since_boot()
        if panic:   # QEMU has not exited (yet): the kernel will consume nothing
            return f"the guest is down (kernel panic: {panic}; QEMU is still running)"
        return None

    def notify_refusal(self, source: Source, pe: int) -> str | None:
        reason = platform_refusal(source.notify, pe, self.board.pes.count, "the guest")
        if reason:
            return reason
        down = self.down_reason()
        if down:
            return down
        if source.notify == "sea":
            if self.console is None or not self.console.connected:
                return "the guest console is not connected (needed to make the guest take a SEA)"
            return None
        if self._via_qmp(source):
            if not self.qmp_inject:
                return (f"this QEMU ({self.info.get('qemu_version')}) cannot raise a {source.notify.upper()} "
                        "notification: its QMP has no inject-ghes-v2-error (QEMU >= 10.2 has it; "
                        "point FWEMU_QEMU at one)")
            return None
        return f"fwemu cannot raise a {source.notify} notification on QEMU virt"

    def notify_kind_refusal(self, kind: str) -> str | None:
        """Why this guest can never raise notifications of `kind` (for a --notify that names
        a kind the discovered board has no source for), or None."""
        if any(s.notify == kind for s in self.board.sources):
            return None
        if kind in HED_KINDS and not self.qmp_inject:
            return (f"this QEMU ({self.info.get('qemu_version')}) cannot raise {kind.upper()} "
                    "notifications: its HEST has no such source and its QMP has no "
                    "inject-ghes-v2-error (QEMU >= 10.2 has both; point FWEMU_QEMU at one)")
        kinds = ", ".join(sorted({s.notify for s in self.board.sources}))
        return f"the guest's HEST has no {kind} source (it has: {kinds})"

    def notify(self, source: Source, pe: int) -> None:
        reason = self.notify_refusal(source, pe)
        if reason:
            self._pending_qmp.pop(source.id, None)
            self._close_qmp(source.id)
            raise RefusedError(reason)
        if source.notify == "sea":
            console, clock_off = self.console, self._clock_off
            if console is None or clock_off is None:   # notify_refusal: the console is connected
                raise UnreachableError("the qemu target is closed")
            load = f"devmem {self.abort_address:#x} 32"
            if self.board.pes.count > 1:
                load = f"taskset -c {pe} {load}"
            t_typed = time.monotonic()
            # guest uptime in centiseconds after which this command never loads
            deadline_cs = int((t_typed - clock_off + self.abort_window) * 100)
            late = f"__FWEMU_LATE{os.getpid()}_{deadline_cs}"
            cmd = (f"read u _ </proc/uptime; if [ ${{u%.*}}${{u#*.}} -lt {deadline_cs} ]; "
                   f"then {load}; else echo {late[:4]}''{late[4:]}; fi")
            marker, pos = console.start_command(cmd)
            self._sea_cmd = (marker, pos, t_typed + self.abort_window + ABORT_GRACE)
        else:
            record = self._pending_qmp.pop(source.id, None)
            q = self._qmp_open.pop(source.id, None)
            if record is None or q is None:
                if q is not None:
                    q.close()
                raise RefusedError(f"source {source.id}: nothing posted to hand to QEMU")
            try:
                q.execute("inject-ghes-v2-error", cper=base64.b64encode(record).decode())
            except QmpError as exc:
                raise RefusedError(f"QEMU refused the record: {exc.desc}") from None
            finally:
                q.close()
        self._dirty = True

    # -- observation --------------------------------------------------------------------
    def wait(self, timeout: float) -> None:
        # The OS acks by writing guest RAM: nothing wakes us, so poll finely.
        time.sleep(max(0.0, min(timeout, 0.001)))

    def settle(self, timeout: float = 10.0, quiet: float = SETTLE_QUIET) -> None:
        """Wait until the guest has finished what the last notification started: the shell
        ran everything typed so far, then the console stayed quiet for `quiet` seconds."""
        if not self._dirty:
            return
        deadline = time.monotonic() + timeout
        if self.guest.alive() and self.console is not None and self.console.connected:
            self.console.sync(timeout)
        size, since = self.console.log_size() if self.console else 0, time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.02)
            now = self.console.log_size() if self.console else 0
            if now != size:
                size, since = now, time.monotonic()
        self._dirty = False

    def kernel_log(self, since: int = 0) -> tuple[list[tuple[float, str]], int]:
        """(printk timestamp, line) for each kernel line after byte offset `since`, and the
        new offset. Settles first when a notification is outstanding."""
        self.settle()
        text, mark = self.console.read_log(since) if self.console else ("", since)
        return kernel_lines(text), mark

    def os_log(self, since: int = 0) -> tuple[list[str], int]:
        lines, mark = self.kernel_log(since)
        return [text for _t, text in lines], mark

    def _panic_since_boot(self) -> str | None:
        """The kernel's panic line in this boot's console log, scanning only what was added
        since the last call (the log is per boot: QEMU starts it afresh)."""
        off, found = getattr(self, "_panic_scan", (0, None))
        try:
            with open(self.guest.serial_log, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size < off:            # a new boot's log
                    off, found = 0, None
                fh.seek(max(0, off - 200))   # a panic line cut by the last read
                data = fh.read().decode(errors="replace")
        except OSError:
            return found
        for m in re.finditer(r"Kernel panic - not syncing: ([^\r\n]*)\r?\n", data):
            found = m.group(1).strip()
        self._panic_scan = (size, found)
        return found

    def os_state(self) -> dict[str, Any]:
        alive = self.guest.alive()
        panic = self.guest.exit_reason() if not alive else self._panic_since_boot()
        state: dict[str, Any] = {"up": alive and panic is None, "panic": panic, "qemu_running": alive,
                                 "pid": self.info.get("pid"), "kernel": self.info.get("kernel_release")}
        if not alive and panic is None:
            state["down"] = "QEMU is not running"
        return state

    def status(self) -> dict[str, Any]:
        d = self.discovery
        return {"kind": "qemu", "run_dir": self.guest.run_dir, "qemu": self.info.get("qemu"),
                "qemu_version": self.info.get("qemu_version"), "pid": self.info.get("pid"),
                "boot_s": self.info.get("boot_s"), "serial_port": self.info.get("serial_port"),
                "gpio_injection": self.qmp_inject, "abort_address": self.abort_address,
                "abort_window_s": self.abort_window, "sea_paced_s": round(self.sea_paced_s, 3),
                "discovery": d.to_dict() if d else None, "os": self.os_state()}

    # -- helpers for tests and `fwemu qemu` ---------------------------------------------------
    def run(self, command: str, timeout: float = 20.0) -> str:
        """Run a shell command in the guest (after settling) and return its output."""
        self.settle()
        if self.console is None:
            raise UnreachableError("the qemu target is closed")
        return self.console.run(command, timeout)

    def log_mark(self) -> int:
        return self.console.log_size() if self.console else 0


def sea_sources(board: Board) -> list[Source]:
    return [s for s in board.sources if s.notify == "sea"]


__all__ = ["QemuTarget", "sea_sources", "DEFAULT_ABORT_ADDRESS"]
