"""A daemon over a qemu-virt guest that goes down, comes back, panics and is reset
(issue 15 item 8): the daemon follows the guest it serves, journals what became of the
records posted into a guest that went away, and refuses up front on a panicked guest.

Its own short-lived guest and daemon (private run directories), driven through the CLI.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time

import pytest

from fwemu import journal_check
from qemu_helpers import need_linux

PA = 0x60000000      # free buddy pages in a fresh 1 GiB guest (see conftest.PaAllocator)


@pytest.fixture
def lab(tmp_path):
    need_linux()
    (tmp_path / "xdg").mkdir(mode=0o700)
    env = dict(os.environ, FWEMU_QEMU_RUN=str(tmp_path / "guest"), XDG_RUNTIME_DIR=str(tmp_path / "xdg"),
               XDG_STATE_HOME=str(tmp_path / "state"), FWEMU_BOARD="qemu-virt")
    env.pop("FWEMU_QEMU_AUTOSTART", None)

    def fwemu(*args, timeout=180):
        return subprocess.run([sys.executable, "-m", "fwemu", *args], capture_output=True,
                              text=True, env=env, timeout=timeout)

    procs = []
    yield env, fwemu, procs
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    fwemu("qemu", "down")


def _inject(fwemu, *args, timeout=60):
    cp = fwemu("--json", "inject", *args, timeout=timeout)
    assert "Traceback" not in cp.stderr, cp.stderr
    return cp, json.loads(cp.stdout)


def test_daemon_follows_the_guest_down_up_panic_reset(lab, tmp_path):
    env, fwemu, procs = lab
    up = fwemu("qemu", "up")
    assert up.returncode == 0, up.stderr
    daemon = subprocess.Popen([sys.executable, "-m", "fwemu", "daemon"], stdout=subprocess.PIPE,
                              stderr=open(tmp_path / "daemon.err", "w"), env=env)
    procs.append(daemon)
    sel = selectors.DefaultSelector()
    sel.register(daemon.stdout, selectors.EVENT_READ)
    assert sel.select(60), "the daemon printed no ready line"
    assert re.search(r"listening on", daemon.stdout.readline().decode())

    cp, out = _inject(fwemu, "memory-ue", "--address", hex(PA))
    assert cp.returncode == 0 and out["via"] == "daemon", cp.stderr
    assert out["injections"][0]["state"] == "consumed"

    # a record Linux never acks (block_status 0): it times out and holds the SEA source
    block = tmp_path / "bs0.bin"
    b = fwemu("record", "build", "memory-ue", "--address", hex(PA + 0x1000), "-o", str(block))
    assert b.returncode == 0, b.stderr
    raw = bytearray(block.read_bytes())
    raw[0:4] = bytes(4)
    block.write_bytes(raw)
    cp, out = _inject(fwemu, "raw", str(block), "--timeout", "2")
    held = out["injections"][0]
    assert cp.returncode == 3 and held["state"] == "timed-out", cp.stdout
    st = json.loads(fwemu("--json", "status").stdout)
    sea = next(s for s in st["sources"] if s["notify"] == "sea")
    assert sea["state"] == "busy (timed out, still unconsumed)" and sea["current"] == held["id"]

    # the guest goes away under the daemon: injections are refused before anything is posted
    down = fwemu("qemu", "down")
    assert down.returncode == 0, down.stderr
    cp, out = _inject(fwemu, "memory-ue", "--address", hex(PA + 0x2000))
    assert cp.returncode == 4, cp.stdout
    why = out["injections"][0]["reason"]
    assert "the guest is down (QEMU is not running" in why and "fwemu qemu up" in why
    assert out["injections"][0]["posted"] is None

    # a new guest: the daemon attaches to it at the next injection; the old record is gone
    up = fwemu("qemu", "up")
    assert up.returncode == 0, up.stderr
    cp, out = _inject(fwemu, "memory-ue", "--address", hex(PA + 0x3000))
    assert cp.returncode == 0, cp.stdout + cp.stderr
    inj = out["injections"][0]
    assert inj["state"] == "consumed" and inj["source"] == held["source"]
    assert any(f"Memory failure: {(PA + 0x3000) >> 12:#x}:" in ln for ln in out["os_log"])

    # a fatal record panics the guest; the next injection is refused before anything is posted
    cp, out = _inject(fwemu, "memory-fatal", "--address", hex(PA + 0x4000))
    assert out["injections"][0]["state"] == "consumed", cp.stdout
    assert out["os"]["up"] is False or "panic" in json.dumps(out["os"]), out["os"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st = json.loads(fwemu("--json", "status").stdout)
        if st["target"]["os"]["up"] is False:
            break
        time.sleep(0.2)
    cp, out = _inject(fwemu, "memory-ue", "--address", hex(PA + 0x5000), timeout=30)
    assert "injections" in out, (cp.returncode, out)
    refused = out["injections"][0]
    assert cp.returncode == 4 and refused["state"] == "refused", cp.stdout
    assert "guest is down" in refused["reason"] and "Fatal hardware error" in refused["reason"]
    assert "fwemu reset" in refused["reason"]
    assert refused["posted"] is None and refused["notified"] is None

    # `fwemu reset` through the daemon reboots the guest it was booted as; injections work again
    r = fwemu("--json", "reset", timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["os"]["up"] is True
    cp, out = _inject(fwemu, "memory-ue", "--address", hex(PA + 0x6000))
    assert cp.returncode == 0 and out["injections"][0]["state"] == "consumed", cp.stdout

    # a reset boots a new QEMU on fresh RAM: a record held in the old one is gone, not
    # consumed, however acked the fresh Read Ack register looks
    cp, out = _inject(fwemu, "raw", str(block), "--timeout", "2")
    held2 = out["injections"][0]
    assert cp.returncode == 3 and held2["state"] == "timed-out", cp.stdout
    r = fwemu("--json", "reset", timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(fwemu("--json", "status").stdout)
    assert next(s for s in st["sources"] if s["notify"] == "sea")["state"] == "free"

    daemon.send_signal(signal.SIGTERM)
    daemon.wait(30)
    path = tmp_path / "state" / "fwemu" / "journal-qemu-virt.jsonl"
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    gone = [ln for ln in lines if ln["event"] == "resolved" and ln["id"] == held["id"]]
    assert len(gone) == 1 and gone[0]["found"] == "gone"
    assert "the guest was restarted outside this session" in gone[0]["reason"]
    gone2 = [ln for ln in lines if ln["event"] == "resolved" and ln["id"] == held2["id"]]
    assert len(gone2) == 1 and gone2[0]["found"] == "gone"
    assert "fwemu reset restarted the machine" in gone2[0]["reason"]
    # the fatal record was consumed before the panic; the reset's fresh RAM is not a consumption
    assert not [ln for ln in lines if ln["event"] == "consumed-late"]
    rep = journal_check.check_lines(lines)
    assert rep.ok, rep.text()
