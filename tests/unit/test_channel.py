"""The host end of the debug channel (fwemu.channel) against the C agent run on the host
(HostAgent + a fake platform), over loop://, a raw pty, a socat pty pair, and the
fault-injecting link.

Exactly-once is counted on the agent side: every IRQ request carries a unique INTID and
the fake platform records each one it pends.
"""

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import msgpack
import pytest

from fwemu.channel import AgentChannel, AgentError, ChannelTimeout, TargetResetError
from fwemu.channel import protocol as P
from fwemu.channel.faultlink import FaultLink, Faults, pty_pair
from fwemu.channel.hostagent import HostAgent, MemoryPlatform, serve
from fwemu.channel.transport import SerialTransport

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"
WINDOWS = [(0x80000000, 0x1000, 3), (0x80010000, 0x100, 1)]


class Rig:
    """A HostAgent served on one end of a socketpair; the host side is a pty (optionally
    through a FaultLink) that AgentChannel opens by path."""

    def __init__(self, faults=None, baud=None, seed=1, platform=None, retries=8, base_timeout=0.05):
        self.plat = platform or MemoryPlatform(WINDOWS, masked={3})
        self.agent = HostAgent(self.plat, "fwemu-test", 4, WINDOWS, boot_count=7)
        self.sa, self.sb = socket.socketpair()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=serve, args=(self.agent, self.sb.fileno(), self.sb.fileno(),
                                                           self.stop), daemon=True)
        self.thread.start()
        self.master, self.path, self.slave = pty_pair()
        self.link = FaultLink(self.master, self.sa.fileno(), faults, baud=baud, seed=seed)
        self.ch = AgentChannel(self.path, retries=retries, base_timeout=base_timeout)

    def close(self):
        self.ch.close()
        self.stop.set()
        self.thread.join(timeout=2)
        self.link.close()
        for fd in (self.master, self.slave):
            os.close(fd)
        self.sa.close()
        self.sb.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


# ---- framing and msgpack limits ----------------------------------------------------------------
def test_loop_url_roundtrip_through_c_framing():
    t = SerialTransport("loop://")
    rx = P.Receiver()
    msgs = [[P.SDEI, 7, 0, 5000], [P.WRITE, 8, 0x80000000, bytes(range(256)) * 3]]
    for m in msgs:
        t.write(P.encode_frame(P.pack(m)))
    got = []
    deadline = time.monotonic() + 2
    while len(got) < 2 and time.monotonic() < deadline:
        got += [P.unpack(p) for p in rx.feed(t.read())]
    assert got == msgs
    t.close()


def test_unpack_refuses_hostile_payloads_without_allocating():
    hostile = [
        b"\xdd\xff\xff\xff\xff",                       # array32 claiming 2^32-1 items
        b"\x93\x02\x01\xc6\xff\xff\xff\xff",           # bin32 of 4 GiB
        b"\x93\x02\x01\xc7\x01\x05\x00",               # ext
        b"\xc1", b"", b"\x92\xa1x\x01",                # never-used byte, empty, str type
        msgpack.packb([1, 2, 3]) + b"\x00",            # trailing bytes
        msgpack.packb([0x80, 1, 0]), msgpack.packb([1, 70000, 0]), msgpack.packb([1, 1]),
    ]
    for h in hostile:
        assert P.unpack(h) is None, h


def test_session_vectors_pack_identically_in_python():
    """Every request in the golden session packs to the same payload in Python msgpack."""
    steps = json.loads((VECTORS / "agent_session.json").read_text())["steps"]
    rx = P.Receiver()
    n = 0
    for st in steps:
        if st["request"] is None or not st["send_hex"]:
            continue
        payloads = rx.feed(bytes.fromhex(st["send_hex"]))
        if not payloads:   # the corrupted-frame step
            continue
        req = _unjson(st["request"])
        assert payloads == [P.pack(req)], st["name"]
        n += 1
    assert n > 35


def _unjson(o):
    if isinstance(o, dict) and set(o) == {"bin"}:
        return bytes.fromhex(o["bin"])
    if isinstance(o, dict):
        return {int(k): _unjson(v) for k, v in o.items()}
    if isinstance(o, list):
        return [_unjson(v) for v in o]
    return o


def test_session_vectors_against_the_cffi_agent_and_python_platform():
    """The agent compiled into the cffi core, with hooks served from Python, answers the
    golden session byte for byte (the same C the sim board's agent process runs)."""
    doc = json.loads((VECTORS / "agent_session.json").read_text())
    plat = MemoryPlatform(WINDOWS, masked={3}, sea=False)
    plat.pend_irq = lambda pe, intid: (plat._note("irq", pe, intid), 0)[1] if intid < 1020 else -1
    agent = HostAgent(plat, doc["fixture"]["board_id"], 4, WINDOWS, boot_count=7)
    from fwemu._corelib import ffi, lib
    clock = ffi.callback("uint64_t(void *)", lambda ctx: 123456)   # the fixture's fixed clock
    agent._plat.time_us = clock
    for st in doc["steps"]:
        if st["os_write"]:
            addr, width, value = (int(x, 16) for x in st["os_write"].split(":"))
            lib.fw_reg_write(plat.map(addr, width // 8), width, value)
        if st["start"]:
            agent.start()
        agent.feed(bytes.fromhex(st["send_hex"]))
        if st["poll"]:
            agent.check_watches()
        assert agent.take_output().hex() == st["expect_hex"], st["name"]
        assert (plat.count("sdei"), plat.count("sei"), plat.count("irq")) == \
            (st["n_sdei"], st["n_sei"], st["n_irq"]), st["name"]


# ---- the channel on a clean line ------------------------------------------------------------------
def test_hello_read_write_and_errors(rig):
    info = rig.ch.hello()
    assert (info.board_id, info.pe_count, info.boot_count) == ("fwemu-test", 4, 7)
    assert info.windows == WINDOWS and info.has("sdei") and info.has("events")
    rig.ch.write(0x80000100, bytes(range(256)) * 6)        # 1536 bytes: two WRITE frames
    assert rig.ch.read(0x80000100, 1536) == bytes(range(256)) * 6
    rig.ch.write_reg(0x80000008, 64, 0x1122334455667788)
    assert rig.ch.read_reg(0x80000008, 64) == 0x1122334455667788
    with pytest.raises(AgentError) as e:
        rig.ch.write(0x80010000, b"x")                     # read-only window
    assert e.value.code == P.E_WINDOW
    with pytest.raises(AgentError) as e:
        rig.ch.call(P.SDEI, 3, 5000)                       # masked PE
    assert e.value.code == P.E_REFUSED and e.value.results == [-1, 1]
    rig.ch.call(P.SDEI, 0, 5000)
    assert rig.plat.count("sdei") == 1
    st = rig.ch.status()
    assert st["notifications"] == 1 and st["boot_count"] == 7


def test_post_event_and_withdraw(rig):
    rig.ch.hello()
    rec = (0x11).to_bytes(4, "little") + bytes(16) + b"x" * 100
    ack = [0x80000000, 64, 0, 0xFFFFFFFFFFFFFFFE, 1]
    since = rig.ch.event_count
    # Read Ack at 0 is not the OS's ack (write 1): the agent refuses, writing nothing
    with pytest.raises(AgentError) as e:
        rig.ch.call(P.POST, 5, 0x80000010, 0x3F0, rec, 0, ack)
    assert e.value.code == P.E_BUSY and e.value.results == [0, 0]
    assert rig.plat.read(0x80000010, len(rec)) == bytes(len(rec))
    rig.plat.write(0x80000000, (1).to_bytes(8, "little"))    # acked, as firmware leaves it at boot
    assert rig.ch.call(P.POST, 5, 0x80000010, 0x3F0, rec, 0, ack) == [1]
    assert rig.plat.read(0x80000010, len(rec)) == rec
    assert rig.plat.read(0x80000000, 8) == bytes(8)          # armed
    with pytest.raises(AgentError) as e:
        rig.ch.call(P.POST, 5, 0x80000010, 0x3F0, rec, 0, ack)
    assert e.value.code == P.E_BUSY and e.value.results == [0x11, 0]
    got = []
    rig.ch.on_event = got.append
    rig.plat.write(0x80000000, (1).to_bytes(8, "little"))    # the OS acks
    rig.ch.wait_event(2.0, since)
    deadline = time.monotonic() + 2
    while not any(m[0] == P.EV_CONSUMED for m in got) and time.monotonic() < deadline:
        rig.ch.wait_event(0.1)
    assert [m[2:] for m in got if m[0] == P.EV_CONSUMED] == [[5, 1]]


def test_socat_pty_pair(tmp_path):
    if shutil.which("socat") is None:
        pytest.skip("socat missing (Debian: socat)")
    a, b = tmp_path / "ttyHOST", tmp_path / "ttyFW"
    proc = subprocess.Popen(["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 5
        while not (a.exists() and b.exists()) and time.monotonic() < deadline:
            time.sleep(0.02)
        fd = os.open(b, os.O_RDWR | os.O_NOCTTY)
        plat = MemoryPlatform(WINDOWS)
        agent = HostAgent(plat, "socat", 4, WINDOWS)
        stop = threading.Event()
        t = threading.Thread(target=serve, args=(agent, fd, fd, stop), daemon=True)
        t.start()
        with AgentChannel(str(a)) as ch:
            assert ch.hello().board_id == "socat"
            for i in range(50):
                ch.call(P.IRQ, i % 4, i)
            assert plat.count("irq") == 50
        stop.set()
        t.join(2)
        os.close(fd)
    finally:
        proc.terminate()
        proc.wait(5)


# ---- a hostile line ---------------------------------------------------------------------------------
def _irq_storm(rig, n, first=0):
    ok, errors = [], []
    for i in range(first, first + n):
        intid = i % 1000
        try:
            rig.ch.call(P.IRQ, i % 4, intid)
            ok.append(intid)
        except TargetResetError as exc:
            errors.append((intid, exc))
        except ChannelTimeout as exc:
            # unresolved: ask again (same seq) before anything else with a side effect
            for _ in range(20):
                res = rig.ch.requery(1.0)
                if res is not None:
                    break
            if res is not None and res[0] == "answered" and res[2] == P.OK:
                ok.append(intid)
            else:
                errors.append((intid, exc))
    return ok, errors


def test_one_percent_corrupt_one_percent_drop_exactly_once():
    rig = Rig(Faults(drop=0.01, corrupt=0.01), seed=7, retries=30, base_timeout=0.02)
    try:
        rig.ch.hello()
        ok, errors = _irq_storm(rig, 300)
        pended = [c[2] for c in rig.plat.calls if c[0] == "irq"]
        # never two notifications for one request
        assert len(pended) == len(set(pended))
        # every completed request raised its notification exactly once
        assert set(ok) <= set(pended)
        # a request that ended in an error raised it at most once, and said so
        for _intid, exc in errors:
            assert "unknown whether it executed" in str(exc) or isinstance(exc, TargetResetError)
        assert len(ok) + len(errors) == 300 and len(ok) >= 290
        s = rig.link.stats
        assert sum(s.corrupted) > 20 and sum(s.dropped) > 20
        assert rig.ch.stats.retries > 10
    finally:
        rig.close()


def test_duplicated_and_delayed_bytes_never_execute_twice():
    rig = Rig(Faults(duplicate=0.02, delay=0.1, delay_s=0.03), seed=3, retries=20, base_timeout=0.02)
    try:
        rig.ch.hello()
        ok, errors = _irq_storm(rig, 200)
        pended = [c[2] for c in rig.plat.calls if c[0] == "irq"]
        assert len(pended) == len(set(pended)) and set(ok) <= set(pended)
        assert len(ok) >= 195
    finally:
        rig.close()


def test_disconnect_mid_frame_then_recovers(rig):
    rig.ch.hello()
    rig.link.cut(0.15)
    rig.ch.call(P.WRITE, 0x80000000, b"z" * 900)      # cut in the middle, retried after
    rig.ch.call(P.IRQ, 0, 1)
    assert rig.plat.read(0x80000000, 900) == b"z" * 900
    assert rig.plat.count("irq") == 1 and rig.link.stats.cut_bytes > 0


def test_target_reset_resyncs_and_reports_in_flight():
    rig = Rig()
    try:
        rig.ch.hello()
        resets = []
        rig.ch.on_reset = resets.append
        rig.ch.call(P.IRQ, 0, 10)
        # the target resets between requests: EV_BOOT, then a new session on next use
        # (wait for the boot event: a request sent before the reset happens would be in
        # flight across it, which is the next case, not this one)
        rig.ch._reset_flag.clear()
        rig.agent.reset_soon()
        assert rig.ch._reset_flag.wait(5)
        rig.ch.call(P.IRQ, 0, 11)
        assert rig.ch.info.boot_count == 8 and resets
        # a reset while a side-effect request is in flight, after its first copy was lost:
        # the agent answers E_NO_SESSION to the retry → TargetResetError, not a blind resend
        rig.link.set_faults(Faults(drop=1.0), Faults())

        def reset_then_deliver():
            # the agent resets first (its boot event reaches the host: that direction is
            # clean), and only then do retries get through: a retry delivered before the
            # reset would execute on the old session, which is not what this tests
            rig.agent.reset_soon()
            rig.ch._reset_flag.wait(5)
            rig.link.set_faults(Faults())
        t = threading.Timer(0.08, reset_then_deliver)
        rig.ch._reset_flag.clear()
        t.start()
        with pytest.raises(TargetResetError) as e:
            rig.ch.call(P.IRQ, 0, 12)
        assert "IRQ" in e.value.request
        t.join()
        pended = [c[2] for c in rig.plat.calls if c[0] == "irq"]
        assert pended.count(12) <= 1 and pended.count(10) == 1 and pended.count(11) == 1
    finally:
        rig.close()


def test_unanswered_request_stays_unresolved_until_requery_learns_its_outcome():
    rig = Rig(retries=2)
    try:
        rig.ch.hello()
        rig.link.set_faults(Faults(), Faults(drop=1.0))       # every reply lost
        with pytest.raises(ChannelTimeout) as e:
            rig.ch.call(P.IRQ, 0, 40)
        assert e.value.request[0] == P.IRQ and "unknown whether it executed" in str(e.value)
        assert rig.plat.count("irq") == 1                      # it did execute, once
        assert rig.ch.unresolved == e.value.request
        with pytest.raises(P.ChannelError, match="unresolved"):
            rig.ch.call(P.IRQ, 0, 41)                          # nothing new with a side effect
        assert rig.plat.count("irq") == 1
        assert rig.ch.requery(0.2) is None                     # still no answer
        rig.link.set_faults(Faults())
        how, msg, code, _ = rig.ch.requery(2.0)
        assert (how, msg, code) == ("answered", e.value.request, P.OK)
        assert rig.plat.count("irq") == 1 and rig.ch.unresolved is None   # answered, not re-run
        rig.ch.call(P.IRQ, 0, 41)
        assert rig.plat.count("irq") == 2
    finally:
        rig.close()


def test_requery_after_a_reset_says_the_request_is_forgotten():
    rig = Rig(retries=1)
    try:
        rig.ch.hello()
        rig.link.set_faults(Faults(drop=1.0), Faults())       # the request never arrives
        with pytest.raises(ChannelTimeout):
            rig.ch.call(P.IRQ, 0, 50)
        rig.agent.reset_soon()
        time.sleep(0.05)
        rig.link.set_faults(Faults())
        res = None
        for _ in range(10):
            res = rig.ch.requery(1.0)
            if res is not None:
                break
        assert res is not None and res[0] == "forgotten" and res[2] is None
        assert rig.plat.count("irq") == 0 and rig.ch.unresolved is None
        rig.ch.call(P.IRQ, 0, 51)                              # a new session works
        assert rig.plat.count("irq") == 1
    finally:
        rig.close()
