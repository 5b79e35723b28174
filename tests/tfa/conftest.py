"""Real firmware as the producer's host: the tfa-qemu machine (QEMU virt, secure=on, TF-A
2.12.1 with the fwemu agent in BL31, edk2, Debian's arm64 kernel), booted once for the
session in a private run directory on a free loopback port.

Prerequisites: scripts/fetch-qemu-linux.sh (QEMU, kernel, initramfs) and
scripts/build-tfa-qemu.sh (the firmware). Missing ones skip these tests, except with
FWEMU_REQUIRE_TFA=1 (CI), where they fail.
"""

from __future__ import annotations

import os
import socket
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "linux"))

REQUIRE = os.environ.get("FWEMU_REQUIRE_TFA") == "1"
REPORT: dict = {"boot_s": [], "latency_ms": {}, "diffs": {}, "notes": []}


def need_tfa() -> None:
    from fwemu.tfa.guest import missing_prerequisites

    missing = missing_prerequisites()
    if missing:
        msg = "tfa-qemu prerequisites missing: " + "; ".join(missing)
        if REQUIRE:
            pytest.fail(msg + " (FWEMU_REQUIRE_TFA=1: this is a failure)", pytrace=False)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def private_board(tmp: Path) -> Path:
    """tfa-qemu.toml with its agent port and console moved to this test session's own."""
    from fwemu.board import load_board

    shipped = load_board("tfa-qemu")
    text = (Path(__import__("fwemu").__file__).parent / "boards" / shipped.file).read_text()
    text = text.replace('url = "socket://127.0.0.1:5022"', f'url = "socket://127.0.0.1:{free_port()}"')
    text = text.replace('console = "/tmp/fwemu-tfa-{uid}/serial.log"', f'console = "{tmp}/serial.log"')
    text = text.replace('name = "tfa-qemu"', 'name = "tfa-qemu-test"')
    assert tomllib.loads(text)["target"]["console"] == f"{tmp}/serial.log"
    path = tmp / "tfa-qemu-test.toml"
    path.write_text(text)
    return path


class Machine:
    """The session's tfa-qemu machine: its board file, guest and the agent target."""

    def __init__(self, tmp: Path):
        from fwemu.board import load_board
        from fwemu.tfa.guest import TfaGuest

        self.board_path = private_board(tmp)
        self.board = load_board(str(self.board_path))
        self.guest = TfaGuest(self.board)
        self.target = None

    def up(self) -> None:
        """Boot; while the firmware is still booting (UEFI, early kernel), ask TF-A to
        dispatch an event: its PEs start masked, so the real dispatcher must refuse it."""
        import threading

        box: dict = {}

        def boot():
            try:
                box["info"] = self.guest.start(timeout=240)
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                box["error"] = exc

        t = threading.Thread(target=boot, daemon=True)
        t.start()
        self.early = self._probe_while_booting(t)
        t.join()
        if "error" in box:
            raise box["error"]
        REPORT["boot_s"].append(box["info"]["boot_s"])
        self.attach()

    def _probe_while_booting(self, boot_thread) -> dict:
        import time

        from fwemu.channel import AgentChannel
        from fwemu.channel import protocol as P

        ev = self.board.source(0).vector
        deadline = time.monotonic() + 60
        while boot_thread.is_alive() and time.monotonic() < deadline:
            try:
                ch = AgentChannel(self.board.target.url, retries=1, base_timeout=0.2)
            except Exception:  # noqa: BLE001 - QEMU not listening yet
                time.sleep(0.1)
                continue
            try:
                ch.hello()
                ready = self._ready_seen()
                state = ch.call(P.SDEI_STATE, 0, ev, check=False)
                dispatch = ch.call(P.SDEI, 0, ev, check=False)
                return {"ready_before": ready, "event": ev, "state": state, "dispatch": dispatch,
                        "ready_after": self._ready_seen()}
            except Exception:  # noqa: BLE001 - agent not up yet (BL1/BL2)
                time.sleep(0.1)
            finally:
                ch.close()
        return {}

    def _ready_seen(self) -> bool:
        try:
            return b"FWEMU-GUEST-READY" in open(self.guest.serial_log, "rb").read()
        except OSError:
            return False

    def attach(self) -> None:
        from fwemu.targets.agent import AgentTarget

        self.target = AgentTarget(self.board)

    def detach(self) -> None:
        self.target.close()
        self.target = None

    def down(self) -> None:
        if self.target is not None:
            self.target.close()
            self.target = None
        self.guest.stop()

    def page(self) -> int:
        """A page the guest's kernel has free right now (its /proc/kpageflags says BUDDY),
        never handed out before: memory_failure really offlines a page, and poisoning one
        the console shell uses kills the shell."""
        if not getattr(self, "_free", None):
            start = getattr(self, "_next_pfn", 0x60000)
            out = self.shell(f"dd if=/proc/kpageflags bs=8 skip={start} count=2048 2>/dev/null | "
                             "hexdump -v -e '2/4 \"%u \" \"\\n\"' | "
                             "awk '{ if (int($1 / 1024) % 2 == 1) print NR - 1 }' | head -n 256")
            self._free = [start + int(x) for x in out.split() if x.isdigit()]
            self._next_pfn = start + 2048
            assert self._free, f"no free page among PFNs {start:#x}+2048: {out!r}"
        return self._free.pop(0) << 12

    def shell(self, command: str, timeout: float = 20.0) -> str:
        from fwemu.qemu.console import Console

        con = Console(self.guest.info()["serial_port"], self.guest.serial_log).connect()
        try:
            return con.run(command, timeout)
        finally:
            con.close()


@pytest.fixture(scope="session")
def machine(tmp_path_factory):
    need_tfa()
    m = Machine(tmp_path_factory.mktemp("tfa-run"))
    m.up()
    try:
        yield m
    finally:
        m.down()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not (REPORT["boot_s"] or REPORT["latency_ms"] or REPORT["diffs"]):
        return
    tr = terminalreporter
    tr.section("tfa-qemu: real TF-A (fwemu agent in BL31) + real Linux")
    if REPORT["boot_s"]:
        tr.write_line("boot to ready (QEMU start -> init marker): "
                      + ", ".join(f"{b:.2f} s" for b in REPORT["boot_s"]))
    for kind, vals in REPORT["latency_ms"].items():
        v = sorted(vals)
        tr.write_line(f"inject->consumed ({kind}, {len(v)}): median {v[len(v) // 2]:.2f} ms, "
                      f"min {v[0]:.2f}, max {v[-1]:.2f}")
    for scenario, pairs in REPORT["diffs"].items():
        tr.write_line(f"sim vs real ({scenario}): " + ("identical" if not pairs else ""))
        for s, r, why in pairs:
            tr.write_line(f"    sim : {s!r}\n    real: {r!r}\n    why : {why}")
    for note in REPORT["notes"]:
        tr.write_line(note)
