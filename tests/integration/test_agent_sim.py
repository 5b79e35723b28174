"""The sim board through the target agent (boards/sim-agent.toml): the firmware model drives
`target.kind = "agent"`, whose requests travel as frames over a real pty to a separate
process running the C agent + simulated platform + Linux OS model.

Exactly-once is counted on the agent side: the agent's STATUS `notifications` counter (hook
calls that succeeded) and the OS model's per-kind handling counts.
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from fwemu.board import load_board
from fwemu.channel.faultlink import FaultLink, Faults, pty_pair
from fwemu.firmware import FirmwareModel
from fwemu.session import Session
from fwemu.targets.agent import AgentTarget, SimAgentProcess

KINDS = [("sea", 2), ("sdei-normal", 5), ("sdei-critical", 6), ("gsiv", 1), ("external", 7)]


def _strip(lines):
    return [re.sub(r"tstamp: .*", "tstamp", line) for line in lines]


@pytest.fixture(scope="module")
def board():
    return load_board("sim-agent")


def test_every_notification_kind_consumed_like_the_in_process_sim(board):
    with Session.open(board, journal="none") as s, Session.open(load_board("sim"), journal="none") as ref:
        for name, sid in KINDS:
            req = {"scenario": "memory-ue", "source": sid, "count": 3,
                   "fields": {"address": "0x50000000"}}
            got, want = s.inject(req), ref.inject(req)
            assert [i["state"] for i in got["injections"]] == ["consumed"] * 3, (name, got)
            # the OS model prints the same kernel lines either way
            assert _strip(got["os_log"]) == _strip(want["os_log"]), name
        sei = s.inject({"scenario": "memory-ue", "notify": "sei", "pe": 1, "count": 2})
        assert [i["state"] for i in sei["injections"]] == ["consumed"] * 2
        st = s.status()["target"]
        assert st["kind"] == "agent" and st["channel"]["timeouts"] == 0
        assert st["agent"]["notifications"] == 3 * len(KINDS) + 2


def test_sdei_refusal_reason_comes_from_the_target(board):
    target = AgentTarget(board, url="sim-agent:?masked_pes=1")
    try:
        fw = FirmwareModel(board, target)
        inj = fw.submit("memory-ce", pe=1, timeout=2)   # routed to SDEI 5000
        fw.wait_all([inj])
        assert inj.state == "refused" and "masked" in inj.reason
        assert target.read_reg(board.source(5).block, 32) == 0       # nothing left posted
        inj = fw.submit("memory-ce", pe=0, timeout=2)
        fw.wait_all([inj])
        assert inj.state == "consumed"
    finally:
        target.close()


def test_target_reset_mid_injection_resyncs_and_reports(board):
    target = AgentTarget(board, url="sim-agent:?deaf=1")      # the OS ignores notifications
    try:
        fw = FirmwareModel(board, target)
        inj = fw.submit("memory-ue", timeout=10)                  # SEA, source 2
        fw.pump(0.05)
        assert inj.state == "notified"
        boot = target.info.boot_count
        target.reset()                                           # warm reset: memory survives
        assert target.channel.info.boot_count == boot + 1
        report = target.resets[-1]
        assert report["boot_count"] == boot + 1 and 2 in report["sources"]
        # the rebooted OS (still deaf to notifications) consumes the pending block at probe
        fw.wait_all([inj], deadline=time.monotonic() + 5)
        assert inj.state == "consumed"
        # and the channel works in the new session
        inj2 = fw.submit("memory-ue", timeout=1)
        fw.wait_all([inj2])
        assert inj2.state == "timed-out"    # deaf OS: the record stays posted, reported as such
    finally:
        target.close()


def test_noisy_line_one_percent_each_exactly_once(board):
    """1 % corrupted + 1 % dropped bytes between fwemu and the sim agent process: every
    injection is consumed once or ends with a clear error; the agent never raises two
    notifications for one request."""
    proc = SimAgentProcess(board)
    fd = os.open(proc.pty, os.O_RDWR | os.O_NOCTTY)
    master, path, slave = pty_pair()
    link = FaultLink(master, fd, Faults(drop=0.01, corrupt=0.01), seed=11)
    target = None
    try:
        target = AgentTarget(board, url=path, retries=40, base_timeout=0.02, max_chunk=48)
        fw = FirmwareModel(board, target)
        injs = []
        for k in range(8):
            try:
                inj = fw.submit("memory-ue", {"address": hex(0x40000000 + k * 4096)}, source_id=5,
                                timeout=30)
            except Exception as exc:   # noqa: BLE001 - a clear error is an allowed outcome
                assert "unknown whether it executed" in str(exc) or "reset" in str(exc), exc
                continue
            fw.wait_all([inj], deadline=time.monotonic() + 40)
            injs.append(inj)
        states = [i.state for i in injs]
        assert states.count("consumed") >= 6, [(i.state, i.reason) for i in injs]
        print("noisy line:", states, target.channel.stats, link.stats.to_dict())
        for i in injs:
            assert i.state in ("consumed", "refused", "timed-out") and (i.state == "consumed" or i.reason)
        link.set_faults(Faults())
        agent = target.channel.status()
        os_stats = target.os_state()["stats"]
        # exactly once: dispatches the agent made == SDEI events the OS handled, and one per
        # injection that reached the OS
        assert agent["notifications"] == os_stats.get("sdei", 0) == states.count("consumed")
        assert agent["dup_hits"] > 0 or target.channel.stats.retries > 0
        assert sum(link.stats.corrupted) > 0 and sum(link.stats.dropped) > 0
    finally:
        if target is not None:
            target.close()
        link.close()
        for f in (master, slave, fd):
            os.close(f)
        proc.close()


def test_ser2net_rfc2217_in_the_loop(board, tmp_path):
    """The sim agent's pty exposed by a real ser2net (started here on 127.0.0.1) as RFC 2217;
    injections go through rfc2217://127.0.0.1:PORT?ign_set_control."""
    if shutil.which("ser2net") is None:
        pytest.skip("ser2net missing (Debian: ser2net)")
    import socket
    proc = SimAgentProcess(board)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    cfg = tmp_path / "ser2net.yaml"
    cfg.write_text(f"""%YAML 1.1
---
connection: &fwemu0
    accepter: telnet(rfc2217),tcp,127.0.0.1,{port}
    enable: on
    connector: serialdev,{proc.pty},115200n81,local
    options:
      kickolduser: true
""")
    srv = subprocess.Popen(["ser2net", "-n", "-d", "-c", str(cfg)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    target = None
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.3)
        target = AgentTarget(board, url=f"rfc2217://127.0.0.1:{port}?ign_set_control")
        fw = FirmwareModel(board, target)
        injs = [fw.submit("memory-ue", {"address": hex(0x40000000 + k * 4096)}, source_id=sid, timeout=10)
                for k, sid in enumerate([2, 5, 6, 1, 7, 2, 5])]
        fw.wait_all(injs, deadline=time.monotonic() + 30)
        assert [i.state for i in injs] == ["consumed"] * len(injs), [(i.state, i.reason) for i in injs]
        assert target.channel.status()["notifications"] == len(injs)
    finally:
        if target is not None:
            target.close()
        srv.terminate()
        srv.wait(5)
        proc.close()
