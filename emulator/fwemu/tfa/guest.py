"""Boot and stop the tfa-qemu machine: QEMU virt with secure=on, TF-A (+ the fwemu agent)
and edk2 as -bios, the fetch-qemu-linux kernel, and an initrd carrying the board's HEST and
an SDEI table.

The run directory is the one holding the board's console log (`target.console`,
/tmp/fwemu-tfa-UID by default): guest.json, qemu.pid, qmp.sock, serial.log (the Non-secure
console: TF-A's boot log, UEFI, the kernel), initrd.img, tables/*.aml. The agent's UART is
a loopback TCP server on the port of the board's `target.url`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import replace
from typing import Any

from ..board import Board, board_from_dict
from ..errors import UnreachableError, UsageError
from ..qemu.image import GuestImage, find_image
from ..qemu.launcher import Guest, boot_paths
from .tables import write_initrd

MACHINE = "virt,secure=on,gic-version=3,acpi=on"
CPU = "max,pauth-impdef=on"
RAM = 1 << 30                      # the agent's GHES window is the top 64 KiB of 1 GiB
APPEND = "console=ttyAMA0 acpi=force ignore_loglevel panic=-1 rcupdate.rcu_cpu_stall_suppress=1"
BUILD_HINT = "run scripts/build-tfa-qemu.sh (builds TF-A with the fwemu agent and edk2)"


def firmware_dir() -> str:
    if os.environ.get("FWEMU_TFA_FIRMWARE"):
        return os.environ["FWEMU_TFA_FIRMWARE"]
    base = os.environ.get("FWEMU_TFA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "fwemu-tfa")
    return os.path.join(base, "current")


def firmware_info() -> dict[str, Any]:
    try:
        with open(os.path.join(firmware_dir(), "build.json")) as fh:
            info: dict[str, Any] = json.load(fh)
            return info
    except (OSError, ValueError):
        return {}


def agent_port(board: Board) -> int:
    m = re.fullmatch(r"socket://(127\.0\.0\.1|localhost):(\d+)/?", board.target.url or "")
    if not m:
        raise UsageError("target.url", f"the tfa-qemu machine serves its agent UART on a loopback "
                         f"port: expected socket://127.0.0.1:PORT, got {board.target.url!r}")
    return int(m.group(2))


class TfaGuest(Guest):
    """The tfa-qemu machine of one board (its console path fixes the run directory)."""

    def __init__(self, board: Board):
        console = board.target.console_path
        if not console:
            raise UsageError("target.console", f"board {board.name!r} names no console log, so "
                             "fwemu cannot tell where the tfa-qemu machine runs")
        super().__init__(os.path.dirname(console), ram_size=RAM, smp=board.pes.count)
        if os.path.basename(console) != "serial.log":
            raise UsageError("target.console", f"the tfa-qemu machine logs its console to "
                             f"<run dir>/serial.log, not {os.path.basename(console)}")
        self.board = board
        self.port = agent_port(board)

    def image(self) -> GuestImage:
        base = find_image()
        bios = os.path.join(firmware_dir(), "qemu_fw.bios")
        if not os.path.exists(bios):
            raise UnreachableError(f"no TF-A firmware in {firmware_dir()} ({BUILD_HINT})")
        initrd = None
        if base.initrd:
            os.makedirs(self.run_dir, exist_ok=True)
            initrd = self.path("initrd.img")
            tables = write_initrd(self.board, base.initrd, initrd)
            os.makedirs(self.path("tables"), exist_ok=True)
            for sig, data in tables.items():
                with open(self.path(f"tables/{sig}.aml"), "wb") as fh:
                    fh.write(data)
        return replace(base, bios=bios, initrd=initrd)

    def command(self, image: GuestImage, ram_file: str) -> list[str]:
        qemu, bios, kernel, initrd = boot_paths(image)
        return [
            qemu, "-M", MACHINE, "-cpu", CPU, "-smp", str(self.smp), "-m", f"{RAM >> 20}M",
            "-bios", bios, "-kernel", kernel, "-initrd", initrd,
            "-append", APPEND,
            "-nodefaults", "-display", "none", "-no-reboot", "-nic", "none",
            "-chardev", (f"socket,id=ser0,host=127.0.0.1,port=0,server=on,wait=off,nodelay=on,"
                         f"logfile={self.serial_log},logappend=off"),
            "-serial", "chardev:ser0",
            "-chardev", f"socket,id=ser1,host=127.0.0.1,port={self.port},server=on,wait=off,nodelay=on",
            "-serial", "chardev:ser1",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off", "-monitor", "none",
            "-pidfile", self.path("qemu.pid"), "-daemonize",
        ]


def private_board(run_dir: str, port: int, base: str = "tfa-qemu") -> Board:
    """The shipped tfa-qemu board with its machine moved to `run_dir` and its agent UART to
    loopback `port` (benchmarks and tests run their own machine beside a user's)."""
    from ..board import load_board

    d = load_board(base).to_dict()
    d["name"] = f"{base}-private"
    d["target"]["url"] = f"socket://127.0.0.1:{port}"
    d["target"]["console"] = os.path.join(os.path.abspath(run_dir), "serial.log")
    return board_from_dict(d)


def missing_prerequisites() -> list[str]:
    out = find_image().missing()
    if not os.path.exists(os.path.join(firmware_dir(), "qemu_fw.bios")):
        out.append(f"no TF-A firmware in {firmware_dir()} ({BUILD_HINT})")
    return out
