"""Issue 12 items 4, 6 and 7: the journal proves the rules on its own, a run cut short is
ended by the next one from the target's memory, and a full disk leaves whole lines and a
clean stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from fwemu import journal_check, recovery
from fwemu.board import load_board
from fwemu.firmware import FirmwareModel
from fwemu.journal import Journal, read
from fwemu.targets.sim import SimTarget

SIM = load_board("sim")
ACKED = 1


def _mixed_run(path, n=1400, delay=0.0):
    target = SimTarget(SIM)
    target.os.knobs.delay = delay
    j = Journal(path)
    fw = FirmwareModel(SIM, target, j, sei_settle=0.0005)
    injs = []
    for k in range(n):
        sid = [2, 3, 4, 5, 6, 1, 7][k % 7]
        injs.append(fw.submit("memory-ue", {"address": hex(0x40000000 + (k % 500) * 4096)},
                              source_id=sid, pe=k & 1, timeout=10))
        if k % 50 == 49:
            fw.pump(0)
    fw.wait_all(injs)
    fw.end_run()
    j.close()
    target.close()
    return injs


def test_the_journal_alone_proves_the_rules_on_a_mixed_sim_run(tmp_path):
    path = tmp_path / "j.jsonl"
    injs = _mixed_run(path, delay=0.0005)
    states = {i.state for i in injs}
    assert "consumed" in states and "refused" in states        # queues overflowed, too
    lines = read(path)
    rep = journal_check.check_lines(lines)
    assert rep.ok, rep.text()
    # a mixed run: many posts and SEIs (how many of the 1,400 are posted rather than refused
    # on a full queue depends on the machine's scheduling of the OS's 0.5-ms delay)
    assert rep.injections == len(injs) and rep.sei_notified > 20 and rep.posts > 100
    # every line of the run carries its id; the instants are monotonic seconds
    run = lines[0]["run"]
    assert lines[0]["event"] == "run" and all(ln["run"] == run for ln in lines)
    assert lines[-1]["event"] == "run-end"

    # an independent checker: shifting one post before its predecessor's release is caught
    by_src = [ln for ln in lines if ln.get("event") == "consumed" and ln["source"] == 2]
    a, b = by_src[3], by_src[4]
    bad = [dict(ln, m_posted=a["m_consumed"] - 1e-5) if ln is b else ln for ln in lines]
    bad = [dict(ln, m_accepted=min(ln["m_accepted"], a["m_consumed"] - 1e-5)) if ln.get("id") == b["id"]
           else ln for ln in bad]
    rep = journal_check.check_lines(bad)
    assert any(v.startswith("source 2:") and f"#{b['id']} posted" in v for v in rep.violations), rep.text()
    # ... and an SEI raised while another is pending
    sei = [ln for ln in lines if ln.get("event") == "consumed" and ln["notify"] == "sei"]
    a, b = sei[5], sei[6]
    bad = [dict(ln, m_notified=a["m_notified"] + 1e-7, m_posted=a["m_notified"], m_accepted=a["m_accepted"])
           if ln is b else ln for ln in lines]
    rep = journal_check.check_lines(bad)
    assert any(v.startswith("NOTIFY_SEI:") for v in rep.violations), rep.text()
    # ... and an injection with no final line
    rep = journal_check.check_lines([ln for ln in lines if ln is not by_src[0]])
    assert rep.open == [(run, by_src[0]["id"])]


def test_the_cli_checker(tmp_path):
    path = tmp_path / "j.jsonl"
    _mixed_run(path, n=70)
    cp = subprocess.run([sys.executable, "-m", "fwemu.journal_check", str(path)], capture_output=True, text=True)
    assert cp.returncode == 0 and "70 injection(s)" in cp.stdout and "no overwrite" in cp.stdout


def test_a_run_cut_short_is_ended_from_memory_by_the_next_run(tmp_path, monkeypatch):
    """A target whose memory outlives the run (agent, qemu): one record consumed while
    nobody watched, one still posted, one never posted (queued behind it)."""
    path = tmp_path / "j.jsonl"
    target = SimTarget(SIM)
    target.os.knobs.deaf = True                       # nothing is consumed while run A lives
    ja = Journal(path)
    fa = FirmwareModel(SIM, target, ja)
    rfa = recovery.open_runfile(ja)
    assert recovery.recover(fa, path, rfa) is None      # nothing to resolve; A registered
    gone = fa.submit("memory-ue", source_id=2)          # posted; the OS will ack it unseen
    held = fa.submit("memory-ue", source_id=5)          # posted; never consumed
    queued = fa.submit("memory-ue", source_id=2)        # behind `gone`: never posted
    assert (gone.state, held.state, queued.state) == ("notified", "notified", "queued")
    src2 = SIM.source(2)
    target.write_reg(src2.read_ack.address, src2.read_ack.width, ACKED)   # the OS consumed it...
    target.write_reg(src2.block, 32, 0)                                    # ... after A died
    # A dies (SIGKILL: no final lines, its entry stays in the run file with a dead pid)
    state = json.loads((tmp_path / "j.jsonl.runs").read_text())
    state["runs"][0]["pid"] = 2 ** 22 + 7
    (tmp_path / "j.jsonl.runs").write_text(json.dumps(state))

    monkeypatch.setattr(recovery, "_memory_gone", lambda fw: False)
    jb = Journal(path)
    fb = FirmwareModel(SIM, target, jb)
    res = recovery.recover(fb, path, recovery.open_runfile(jb))
    assert res["count"] == 3 and res["states"] == {"consumed": 1, "interrupted": 2}
    by = {ln["id"]: ln for ln in res["injections"]}
    assert by[gone.id]["state"] == "consumed" and "latency unknown" in by[gone.id]["reason"]
    assert "still posted" in by[held.id]["reason"] and by[held.id]["left_in_memory"]["block_status"] != 0
    assert "never posted" in by[queued.id]["reason"]
    assert all("resolved after a restart" in ln["reason"] and ln["run"] == fa.run and ln["resolved_by"] == fb.run
               for ln in res["injections"])
    rep = journal_check.check_file(path)
    assert not rep.open, rep.text()
    # resolved once: a third run finds nothing open
    jc = Journal(path)
    fc = FirmwareModel(SIM, target, jc)
    assert recovery.recover(fc, path, recovery.open_runfile(jc)) is None


@pytest.fixture
def small_fs(tmp_path):
    """A 64 KiB tmpfs (root only; CI runs as root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_full_disk_stops_cleanly_with_whole_lines_and_the_next_run_ends_the_rest(small_fs, tmp_path):
    env = dict(os.environ, XDG_STATE_HOME=str(small_fs / "state"), XDG_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("FWEMU_BOARD", None)
    cp = subprocess.run([sys.executable, "-m", "fwemu", "--json", "inject", "memory-ue", "--count", "3000"],
                        capture_output=True, text=True, env=env, timeout=120)
    out = json.loads(cp.stdout)
    assert cp.returncode == 5 and "Traceback" not in cp.stderr
    assert out["status"] == 5 and "No space left on device" in out["error"]
    assert "injections not submitted" in out["error"]
    submitted = out["injections"]
    assert submitted and all(i["state"] == "consumed" for i in submitted)   # every one reported
    path = small_fs / "state" / "fwemu" / "journal-sim.jsonl"
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    lines = [json.loads(ln) for ln in raw.splitlines()]                      # whole lines only
    rep = journal_check.check_lines(lines)
    assert not rep.violations
    # the journal stopped: the run never wrote its run-end; the disk filled either inside an
    # injection (that one is open) or between two (none is)
    assert not [ln for ln in lines if ln["event"] == "run-end"]
    assert len(rep.open) <= 1 and len(rep.open) <= len(submitted)
    open_first = set(rep.open)
    first_run = lines[0]["run"]

    # space again: the next run ends what the journal is missing, saying why
    subprocess.run(["mount", "-o", "remount,size=1m", str(small_fs)], check=True)
    cp = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ue"], capture_output=True,
                        text=True, env=env, timeout=60)
    assert cp.returncode == 0, cp.stderr
    lines = read(path)
    rep = journal_check.check_lines(lines)
    assert rep.ok, rep.text()
    ended = [ln for ln in lines if ln.get("restart")]
    assert {(ln["run"], ln["id"]) for ln in ended} == open_first
    assert all("its journal had stopped" in ln["reason"] and "No space left" in ln["reason"] for ln in ended)
    closed = [ln for ln in lines if ln["event"] == "run-end" and ln["run"] == first_run]
    assert len(closed) == 1 and closed[0]["clean"] is False and closed[0]["resolved"] == len(open_first)


def test_a_daemon_on_a_full_disk_reports_every_injection_to_its_client(small_fs, tmp_path):
    """Item 6, the daemon path: two clients inject while the journal fills the disk; each
    gets a report of every injection it submitted, exit 5 and the one line; the daemon
    refuses later injections the same way and keeps answering status."""
    import re
    import selectors

    env = dict(os.environ, XDG_STATE_HOME=str(small_fs / "state"), XDG_RUNTIME_DIR=str(tmp_path / "run"))
    env.pop("FWEMU_BOARD", None)
    (tmp_path / "run").mkdir()
    d = subprocess.Popen([sys.executable, "-m", "fwemu", "daemon"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=env)
    try:
        sel = selectors.DefaultSelector()
        sel.register(d.stdout, selectors.EVENT_READ)
        assert sel.select(20), "no ready line"
        assert re.search(r"listening on", d.stdout.readline().decode())
        clients = [subprocess.Popen([sys.executable, "-m", "fwemu", "--json", "inject", scen, "--count", "3000"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                   for scen in ("memory-ue", "pcie-ce")]
        outs = [c.communicate(timeout=120) for c in clients]
        reports = 0
        for c, (out, err) in zip(clients, outs, strict=True):
            env_ = json.loads(out)
            assert c.returncode == 5 and "Traceback" not in err
            assert "No space left on device" in env_["error"]
            if env_.get("via") is None:      # it came after the failure: refused before submitting any
                assert not env_.get("injections")
                continue
            reports += 1
            assert env_["via"] == "daemon"
            n = env_["summary"]["count"]
            assert n == len(env_["injections"]) and n >= 1
            assert f"{3000 - n} injections not submitted" in env_["error"]
            assert all(i["state"] in ("consumed", "refused") for i in env_["injections"])
        assert reports >= 1
        cp = subprocess.run([sys.executable, "-m", "fwemu", "inject", "memory-ue"], capture_output=True,
                            text=True, env=env, timeout=60)
        assert cp.returncode == 5 and len(cp.stderr.splitlines()) == 1 and "No space left" in cp.stderr
        path = small_fs / "state" / "fwemu" / "journal-sim.jsonl"
        raw = path.read_bytes()
        assert raw.endswith(b"\n") and all(json.loads(ln) for ln in raw.splitlines())
        rep = journal_check.check_lines(read(path))
        assert not rep.violations, rep.text()
    finally:
        d.kill()
        d.wait(10)
        d.stdout.close()
