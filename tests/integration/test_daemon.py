"""`fwemu daemon`: one firmware instance kept alive behind a Unix control socket.

Every test starts a real daemon process (XDG_RUNTIME_DIR inside tmp_path, so the socket
is private to the test) and drives it through the CLI (`python -m fwemu`) or a raw socket;
a finalizer always kills the daemon.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

import msgpack
import pytest

READY = re.compile(r"listening on (\S+) \(pid (\d+)\)")


def _env(tmp_path) -> dict:
    env = dict(os.environ)
    env.pop("FWEMU_BOARD", None)
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    (tmp_path / "run").mkdir(exist_ok=True)
    return env


class DaemonProc:
    def __init__(self, proc, sock, journal, stderr_path):
        self.proc, self.sock, self.journal, self.stderr_path = proc, sock, journal, stderr_path

    def journal_lines(self) -> list[dict]:
        with open(self.journal, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def _wait_line(proc, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            raise AssertionError("daemon printed no ready line in time")
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            raise AssertionError(f"daemon exited before it was ready (rc {proc.poll()})")
        buf += chunk
    return buf.decode().splitlines()[0]


@pytest.fixture
def start_daemon(tmp_path, request):
    """start_daemon(*options) → DaemonProc, ready to serve; killed at teardown."""
    procs = []

    def kill_all():
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
            if p.stdout:
                p.stdout.close()

    request.addfinalizer(kill_all)

    def start(*options, journal_name="journal.jsonl"):
        journal = tmp_path / journal_name
        err = tmp_path / f"daemon-{len(procs)}.err"
        proc = subprocess.Popen([sys.executable, "-m", "fwemu", "daemon", "--journal", str(journal), *options],
                                stdout=subprocess.PIPE, stderr=open(err, "wb"), env=_env(tmp_path))
        procs.append(proc)
        line = _wait_line(proc, 20)
        m = READY.search(line)
        assert m, line
        assert int(m.group(2)) == proc.pid
        return DaemonProc(proc, m.group(1), journal, err)

    return start


@pytest.fixture
def fwemu(tmp_path):
    """fwemu(*args) → CompletedProcess of `python -m fwemu ARGS` in the test's runtime dir."""
    def run(*args, timeout=60):
        return subprocess.run([sys.executable, "-m", "fwemu", *args], capture_output=True, text=True,
                              env=_env(tmp_path), timeout=timeout)
    return run


def _json(cp) -> dict:
    assert cp.stdout.strip(), cp.stderr
    return json.loads(cp.stdout)


# ---- raw protocol helpers ------------------------------------------------------------------
def _connect(path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    return s


def _recv_exact(s, n) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError(len(buf))
        buf += chunk
    return buf


def _send_raw(s, payload: bytes) -> None:
    s.sendall(struct.pack(">I", len(payload)) + payload)


def _reply(s) -> dict:
    (n,) = struct.unpack(">I", _recv_exact(s, 4))
    return msgpack.unpackb(_recv_exact(s, n), raw=False)


def _ask(s, obj) -> dict:
    _send_raw(s, msgpack.packb(obj, use_bin_type=True))
    return _reply(s)


def _status(fwemu) -> dict:
    cp = fwemu("--json", "status")
    assert cp.returncode == 0, cp.stderr
    return _json(cp)


# ---- tests ---------------------------------------------------------------------------------
def test_inject_goes_through_the_daemon_and_is_consumed(start_daemon, fwemu):
    d = start_daemon()
    first = fwemu("--json", "inject", "memory-ue")
    assert first.returncode == 0, first.stderr
    out = _json(first)
    assert out["via"] == "daemon"
    [inj] = out["injections"]
    assert inj["state"] == "consumed" and inj["source"] == 2 and inj["latency_ms"] is not None
    assert any("Memory failure: 0x60000" in line for line in out["os_log"])

    # the same firmware instance serves the next command: ids continue, the page is
    # already poisoned in the OS that stayed up between the two commands
    second = _json(fwemu("--json", "inject", "memory-ue"))
    assert second["injections"][0]["id"] == inj["id"] + 1
    assert any("already hardware poisoned" in line for line in second["os_log"])

    finals = [e for e in d.journal_lines() if e.get("event") == "consumed"]
    assert [e["id"] for e in finals] == [inj["id"], inj["id"] + 1]


def test_the_same_scenario_on_two_pes_through_the_daemon_is_consumed_twice(start_daemon, fwemu):
    """Issue 12 item 3's two commands: `inject memory-ue --pe 0`, then `--pe 1`, in the same
    second: two different records, both processed (two [Hardware Error] blocks, the second
    finds the page already poisoned), neither dropped by the OS model's duplicate cache."""
    start_daemon("--no-ratelimit")
    frac = time.time() % 1
    if frac > 0.5:
        time.sleep(1.02 - frac)
    outs = [_json(fwemu("--json", "inject", "memory-ue", "--pe", pe)) for pe in ("0", "1")]
    injs = [o["injections"][0] for o in outs]
    assert [i["state"] for i in injs] == ["consumed", "consumed"]
    assert injs[0]["digest"] != injs[1]["digest"]
    assert any("already hardware poisoned" in line for line in outs[1]["os_log"])
    assert sum("[Hardware Error]: Hardware error from APEI" in ln for ln in outs[1]["os_log"]) == 1
    st = _status(fwemu)
    assert st["target"]["os"]["stats"].get("dropped_duplicate", 0) == 0


def test_status_shows_sources_queues_sei_and_last_injections(start_daemon, fwemu):
    start_daemon()
    inj = _json(fwemu("--json", "inject", "pcie-ce"))["injections"][0]
    st = _status(fwemu)
    assert st["via"] == "daemon"
    by_id = {s["id"]: s for s in st["sources"]}
    assert set(by_id) == set(range(8))
    for s in by_id.values():
        assert s["state"] == "free" and s["queue_depth"] == 0 and s["queue_limit"] == 16
    assert by_id[2]["notify"] == "sea" and by_id[3]["notify"] == "sei"
    assert st["sei_pending"] is None and st["sei_waiting"] == []
    last = st["last"][-1]
    assert (last["id"], last["scenario"], last["state"]) == (inj["id"], "pcie-ce", "consumed")
    assert st["counts"]["consumed"] == 1
    assert st["target"]["os"]["up"] is True
    assert st["daemon"]["pid"] > 0 and st["daemon"]["requests"] >= 2

    human = fwemu("status")
    assert human.returncode == 0
    assert "board sim (daemon)" in human.stdout
    assert re.search(r"#%d pcie-ce source 0: consumed" % inj["id"], human.stdout)
    assert "NOTIFY_SEI: none pending" in human.stdout and "OS: up" in human.stdout


def test_socket_and_directory_are_private(start_daemon, tmp_path):
    d = start_daemon()
    st = os.stat(d.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert d.sock == str(tmp_path / "run" / "fwemu" / "sim.sock")
    dst = os.stat(os.path.dirname(d.sock))
    assert stat.S_IMODE(dst.st_mode) == 0o700 and dst.st_uid == os.getuid()
    assert (tmp_path / "run" / "fwemu" / "sim.pid").read_text().strip() == str(d.proc.pid)


def test_one_daemon_per_board_and_a_stale_socket_is_replaced(start_daemon, fwemu, tmp_path):
    d = start_daemon()
    again = subprocess.run([sys.executable, "-m", "fwemu", "daemon", "--journal", "none"],
                           capture_output=True, text=True, env=_env(tmp_path), timeout=30)
    assert again.returncode == 2
    assert "already serves board 'sim'" in again.stderr and str(d.proc.pid) in again.stderr
    assert _json(fwemu("--json", "status"))["daemon"]["pid"] == d.proc.pid   # first one unharmed

    d.proc.kill()                      # no cleanup: the socket file stays behind
    d.proc.wait(10)
    assert os.path.exists(d.sock)
    # nothing listens: not bypassed in silence (issue 15 item 7), in-process only when asked
    cp = fwemu("--json", "status")
    assert cp.returncode == 5 and "left by a daemon that is no longer running" in _json(cp)["error"]
    cp = fwemu("inject", "memory-ue", "--journal", "none")
    assert cp.returncode == 5 and str(d.sock) in cp.stderr and "--no-daemon" in cp.stderr
    assert len(cp.stderr.splitlines()) == 1 and cp.stdout == ""
    assert _json(fwemu("--json", "status", "--no-daemon"))["via"] == "in-process"
    d2 = start_daemon(journal_name="j2.jsonl")
    assert d2.sock == d.sock
    assert _json(fwemu("--json", "inject", "memory-ce"))["via"] == "daemon"


def test_bad_clients_get_error_replies_and_the_daemon_keeps_serving(start_daemon, fwemu):
    d = start_daemon()
    with _connect(d.sock) as s:
        # not msgpack at all (0xc1 is never used), then the connection still serves a ping
        _send_raw(s, b"\xc1\xc1garbage")
        r = _reply(s)
        assert r["ok"] is False and r["exit_code"] == 2 and "msgpack" in r["error"]
        _send_raw(s, b"\x92\x01")   # truncated array
        r = _reply(s)
        assert r["ok"] is False and r["exit_code"] == 2
        assert _ask(s, {"op": "ping"})["ok"] is True

        bad = [
            ["op", "ping"],                                              # not a map
            {"op": "format-disk"},                                       # unknown op
            {"op": "status", "req": [1, 2]},                             # req not a map
            {"op": "status", "req": {"verbose": True}},                  # args where none are taken
            {"op": "ping", "extra": 1},                                  # unknown top-level key
            {"op": "inject", "req": {}},                                 # scenario missing
            {"op": "inject", "req": {"scenario": 5}},                    # wrong type
            {"op": "inject", "req": {"scenario": "memory-ue", "count": -1}},
            {"op": "inject", "req": {"scenario": "memory-ue", "count": True}},
            {"op": "inject", "req": {"scenario": "memory-ue", "timeout": 0}},
            {"op": "inject", "req": {"scenario": "memory-ue", "record": "not bytes"}},
            {"op": "inject", "req": {"scenario": "memory-ue", "rm": "-rf"}},
            {"op": "inject", "req": {"scenario": "raw", "fields": {"data": "@/etc/passwd"}}},
            {"op": "inject", "req": {"scenario": "memory-ue", "count": 200_000}},   # needs report=summary
        ]
        for msg in bad:
            r = _ask(s, msg)
            assert r["ok"] is False and r["exit_code"] == 2, (msg, r)
        # a map with an integer key (strict_map_key) and an ext type
        _send_raw(s, msgpack.packb({1: "x"}))
        assert _reply(s)["exit_code"] == 2
        _send_raw(s, msgpack.packb({"op": msgpack.ExtType(5, b"zz")}))
        assert _reply(s)["exit_code"] == 2
        # errors the firmware raises map to their exit codes too
        r = _ask(s, {"op": "inject", "req": {"scenario": "memory-ue", "source": 99}})
        assert r["ok"] is False and r["exit_code"] == 2 and "no source 99" in r["error"]
        assert _ask(s, {"op": "ping"})["result"]["pid"] == d.proc.pid

    # oversized: refused with a reply, then the connection is closed
    with _connect(d.sock) as s:
        s.sendall(struct.pack(">I", 2 << 20) + b"x" * 1024)
        r = _reply(s)
        assert r["ok"] is False and r["exit_code"] == 2 and "limit" in r["error"]
        s.settimeout(5)
        try:   # closed: EOF, or a reset since the unread rest was discarded
            assert s.recv(1) == b""
        except ConnectionResetError:
            pass
    # a client that vanishes mid-frame
    with _connect(d.sock) as s:
        s.sendall(struct.pack(">I", 100) + b"\x81")

    assert d.proc.poll() is None
    cp = fwemu("--json", "inject", "memory-ue")
    assert cp.returncode == 0 and _json(cp)["via"] == "daemon"
    assert _status(fwemu)["daemon"]["bad_requests"] >= 18
    # the CLI turns a daemon error into the documented exit code and one-line message
    cp = fwemu("inject", "memory-ue", "--source", "99")
    assert cp.returncode == 2 and "no source 99" in cp.stderr and "Traceback" not in cp.stderr


def test_fatal_error_panics_the_sim_os_and_reset_brings_it_back(start_daemon, fwemu):
    start_daemon()
    out = _json(fwemu("--json", "inject", "memory-fatal"))
    assert out["via"] == "daemon"
    assert out["os"]["up"] is False and "Fatal hardware error" in out["os"]["panic"]
    assert any(line.startswith("Kernel panic - not syncing") for line in out["os_log"])
    assert _status(fwemu)["target"]["os"]["up"] is False

    cp = fwemu("--json", "reset")
    assert cp.returncode == 0, cp.stderr
    res = _json(cp)
    assert res["via"] == "daemon" and res["os"]["up"] is True
    assert _status(fwemu)["target"]["os"]["up"] is True
    again = _json(fwemu("--json", "inject", "memory-ue"))
    assert again["injections"][0]["state"] == "consumed"


def test_os_model_options_are_refused_while_a_daemon_serves(start_daemon, fwemu):
    start_daemon("--os-delay", "0.2")
    cp = fwemu("inject", "memory-ue", "--os-deaf")
    assert cp.returncode == 2
    assert "--os-deaf" in cp.stderr and "daemon" in cp.stderr
    cp = fwemu("inject", "memory-ue", "--journal", "none")
    assert cp.returncode == 2 and "--journal" in cp.stderr
    # the daemon's own knob applies: the OS takes ~0.2 s before it consumes
    out = _json(fwemu("--json", "inject", "memory-ue"))
    assert out["injections"][0]["state"] == "consumed"
    assert out["injections"][0]["latency_ms"] >= 150
    assert out["os"]["knobs"]["delay"] == 0.2


def test_without_a_daemon_commands_run_in_process(fwemu):
    cp = fwemu("--json", "inject", "memory-ue", "--journal", "none")
    assert cp.returncode == 0 and _json(cp)["via"] == "in-process"
    assert _status(fwemu)["via"] == "in-process"


def test_sigterm_journals_the_inflight_injection_as_interrupted(start_daemon, tmp_path):
    d = start_daemon("--os-deaf")
    bg = subprocess.Popen([sys.executable, "-m", "fwemu", "--json", "inject", "memory-ue", "--timeout", "30"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        deadline = time.monotonic() + 20
        while True:   # wait until the record is posted and the firmware waits on the deaf OS
            st = subprocess.run([sys.executable, "-m", "fwemu", "--json", "status"], capture_output=True,
                                text=True, env=_env(tmp_path), timeout=30)
            src2 = [s for s in json.loads(st.stdout)["sources"] if s["id"] == 2][0]
            if src2["state"] == "busy":
                break
            assert time.monotonic() < deadline, "injection never became in-flight"
            time.sleep(0.1)
        inflight = src2["current"]

        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(15) == 0
        out, err = bg.communicate(timeout=15)
    finally:
        if bg.poll() is None:
            bg.kill()
            bg.wait()

    finals = [e for e in d.journal_lines() if e.get("id") == inflight and e.get("event") != "accepted"]
    assert len(finals) == 1
    assert finals[0]["event"] == "interrupted" and finals[0]["state"] == "interrupted"
    assert finals[0]["reason"] == "daemon stopped"
    assert not os.path.exists(d.sock)
    # the waiting client got its reply: interrupted, exit 3 (not consumed)
    assert bg.returncode == 3, err
    reply = json.loads(out)
    assert reply["via"] == "daemon" and reply["injections"][0]["state"] == "interrupted"
    assert "journalled 1 in-flight injection(s) as interrupted" in d.stderr()


def test_shutdown_request_stops_the_daemon_cleanly(start_daemon):
    d = start_daemon()
    with _connect(d.sock) as s:
        r = _ask(s, {"op": "shutdown"})
        assert r["ok"] is True and r["result"]["stopping"] is True
    assert d.proc.wait(15) == 0
    assert not os.path.exists(d.sock)


def test_client_maps_daemon_errors_to_fwemu_errors(start_daemon, tmp_path, monkeypatch):
    from fwemu.daemon import Client
    from fwemu.errors import UsageError

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert Client.connect("no-such-board") is None
    d = start_daemon()
    with Client.connect("sim") as c:
        assert c.request("ping")["pid"] == d.proc.pid
        with pytest.raises(UsageError) as exc:
            c.request("inject", {"scenario": "memory-ue", "pe": 9})
        assert exc.value.exit_code == 2 and "PEs 0 .. 3" in str(exc.value)
        res = c.request("inject", {"scenario": "memory-ce", "count": 300, "report": "summary"})
        assert res["summary"]["count"] == 300 and res["summary"]["states"] == {"consumed": 300}
        assert len(res["injections"]) == 10   # the last records only


def test_at_file_fields_are_read_by_the_client(start_daemon, fwemu, tmp_path, monkeypatch):
    start_daemon()
    body = bytes(range(48))
    (tmp_path / "body.bin").write_bytes(body)
    monkeypatch.chdir(tmp_path)   # a relative @FILE: only the client's cwd can resolve it
    cp = fwemu("--json", "inject", "raw", "--guid", "c34ea725-de8c-4f19-86b0-a2093a558441",
               "--data", "@body.bin")
    assert cp.returncode == 0, cp.stderr
    out = _json(cp)
    assert out["via"] == "daemon" and out["injections"][0]["state"] == "consumed"
    assert out["injections"][0]["length"] == 20 + 72 + len(body)


def test_idle_clients_cannot_lock_others_out_and_a_full_daemon_answers_busy(start_daemon, tmp_path,
                                                                          monkeypatch):
    """Issue 12 item 10: 32 idle connections (one of them dribbling a header a byte at a
    time) held every slot for 600 s, and the next client got "Broken pipe". Now the next
    client gets the daemon's own busy answer, the idle ones are closed within IDLE_TIMEOUT,
    and a client served after that is answered normally."""
    from fwemu import daemon as dm
    from fwemu.daemon import Client
    from fwemu.errors import UnreachableError

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    d = start_daemon()
    assert dm.IDLE_TIMEOUT <= 10
    idle = []
    while len(idle) < dm.MAX_CLIENTS:
        try:
            idle.append(_connect(d.sock))
        except BlockingIOError:   # the listen backlog is full until the daemon accepts
            time.sleep(0.02)
    t0 = time.monotonic()
    stop = threading.Event()

    def dribble(s):   # a byte of a header each 0.5 s: never a whole request
        for b in b"\0\0\0":
            if stop.wait(0.5):
                return
            try:
                s.send(bytes([b]))
            except OSError:
                return
    th = threading.Thread(target=dribble, args=(idle[0],), daemon=True)
    th.start()
    time.sleep(0.5)                                  # the daemon has admitted all of them
    for _ in range(3):                               # the 33rd, 34th, 35th clients
        c = Client.connect("sim")
        with pytest.raises(UnreachableError) as exc:
            c.request("ping")
        c.close()
        assert "daemon busy" in str(exc.value) and "Broken pipe" not in str(exc.value)
    # every idle connection is closed by the daemon within its idle timeout
    for s in idle:
        s.settimeout(dm.IDLE_TIMEOUT + 5)
        try:
            assert s.recv(16) == b""
        except ConnectionResetError:
            pass
    closed_after = time.monotonic() - t0
    stop.set()
    assert closed_after < dm.IDLE_TIMEOUT + 4, closed_after
    with Client.connect("sim") as c:
        info = c.request("ping")
    assert info["busy_refusals"] == 3
    for s in idle:
        s.close()


def test_a_client_idle_longer_than_the_timeout_reconnects_by_itself(start_daemon, tmp_path, monkeypatch):
    from fwemu import daemon as dm
    from fwemu.daemon import Client

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    start_daemon()
    with Client.connect("sim") as c:
        assert c.request("ping")["board"] == "sim"
        first = c.sock
        time.sleep(dm.IDLE_TIMEOUT + 0.5)            # the daemon has closed this connection
        assert c.request("ping")["board"] == "sim"
        assert c.sock is not first


def test_a_daemon_whose_journal_fails_still_ends_every_injection(start_daemon, fwemu):
    """Issue 15: the journal write failing inside the daemon left the client waiting on an
    injection that never reached a final state. Now the run stops with the report and one line."""
    start_daemon("--journal", "/dev/full")
    cp = fwemu("--json", "inject", "memory-ue", "--count", "3", timeout=30)
    env = _json(cp)
    assert cp.returncode == 5 and env["via"] == "daemon"
    assert "--journal: cannot write /dev/full" in env["error"]
    assert [i["state"] for i in env["injections"]] == ["consumed"]
    cp = fwemu("inject", "memory-ue", timeout=30)        # later requests: refused, one line, no hang
    assert cp.returncode == 5 and len(cp.stderr.splitlines()) == 1 and "/dev/full" in cp.stderr
    assert _json(fwemu("--json", "status"))["via"] == "daemon"


# ---- SIGKILL and restart (issue 12 item 4) -------------------------------------------------------
def _finals(lines) -> tuple[set, dict]:
    accepted = {(e["run"], e["id"]) for e in lines if e.get("event") == "accepted"}
    finals: dict = {}
    for e in lines:
        if e.get("event") in ("consumed", "dropped", "refused", "timed-out", "interrupted"):
            finals.setdefault((e["run"], e["id"]), []).append(e)
    return accepted, finals


def test_a_daemon_killed_mid_run_is_resolved_by_the_next_start(start_daemon, tmp_path):
    from fwemu import journal_check

    d = start_daemon("--os-delay", "0.02")
    clients = [subprocess.Popen([sys.executable, "-m", "fwemu", "inject", *args, "--count", "400",
                                 "--timeout", "60"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=_env(tmp_path))
               for args in (["memory-ue"], ["memory-ce", "--notify", "sei"], ["arm-tlb", "--notify", "sdei"])]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        lines = d.journal_lines()
        acc, fin = _finals(lines)
        if len(acc) >= 60 and len(acc) > len(fin) + 5:
            break
        time.sleep(0.05)
    d.proc.kill()                                   # SIGKILL: no clean stop, no final lines
    d.proc.wait(10)
    for c in clients:
        c.kill()
        c.wait(10)
    acc, fin = _finals(d.journal_lines())
    open_before = acc - set(fin)
    assert len(open_before) > 5, (len(acc), len(fin))

    d2 = start_daemon()                             # same journal: it ends what the dead run left open
    lines = d2.journal_lines()
    acc, fin = _finals(lines)
    assert acc == set(fin), f"{len(acc - set(fin))} injections without a final state"
    assert all(len(v) == 1 for v in fin.values())
    resolved = [fin[k][0] for k in open_before]
    assert all(e["restart"] and e["resolved_by"] != e["run"] for e in resolved)
    assert all(e["state"] == "interrupted" and "sim board" in e["reason"] for e in resolved)
    ends = [e for e in lines if e.get("event") == "run-end" and e.get("resolved_by")]
    assert len(ends) == 1 and ends[0]["resolved"] == len(open_before)
    rep = journal_check.check_lines(lines)
    assert rep.ok, rep.text()

    cp = subprocess.run([sys.executable, "-m", "fwemu", "--json", "status"], capture_output=True,
                        text=True, env=_env(tmp_path), timeout=30)
    st = json.loads(cp.stdout)
    assert st["restart"]["count"] == len(open_before)
    assert {(i["run"], i["id"]) for i in st["restart"]["injections"]} == open_before
    cp = subprocess.run([sys.executable, "-m", "fwemu", "status"], capture_output=True, text=True,
                        env=_env(tmp_path), timeout=30)
    assert f"ended {len(open_before)} injection(s) left without a final state" in cp.stdout

    # a clean stop leaves nothing for the next start
    d2.proc.send_signal(signal.SIGTERM)
    assert d2.proc.wait(20) == 0
    d3 = start_daemon()
    acc, fin = _finals(d3.journal_lines())
    assert acc == set(fin)
    cp = subprocess.run([sys.executable, "-m", "fwemu", "--json", "status"], capture_output=True,
                        text=True, env=_env(tmp_path), timeout=30)
    assert "restart" not in json.loads(cp.stdout)


def test_a_count_above_the_full_report_limit_goes_through_the_daemon_as_a_summary(start_daemon, fwemu):
    """Issue 12 item 12: the CLI never asked for the summary report, so the daemon refused
    `--count` above its full-report limit (then 100,000, now 10,000). Now it asks; the report is the counts and every reason."""
    from fwemu import daemon as dm

    start_daemon()
    n = dm.MAX_FULL_REPORT + 1
    cp = fwemu("--json", "inject", "memory-ce", "--notify", "gsiv", "--count", str(n), timeout=600)
    env = _json(cp)
    assert cp.returncode == 0, cp.stderr
    assert env["via"] == "daemon" and env["summary"]["count"] == n
    assert env["summary"]["states"] == {"consumed": n} and env["summary"]["reasons"] == []
    assert len(env["injections"]) == 10 and env["injections"][-1]["id"] == n
    cp = fwemu("inject", "memory-ce", "--notify", "gsiv", "--count", str(n), "--source", "1",
               "--pe", "9", timeout=60)
    assert cp.returncode == 2                     # a usage error is still one line, before anything runs


def test_field_sweeps_and_the_seed_reach_the_daemon(start_daemon, fwemu):
    """The daemon makes each injection's value from the spec, as in-process: a sweep gives
    new pages; a random spec repeats with the same seed."""
    start_daemon("--no-ratelimit")      # every record printed: the addresses are read from the log
    out = _json(fwemu("--json", "inject", "memory-ue", "--count", "3", "--address", "0x61000000:0x61010000:0x1000"))
    assert out["via"] == "daemon" and [i["state"] for i in out["injections"]] == ["consumed"] * 3
    mf = [ln.split(":")[1].strip() for ln in out["os_log"] if ln.startswith("Memory failure:")]
    assert mf == ["0x61000", "0x61001", "0x61002"]

    def pages(seed):
        o = _json(fwemu("--json", "inject", "memory-ce", "--count", "4", "--seed", str(seed),
                        "--address", "random:0x62000000:0x63000000:0x1000"))
        return [ln.split("physical_address:")[1].strip() for ln in o["os_log"] if "physical_address:" in ln]
    first = pages(5)
    assert len(first) == 4 and pages(5) == first and pages(6) != first


def test_a_newer_section_scenario_through_the_daemon_with_a_kernel_profile(start_daemon, fwemu):
    """A records/sections kind: the daemon builds it from the text fields (cxl-dram, with a
    DRAM row), its OS model follows the daemon's --os-kernel (6.12: GHES hands CXL events
    to the CXL driver's kfifo)."""
    start_daemon("--os-kernel", "6.12")
    out = _json(fwemu("--json", "inject", "cxl-dram", "--row", "0x12345"))
    assert out["via"] == "daemon" and out["injections"][0]["state"] == "consumed"
    assert any("section type: unknown, 601dcbb3-9c06-4eab-b8af-4e9bfb5c9624" in ln for ln in out["os_log"])
    assert any(ln.startswith("[sim] GHES: CXL CPER DRAM event for the CXL driver's kfifo") for ln in out["os_log"])
