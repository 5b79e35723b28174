"""fwemu driving real firmware: the target agent inside TF-A's BL31 (ports/tf-a/qemu) posts
GHES records over the secure UART, TF-A's SDEI dispatcher delivers the events, and Debian's
arm64 kernel consumes them (reads the block, writes Read Ack, prints, memory_failure).

Each test asserts what the kernel printed, what the target's memory holds afterwards (Read
Ack, block_status, read back through the agent) and what fwemu journaled. The scenario tests
run the same injection on the sim board and compare the kernel's lines (differences must be
the known ones below, each with its reason). Refusals come from TF-A's dispatcher, with the
reason read from its own state.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

import pytest

import qemu_helpers as h
from conftest import REPORT

FIXED_TS = {"timestamp": h.FIXED_TIMESTAMP}
NORMAL, NORMAL2, CRITICAL, POLLED = 0, 1, 2, 3      # the board's sources

KNOWN = [
    (r"Memory failure: (0x[0-9a-f]+): recovery action for free buddy page: Recovered",
     r"Memory failure: (0x[0-9a-f]+): recovery action for .+: Recovered",
     "the page's state is the real kernel's; the sim's RAM holds no workload"),
]


def _known(sim, real):
    for ps, pr, why in KNOWN:
        if sim and real and re.fullmatch(ps, sim) and re.fullmatch(pr, real):
            return why
    return None


PACER = h.Pacer()


def inject(machine, scenario, fields=None, source=None, timeout=10.0):
    return h.inject(h.session_on(machine.target), scenario, fields, source=source, timeout=timeout)


def hw_lines(lines):
    return [re.sub(r"^\{\d+\}\[Hardware Error\]: ", "", ln) for ln in lines if "[Hardware Error]" in ln]


def assert_acked(machine, source_id):
    src = machine.board.source(source_id)
    assert machine.target.read_reg(src.read_ack.address, 64) & 1 == 1, "Read Ack not written by the OS"
    assert machine.target.read_reg(src.block, 32) == 0, "block_status not cleared by the OS"


def both(machine, scenario, fields, source):
    r = inject(machine, scenario, fields, source)
    s = h.run_sim(machine.board, scenario, fields, source=source)
    pairs = [(a, b, _known(a, b)) for a, b in h.compare(s["os_log"], r["os_log"])]
    REPORT["diffs"][f"{scenario} on source {source}"] = pairs
    unknown = [(a, b) for a, b, why in pairs if why is None]
    assert not unknown, "sim and real kernel differ:\n" + h.format_diff(unknown)
    return r


def note_latency(kind, inj):
    REPORT["latency_ms"].setdefault(kind, []).append(inj["latency_ms"])


# ---------------------------------------------------------------------------------------


def test_agent_announces_the_real_firmware(machine):
    info = machine.target.info
    assert info.board_id == "tfa-qemu" and info.pe_count == 1
    assert info.has("sdei") and info.has("sdei_state") and not info.has("sei")
    assert [(b, s) for b, s, _f in info.windows] == [(0x7FFF0000, 0x10000)]
    log = open(machine.guest.serial_log, "rb").read().decode(errors="replace")
    assert "fwemu: agent on the secure UART" in log               # TF-A's BL31 said so
    assert "ACPI: Table Upgrade: install [HEST-FWEMU -FWEMUHST]" in log
    assert re.search(r"ACPI: SDEI 0x[0-9A-F]+ 000024 \(v01 FWEMU  FWEMUSDE", log), "UEFI's SDEI table"


def test_masked_pe_refused_while_booting(machine):
    """Asked while UEFI / the early kernel ran (conftest), TF-A's dispatcher refused: PEs
    start masked until the OS's SDEI driver unmasks them."""
    e = machine.early
    assert e, "the agent never answered while the machine booted"
    assert not e["ready_before"] and not e["ready_after"], "probe came too late to see the boot"
    code, bits = e["state"][0], e["state"][1]
    assert code == 0 and bits & 0x8 and not bits & 0x1, f"state {e['state']}"
    code, rc, why = e["dispatch"][:3]
    assert code == 8 and rc == -1 and why == 1, f"dispatch {e['dispatch']} (8 = refused, why 1 = PE masked)"


def test_linux_registered_the_sdei_events(machine):
    # TF-A's own dispatcher state, read by the agent: registered + enabled, PE unmasked
    for src, critical in ((NORMAL, False), (NORMAL2, False), (CRITICAL, True)):
        ev = machine.board.source(src).vector
        state = machine.target.channel.call(0x0D, 0, ev)[0]
        assert state & 0x3 == 0x3, f"event {ev}: state {state:#x}"
        assert not state & 0x8 and bool(state & 0x10) == critical and state & 0x20


@pytest.mark.parametrize("source", [NORMAL, CRITICAL], ids=["sdei-normal", "sdei-critical"])
@pytest.mark.parametrize("scenario", ["memory-ue", "memory-ce", "arm-cache-ue", "pcie-ue"])
def test_sdei_scenarios_consumed_by_linux(machine, scenario, source):
    fields = dict(FIXED_TS)
    if scenario in ("memory-ue", "memory-ce", "arm-cache-ue"):
        fields["address"] = hex(machine.page())
    else:      # a device of its own per source: identical blocks would meet the kernel's
        fields["bdf"] = f"0000:0{source + 1}:00.0"   # 10-s duplicate cache (issue 12)
    PACER.before(corrected=scenario == "memory-ce")
    r = both(machine, scenario, fields, source)
    inj = r["injection"]
    assert inj["state"] == "consumed", inj
    assert inj["latency_ms"] > 0 and inj["notify"] == "sdei"
    note_latency("SDEI " + ("critical" if source == CRITICAL else "normal"), inj)
    hw = hw_lines(r["os_log"])
    assert hw[0] == f"Hardware error from APEI Generic Hardware Error Source: {source}", r["os_log"]
    if scenario in ("memory-ue", "arm-cache-ue"):
        pa = int(fields["address"], 16)
        assert any(re.fullmatch(rf"Memory failure: {pa >> 12:#x}: recovery action for .+: Recovered", ln)
                   for ln in r["os_log"]), r["os_log"]
    assert_acked(machine, source)


def test_polled_source_consumed(machine):
    pa = machine.page()
    PACER.before(corrected=False)
    r = both(machine, "memory-ue", {**FIXED_TS, "address": hex(pa)}, POLLED)
    assert r["injection"]["state"] == "consumed"
    assert f"  physical_address: 0x{pa:016x}" in hw_lines(r["os_log"])
    assert_acked(machine, POLLED)


def test_unregistered_event_refused_by_tf_a(machine):
    """The kernel unregisters a source's SDEI event when its GHES device is unbound; TF-A's
    dispatcher then refuses the dispatch, and fwemu reports the dispatcher's reason and
    leaves the block free."""
    out = machine.shell("echo GHES.1 > /sys/bus/platform/drivers/GHES/unbind; echo rc=$?")
    assert "rc=0" in out, out
    try:
        ev = machine.board.source(NORMAL2).vector
        state = machine.target.channel.call(0x0D, 0, ev)[0]
        assert not state & 0x1, f"event {ev} still registered: {state:#x}"
        r = inject(machine, "memory-ce", dict(FIXED_TS), NORMAL2, timeout=3)
        inj = r["injection"]
        assert inj["state"] == "refused"
        assert f"event {ev} is not registered" in inj["reason"], inj["reason"]
        src = machine.board.source(NORMAL2)
        assert machine.target.read_reg(src.block, 32) == 0       # nothing left posted
    finally:
        out = machine.shell("echo GHES.1 > /sys/bus/platform/drivers/GHES/bind; echo rc=$?")
    assert "rc=0" in out, out
    PACER.before(corrected=True)
    again = inject(machine, "memory-ce", dict(FIXED_TS), NORMAL2)
    assert again["injection"]["state"] == "consumed", again["injection"]


def test_cli_inject_prints_the_kernels_lines(machine):
    pa = machine.page()
    PACER.before(corrected=False)
    machine.detach()              # QEMU serves the agent's UART to one client at a time
    try:
        p = subprocess.run([sys.executable, "-m", "fwemu", "--board", str(machine.board_path), "inject",
                            "memory-ue", "--notify", "sdei", "--address", hex(pa), "--journal", "none"],
                           capture_output=True, text=True, timeout=60)
    finally:
        machine.attach()
    assert p.returncode == 0, p.stdout + p.stderr
    assert "source 0 (SDEI" in p.stdout and "consumed" in p.stdout, p.stdout
    assert "[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0" in p.stdout
    assert f"Memory failure: {pa >> 12:#x}: recovery action for" in p.stdout, p.stdout


def test_noisy_uart_each_record_consumed_once(machine):
    """The secure UART with 0.3 % corrupted and 0.2 % dropped bytes each way (fwemu's FaultLink
    between fwemu and QEMU's socket): retries and the agent's dedupe table keep every SDEI
    dispatch to exactly one, so the kernel prints each record exactly once."""
    import os
    import socket as so

    from fwemu.channel.faultlink import FaultLink, Faults, pty_pair
    from fwemu.targets.agent import AgentTarget

    before = machine.target.channel.status()["notifications"]
    machine.detach()
    port = int(machine.board.target.url.rsplit(":", 1)[1])
    sock = so.create_connection(("127.0.0.1", port))
    master, path, slave = pty_pair()
    link = FaultLink(master, sock.fileno(), Faults(corrupt=0.003, drop=0.002), seed=7)
    noisy = AgentTarget(machine.board, url=path)
    mark = os.path.getsize(machine.guest.serial_log)
    try:
        sess = h.session_on(noisy)
        results = []
        for k in range(8):
            res = sess.inject({"scenario": "memory-ce", "source": NORMAL, "timeout": 20.0,
                               "fields": {"address": hex(0x7000_0000 + k * 0x1000)}})
            results.append(res["injections"][0])
        retries = noisy.channel.stats.retries
    finally:
        noisy.close()
        link.close()
        sock.close()
        for fd in (master, slave):
            os.close(fd)
        machine.attach()
    assert [r["state"] for r in results] == ["consumed"] * 8, results
    # the agent in BL31 counts the notifications it executed: exactly one per record
    assert machine.target.channel.status()["notifications"] - before == 8
    time.sleep(1.0)
    text = open(machine.guest.serial_log, "rb").read()[mark:].decode(errors="replace")
    printed = re.findall(r"physical_address: 0x0000000070(\d)(\d)000", text)
    # the kernel rate-limits corrected prints (2 per 5 s); what it printed, it printed once
    pas = [a + b for a, b in printed]
    assert pas and len(pas) == len(set(pas)), pas
    REPORT["notes"].append(f"noisy UART (0.3 % corrupt, 0.2 % drop): 8/8 consumed, {retries} retries")


def test_zz_fatal_on_the_critical_event_panics_linux(machine):
    """Last: the kernel panics inside the critical handler (QEMU then exits, -no-reboot).
    fwemu cannot read the Read Ack of a machine that is gone; it must not claim more than
    the console shows."""
    pa = machine.page()
    r = inject(machine, "memory-fatal", {**FIXED_TS, "address": hex(pa)}, CRITICAL, timeout=15)
    inj = r["injection"]
    deadline = time.monotonic() + 30
    while machine.guest.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = open(machine.guest.serial_log, "rb").read().decode(errors="replace")
    assert "Kernel panic - not syncing: GHES: Fatal hardware error" in log
    assert "event severity: fatal" in log and f"physical_address: 0x{pa:016x}" in log
    # the dispatch never returned (the kernel panicked inside the handler, then reset):
    # fwemu says what it knows, no more
    assert inj["state"] == "timed-out", inj
    assert "the SDEI may have been raised" in inj["reason"], inj["reason"]
    assert r["os"].get("panic") == "GHES: Fatal hardware error", r["os"]
    REPORT["notes"].append(f"memory-fatal on SDEI critical: journaled {inj['state']}: {inj['reason']}")


def test_zzz_qemu_killed_mid_injection(tmp_path):
    """A second machine: a polled source whose GHES device is unbound (nothing consumes),
    an injection waiting on it through the CLI, and QEMU killed meanwhile. One line, exit 5
    (the target went away), and the injection's final journal line says what was known."""
    import json
    import signal

    from conftest import Machine, need_tfa

    need_tfa()
    m = Machine(tmp_path)
    m.up()
    try:
        assert "rc=0" in m.shell("echo GHES.3 > /sys/bus/platform/drivers/GHES/unbind; echo rc=$?")
        m.detach()
        journal = tmp_path / "journal.jsonl"
        p = subprocess.Popen([sys.executable, "-m", "fwemu", "--board", str(m.board_path), "inject",
                              "memory-ce", "--source", "3", "--timeout", "30", "--journal", str(journal)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (journal.exists() and '"accepted"' in journal.read_text()):
            time.sleep(0.1)
        os_pid = m.guest.pid()
        assert os_pid and m.guest.alive()
        time.sleep(1.0)
        import os
        os.kill(os_pid, signal.SIGKILL)
        out, err = p.communicate(timeout=90)
    finally:
        m.down()
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    final = [x for x in lines if x.get("event") == "final" or x.get("state") in ("consumed", "refused", "timed-out", "interrupted")]
    assert final and final[-1]["state"] in ("timed-out", "interrupted"), lines
    assert p.returncode in (3, 5), (p.returncode, out, err)
    assert "Traceback" not in err, err
    REPORT["notes"].append(f"QEMU killed mid-injection: exit {p.returncode}, journal {final[-1]['state']}: "
                           f"{final[-1].get('reason')}")
