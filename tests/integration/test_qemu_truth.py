"""Issue 15 (qemu-virt truth): what can be checked without booting a guest. The real-kernel
halves of these items are in tests/linux/test_qemu_linux.py.

- item 4: the sim OS model's page state per region (PA 0, reserved and kernel pages, the
  board's own windows, holes), in the real kernel's words (Debian 6.1.192 under QEMU 10.0.2);
- item 2: a console client that has gone is recognised (its connection in CLOSE_WAIT on
  QEMU's side) instead of being reported as a live client;
- item 3: a GPIO notification is one QMP command: the connection is made when posting;
- item 8: a restart boots what the guest was booted with, not what $FWEMU_QEMU names now;
  `--notify gpio` on a QEMU without inject-ghes-v2-error prints the promised refusal; a
  kernel that panicked while QEMU still runs refuses notifications up front.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from fwemu.board import Source, load_board
from fwemu.firmware import FirmwareModel
from fwemu.journal import Journal
from fwemu.session import Session
from fwemu.targets.linux_model import OsKnobs
from fwemu.targets.sim import SimTarget

SIM = load_board("sim")


def _sim_inject(pa: int, knobs: OsKnobs | None = None, scenario: str = "memory-ue") -> list[str]:
    target = SimTarget(SIM, knobs)
    j = Journal(None)
    sess = Session(SIM, target, FirmwareModel(SIM, target, j), j)
    try:
        res = sess.inject({"scenario": scenario, "fields": {"address": hex(pa)}, "notify": "sea"})
        assert res["injections"][0]["state"] == "consumed", res
        return [ln for ln in res["os_log"] if "[Hardware Error]" not in ln]
    finally:
        sess.close()


# ---- item 4: page state ---------------------------------------------------------------------

def test_pa0_is_memory_outside_kernel_control():
    # real: "Memory failure: 0x0: memory outside kernel control", and no SIGBUS line (the
    # memory_failure was queued); the sim used to print an invalid-address warning + SIGBUS
    assert _sim_inject(0) == ["Memory failure: 0x0: memory outside kernel control"]


def test_kernel_text_page_is_unhandlable():
    assert _sim_inject(0x784B0000) == ["Memory failure: 0x784b0: unhandlable page.",
                                       "Memory failure: 0x784b0: recovery action for unknown page: Ignored"]


def test_reserved_page_and_board_window_are_unhandlable():
    assert _sim_inject(0x7C43E000) == ["Memory failure: 0x7c43e: unhandlable page.",
                                       "Memory failure: 0x7c43e: recovery action for unknown page: Ignored"]
    # the board's own window (GHES registers and blocks) is firmware memory, whatever the map
    knobs = OsKnobs(memory=())
    w = SIM.windows[0]
    pfn = (w.base + 0x1000) >> 12
    assert _sim_inject(w.base + 0x1000, knobs) == [
        f"Memory failure: {pfn:#x}: unhandlable page.",
        f"Memory failure: {pfn:#x}: recovery action for unknown page: Ignored"]


def test_free_ram_hole_and_custom_map():
    assert _sim_inject(0x60000000) == ["Memory failure: 0x60000: recovery action for free buddy page: Recovered"]
    # a section with no memory at all: pfn_valid fails, nothing queued, so the SEA SIGBUS
    assert _sim_inject(0x20000000) == ["[Firmware Warn]: GHES: Invalid address in generic error data: 0x20000000",
                                       "GHES: sim-task:1000: synchronous unrecoverable error (SIGBUS)"]
    # a map passed in (as the real-kernel tests pass the guest's /proc/iomem)
    knobs = OsKnobs(memory=((0x60000000, 0x60000FFF, "reserved"),))
    assert _sim_inject(0x60000000, knobs)[0] == "Memory failure: 0x60000: unhandlable page."
    assert _sim_inject(0x784B0000, knobs)[0].endswith("recovery action for free buddy page: Recovered")


def test_reserved_page_poisoned_twice():
    target = SimTarget(SIM)
    try:
        target.os._memory_failure(0x7C43E000)
        target.os._memory_failure(0x7C43E000)
        lines, _ = target.os.lines_since(0)
        assert lines[-1] == "Memory failure: 0x7c43e: already hardware poisoned"
    finally:
        target.close()


# ---- item 2: a console client that has gone -------------------------------------------------

def test_dead_console_client_is_recognised():
    from fwemu.qemu.launcher import tcp_close_wait

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    cli = socket.create_connection(("127.0.0.1", port))
    conn, peer = srv.accept()
    holder = f"{peer[0]}:{peer[1]}"
    try:
        assert not tcp_close_wait(port, holder)          # alive: a real second client
        cli.sendall(b"devmem 0xb000000 32\n")             # typed, never read (stalled guest)
        cli.close()
        deadline = time.monotonic() + 2
        while not tcp_close_wait(port, holder) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tcp_close_wait(port, holder)               # gone, still held by the server
    finally:
        conn.close()
        srv.close()


# ---- item 3: GPIO raised by one QMP command ---------------------------------------------------

class _FakeQmp(threading.Thread):
    """A QMP server that takes `greet_delay` to greet each client and records when each
    inject-ghes-v2-error arrives."""

    def __init__(self, path: str, greet_delay: float):
        super().__init__(daemon=True)
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(path)
        self.srv.listen(4)
        self.greet_delay = greet_delay
        self.injects: list[tuple[float, dict]] = []

    def run(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            f = conn.makefile("rwb")
            time.sleep(self.greet_delay)
            f.write(b'{"QMP": {"version": {}, "capabilities": []}}\n')
            f.flush()
            for line in f:
                msg = json.loads(line)
                if msg["execute"] == "inject-ghes-v2-error":
                    self.injects.append((time.monotonic(), msg["arguments"]))
                f.write(b'{"return": {}}\n')
                f.flush()
            conn.close()


def test_gpio_notify_is_one_qmp_command(tmp_path):
    from fwemu.targets.qemu import QemuTarget

    path = str(tmp_path / "qmp.sock")
    srv = _FakeQmp(path, greet_delay=0.3)
    srv.start()
    t = QemuTarget.__new__(QemuTarget)      # no guest: only what post()/notify() use
    t.guest = SimpleNamespace(qmp_path=path, alive=lambda: True, exit_reason=lambda: None,
                              serial_log=str(tmp_path / "no-serial.log"))
    t.mem = SimpleNamespace(source_free=lambda src: None, close=lambda: None)
    t.board = SimpleNamespace(pes=SimpleNamespace(count=1))
    t.info, t.qmp_inject, t.console = {"qemu_version": "10.2.0"}, True, None
    t._pending_qmp, t._qmp_open, t._dirty = {}, {}, False
    src = Source(id=1, type="ghesv2", notify="gpio", esa=0, block=0, block_length=1024)
    t.post(src, b"\x11" + bytes(19))
    t0 = time.monotonic()
    t.notify(src, 0)
    # the notification went out without a connection set-up inside notify(): a latency
    # counted from before notify() is not inflated by QMP's greeting
    assert srv.injects and srv.injects[0][0] - t0 < 0.15, srv.injects
    assert time.monotonic() - t0 < 0.2
    srv.srv.close()


# ---- item 8 ----------------------------------------------------------------------------------

def test_restart_boots_what_the_guest_was_booted_with(tmp_path, monkeypatch):
    from fwemu.qemu.launcher import Guest

    g = Guest(str(tmp_path))
    g._write_info({"qemu": "/opt/qemu-10.0/bin/qemu-system-aarch64", "qemu_version": "10.0.2",
                   "bios": "/b.fd", "kernel": "/k", "initrd": "/i", "kernel_release": "6.1.0"})
    monkeypatch.setenv("FWEMU_QEMU", "/elsewhere/qemu-system-aarch64")
    img = g.booted_image()
    assert img.qemu == "/opt/qemu-10.0/bin/qemu-system-aarch64" and img.qemu_version == (10, 0, 2)
    assert (img.bios, img.kernel, img.initrd) == ("/b.fd", "/k", "/i")
    seen = {}

    def fake_start(timeout=120.0, ram_file=None, image=None):
        seen["image"] = image
        raise RuntimeError("stop here")

    from fwemu.targets.qemu import QemuTarget
    t = QemuTarget.__new__(QemuTarget)
    t.guest, t.boot_timeout = g, 1.0
    t.console = t.mem = None
    t._qmp_open = {}
    monkeypatch.setattr(g, "stop", lambda: True)
    monkeypatch.setattr(g, "start", fake_start)
    with pytest.raises(RuntimeError):
        t.reset()
    assert seen["image"] == img


def test_notify_kind_refusal_is_what_inject_reports():
    """docs/qemu.md's refusal for --notify gpio on a QEMU without inject-ghes-v2-error is
    what an injection gets (it used to be the firmware's generic 'has no gpio source')."""
    from fwemu.errors import UsageError

    why = ("this QEMU (10.0.2) cannot raise GPIO notifications: its HEST has no such source and "
           "its QMP has no inject-ghes-v2-error (QEMU >= 10.2 has both; point FWEMU_QEMU at one)")
    target = SimTarget(SIM)
    target.notify_kind_refusal = lambda kind: why if kind == "gpio" else None
    j = Journal(None)
    sess = Session(SIM, target, FirmwareModel(SIM, target, j), j)
    try:
        with pytest.raises(UsageError) as exc:
            sess.inject({"scenario": "memory-ue", "notify": "gpio"})
        assert why in str(exc.value)
        assert sess.inject({"scenario": "memory-ue", "notify": "sea"})["injections"][0]["state"] == "consumed"
    finally:
        sess.close()


def test_panicked_guest_refuses_while_qemu_still_runs(tmp_path):
    """The kernel printed its panic but QEMU has not exited (yet): the notification is
    refused up front with the panic, not posted to wait out its timeout."""
    from fwemu.targets.qemu import QemuTarget

    log = tmp_path / "serial.log"
    log.write_bytes(b"[    1.000000] booting\r\n")
    t = QemuTarget.__new__(QemuTarget)
    t.guest = SimpleNamespace(serial_log=str(log), alive=lambda: True, exit_reason=lambda: None)
    t.board = SimpleNamespace(pes=SimpleNamespace(count=1))
    t.console = SimpleNamespace(connected=True)
    t.info = {"pid": 1, "kernel_release": "6.1"}
    src = Source(id=0, type="ghesv2", notify="sea", esa=0, block=0, block_length=1024)
    assert t.notify_refusal(src, 0) is None and t.os_state()["up"] is True
    with open(log, "ab") as fh:
        fh.write(b"[    9.000000] Kernel panic - not syncing: GHES: Fatal hardware error\r\n")
    why = t.notify_refusal(src, 0)
    assert why == ("the guest is down (kernel panic: GHES: Fatal hardware error; QEMU is still "
                   "running)")
    st = t.os_state()
    assert st["up"] is False and st["panic"] == "GHES: Fatal hardware error"
