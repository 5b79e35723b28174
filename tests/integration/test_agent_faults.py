"""The truth after an ambiguous request (issue 12, items 1 and 2): a POST or notification
whose reply never came may or may not have executed, and firmware must learn which from
the target before it posts or notifies again.

The sim agent runs in its own process behind a fault-injecting link with the channel's
default settings (8 retries, 50 ms, 1 KiB POST). The tests watch the target without the
channel: its memory windows are a file this process maps (`mem_file`), and the agent
process writes a ledger of every record its OS consumed and of every SError it raised with
the SEI sources pending at that instant (`ledger`). At the instant of every POST or
notification frame the host sends, no two SEI records may be pending and no record may
sit in memory without an injection firmware holds for it; at every final journal line the
state must be what the target's memory shows; at the end, the records the OS consumed
must be exactly the ones journaled consumed.
"""

import json
import mmap
import os
import time

import pytest

from fwemu._corelib import lib
from fwemu.board import load_board
from fwemu.channel import protocol as P
from fwemu.channel.faultlink import FaultLink, Faults, pty_pair
from fwemu.errors import FwemuError
from fwemu.firmware import FirmwareModel
from fwemu.journal import Journal
from fwemu.memory import ack_reg
from fwemu.targets.agent import AgentTarget, SimAgentProcess

NOTIFY_FRAMES = {P.SEI, P.SDEI, P.SEA, P.IRQ}


@pytest.fixture(scope="module")
def board():
    return load_board("sim-agent")


class TargetView:
    """The target's memory as it is now (the agent process's window file), no channel."""

    def __init__(self, board, path):
        self.board = board
        self.base = min(w.base for w in board.windows)
        with open(path, "rb") as f:
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def reg(self, addr, width):
        off = addr - self.base
        return int.from_bytes(self.mm[off:off + width // 8], "little")

    def block(self, src, length):
        off = src.block - self.base
        return bytes(self.mm[off:off + length])

    def pending(self, src) -> bool:
        """A record the OS has not consumed: block_status set and (GHESv2) no ack."""
        if self.reg(src.block, 32) == 0:
            return False
        ra = src.read_ack
        return not (ra and lib.fw_ack_is_acked(ack_reg(src), self.reg(ra.address, ra.width)))

    def holds(self, src, record) -> bool:
        """The block's bytes after block_status are this record's (the OS clears only
        block_status when it consumes)."""
        return self.block(src, len(record))[4:] == record[4:]


class Harness:
    def __init__(self, board, tmp_path, faults, seed, url_opts=""):
        self.board = board
        self.memf, self.ledger = tmp_path / "mem", tmp_path / "ledger"
        self.proc = SimAgentProcess(board, f"mem_file={self.memf}&ledger={self.ledger}{url_opts}")
        self.fd = os.open(self.proc.pty, os.O_RDWR | os.O_NOCTTY)
        self.master, path, self.slave = pty_pair()
        self.link = FaultLink(self.master, self.fd, faults, seed=seed)
        self.target = None
        self.view = TargetView(board, self.memf)
        self.target = AgentTarget(board, url=path)        # the channel's defaults
        self.fw = FirmwareModel(board, self.target, Journal(tmp_path / "journal.jsonl"))
        self.injections = {}
        self.violations = []
        self.escaped = []
        self.sent = set()
        self.on_request = None
        self.frames = collections_counter()
        rx = P.Receiver()
        write = self.target.channel.transport.write

        def spy_write(wire):
            for payload in rx.feed(wire):
                msg = P.unpack(payload)
                if msg and (msg[0], msg[1]) not in self.sent and (msg[0] == P.POST or msg[0] in NOTIFY_FRAMES):
                    self.sent.add((msg[0], msg[1]))
                    self.frames[P.TYPE_NAMES[msg[0]]] += 1
                    self.at_request(msg)
                    if self.on_request is not None:
                        self.on_request(msg)
            write(wire)
        self.target.channel.transport.write = spy_write
        def spy_journal(data):
            for line in data.splitlines():
                self.at_journal(json.loads(line))
        self.fw.journal.tap = spy_journal

    # ---- checks at the instant of each request / journal line --------------------------------
    def at_request(self, msg):
        what = P.describe(msg)
        sei = [s for s in self.board.sources if s.notify == "sei" and self.view.pending(s)]
        if msg[0] == P.POST and self.board.source(msg[2]).notify == "sei":
            others = [s.id for s in sei if s.id != msg[2]]
            if others:
                self.violations.append(f"{what}: SEI record(s) pending in source(s) {others}")
        if msg[0] == P.SEI and len(sei) > 1:
            self.violations.append(f"{what}: {len(sei)} SEI records pending {[s.id for s in sei]}")
        for st in self.fw.sources.values():
            src = st.source
            if self.view.pending(src) and st.current is None:
                self.violations.append(f"{what}: source {src.id} holds a record firmware does not "
                                       "hold (an orphan)")

    def at_journal(self, ev):
        state = ev.get("state") if ev.get("event") == ev.get("state") else None
        if state is None or ev["id"] not in self.injections:
            return
        inj = self.injections[ev["id"]]
        src, view = inj.source, self.view
        ours = view.holds(src, inj.record)
        tag = f"#{inj.id} journaled {state} ({ev.get('reason')})"
        if state == "consumed" and not (ours and not view.pending(src)):
            self.violations.append(f"{tag}, but memory shows it {'pending' if ours else 'not written'}")
        elif state == "refused" and ours and view.pending(src):
            self.violations.append(f"{tag}, but the record is posted in memory")
        elif state == "timed-out" and "stays posted" in (ev.get("reason") or "") and \
                not (ours and view.pending(src)):
            self.violations.append(f"{tag}, but memory shows {'it consumed' if ours else 'no such record'}")

    # ---- driving ------------------------------------------------------------------------------
    def submit(self, *a, **kw):
        try:
            inj = self.fw.submit(*a, **kw)
        except FwemuError as exc:
            self.escaped.append(f"submit: {exc}")
            return None
        self.injections[inj.id] = inj
        return inj

    def wait(self, injs, seconds):
        deadline = time.monotonic() + seconds
        while not all(i.final for i in injs) and time.monotonic() < deadline:
            try:
                self.fw.pump(0.05)
            except FwemuError as exc:
                self.escaped.append(f"pump: {exc}")

    def ledger_lines(self):
        try:
            return self.ledger.read_text().splitlines()
        except OSError:
            return []

    def final_checks(self):
        """The records the OS consumed are the ones journaled consumed; no SError found two
        SEI records pending; the OS saw no hazard."""
        consumed = {}
        for line in self.ledger_lines():
            kind, *rest = line.split()
            if kind == "consumed":
                consumed[rest[2]] = int(rest[0])
            elif kind == "sei" and rest[1] != "-" and len(rest[1].split(",")) > 1:
                self.violations.append(f"SError raised on PE {rest[0]} with SEI records pending in {rest[1]}")
        late = {e["id"] for e in _journal(self.fw) if e.get("event") in ("consumed-late", "resolved")
                and e.get("found") in (None, "consumed")}
        for inj in self.injections.values():
            was = inj.digest in consumed
            if was and inj.state != "consumed" and inj.id not in late:
                self.violations.append(f"#{inj.id} (source {inj.source.id}) consumed by the OS, "
                                       f"journaled {inj.state}: {inj.reason}")
            if inj.state == "consumed" and not was:
                self.violations.append(f"#{inj.id} journaled consumed; the OS never consumed it")
            if inj.state == "refused" and "did not post (or lost track of)" in inj.reason:
                self.violations.append(f"#{inj.id} refused over a block firmware lost track of")
        with open(self.proc.log_path, encoding="utf-8") as f:
            hazards = [line for line in f if "hazard" in line]
        self.violations += hazards

    def close(self):
        if self.target is not None:
            self.target.close()
        self.link.close()
        for f in (self.master, self.slave, self.fd):
            os.close(f)
        self.proc.close()


def collections_counter():
    import collections
    return collections.Counter()


def _journal(fw):
    from fwemu.journal import read
    return read(fw.journal.path) if fw.journal.path else []


# SEI on two sources and two PEs, SDEI, SEA: the SEI pair must alternate (one pending).
VENDOR = "2d3f8e11-6a7b-4c2d-9e0f-112233445566"
ROUND = [(3, 0), (4, 1), (5, 2), (2, 3)]


def run_rounds(h, budget_s, rounds):
    k = 0
    t_end = time.monotonic() + budget_s
    for _ in range(rounds):
        if time.monotonic() > t_end:
            break
        injs = []
        for sid, pe in ROUND:
            k += 1
            # a small vendor record (96 bytes): at 1 % per byte a 1 KiB frame almost never
            # crosses, a ~130-byte one about one time in four, so the run stays short
            inj = h.submit("raw", {"guid": VENDOR, "data": f"{k:08x}"}, source_id=sid, pe=pe,
                           timeout=10)
            if inj is not None:
                injs.append(inj)
        h.wait(injs, 20)
    return k


def test_one_percent_corruption_default_channel_journal_is_the_targets_truth(board, tmp_path):
    h = Harness(board, tmp_path, Faults(corrupt=0.01), seed=12)
    try:
        n = run_rounds(h, 30, 12)
        # the line goes clean: everything in flight resolves and ends
        h.link.set_faults(Faults())
        h.wait(list(h.injections.values()), 15)
        h.final_checks()
        states = [i.state for i in h.injections.values()]
        print(f"{n} submitted:", {s: states.count(s) for s in set(states)}, dict(h.frames),
              h.target.channel.stats, h.link.stats.to_dict())
        for i in h.injections.values():
            if i.state != "consumed" or i.reason:
                print(f"  #{i.id} source {i.source.id}: {i.state}: {i.reason}")
        for e in _journal(h.fw):
            if e.get("event") == "resolved":
                print("  resolved:", e)
        assert not h.violations, "\n".join(h.violations)
        assert not h.escaped, h.escaped
        assert all(i.final for i in h.injections.values())
        assert states.count("consumed") >= len(states) // 2
        assert sum(h.link.stats.corrupted) > 0 and h.target.channel.stats.retries > 0
    finally:
        h.close()


def test_every_fault_at_once_with_resets_ends_in_what_the_target_reports(board, tmp_path):
    """Noise, duplication, drops, delays, line cuts and warm resets of the target while
    injections are in flight: a record the rebooted OS consumed is journaled consumed,
    never refused; every journal state matches the target's memory and its OS."""
    import threading
    faults = Faults(corrupt=0.01, drop=0.002, duplicate=0.005, delay=0.01, delay_s=0.02)
    h = Harness(board, tmp_path, faults, seed=21)
    stop = threading.Event()
    resets = []

    def havoc():   # for 15 s: a line cut, a warm reset, a cut, a reset, ... 3 s apart
        for k in range(5):
            if stop.wait(3.0):
                return
            if k % 2:
                h.proc.reset()
                resets.append(time.monotonic())
            else:
                h.link.cut(0.25)
    t = threading.Thread(target=havoc, daemon=True)
    t.start()
    try:
        n = run_rounds(h, 15, 10)
        stop.set()
        t.join(5)
        h.link.set_faults(Faults())
        h.wait(list(h.injections.values()), 15)
        h.final_checks()
        states = [i.state for i in h.injections.values()]
        print(f"{n} submitted, {len(resets)} resets:", {s: states.count(s) for s in set(states)},
              dict(h.frames), h.target.channel.stats, h.link.stats.to_dict())
        for i in h.injections.values():
            if i.state != "consumed" or i.reason:
                print(f"  #{i.id} source {i.source.id}: {i.state}: {i.reason}")
        for e in _journal(h.fw):
            if e.get("event") == "resolved":
                print("  resolved:", e)
        assert not h.violations, "\n".join(h.violations)
        assert not h.escaped, h.escaped
        assert all(i.final for i in h.injections.values())
        assert resets and h.target.channel.stats.resyncs > 0
        assert states.count("consumed") >= len(states) // 3
    finally:
        stop.set()
        h.close()


def test_reset_after_a_post_whose_reply_was_lost_journals_what_the_rebooted_os_did(board, tmp_path):
    """The POST executes, every reply to it is lost, the target warm-resets and its
    rebooted OS consumes the pending record at probe: the injection is journaled consumed
    (latency unknown), not refused, and nothing is posted or raised twice."""
    import threading
    h = Harness(board, tmp_path, Faults(), seed=3)
    src = board.source(2)
    done = threading.Event()

    def reset_once_posted():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not h.view.pending(src):
            time.sleep(0.005)
        h.proc.reset()                                   # the agent restarts, the OS reboots
        while time.monotonic() < deadline and not any(
                line.startswith("consumed 2 ") for line in h.ledger_lines()):
            time.sleep(0.01)
        h.link.set_faults(Faults())                      # the line comes back
        done.set()
    try:
        h.link.set_faults(Faults(), Faults(drop=1.0))    # agent → host: every byte lost
        t = threading.Thread(target=reset_once_posted, daemon=True)
        t.start()
        inj = h.submit("raw", {"guid": VENDOR, "data": "01020304"}, source_id=2, timeout=10)
        assert inj is not None, h.escaped
        h.wait([inj], 20)
        t.join(5)
        assert done.is_set()
        h.final_checks()
        print(inj.state, inj.reason, h.target.channel.stats)
        assert not h.violations, "\n".join(h.violations)
        assert not h.escaped, h.escaped
        assert inj.state == "consumed" and "latency unknown" in inj.reason, (inj.state, inj.reason)
        assert h.frames["POST"] == 1 and h.frames["SEA"] == 0     # one POST seq, never notified
        # the channel works in the new session
        inj2 = h.submit("raw", {"guid": VENDOR, "data": "05060708"}, source_id=2, timeout=5)
        h.wait([inj2], 10)
        assert inj2.state == "consumed" and not inj2.reason
    finally:
        h.close()


def _sei_lines(h):
    return [line for line in h.ledger_lines() if line.startswith("sei ")]


def test_sei_whose_replies_are_lost_is_raised_once_and_resolved_from_the_agents_memory(board, tmp_path):
    """Every reply to the SEI request is lost for longer than all its retries: the agent
    raised it once (the OS consumed the record); re-asking the same seq gets the remembered
    outcome, so the injection is journaled consumed with its latency unknown, and the SEI
    is never raised a second time."""
    import threading
    h = Harness(board, tmp_path, Faults(), seed=4)

    def lose_replies(msg):
        if msg[0] == P.SEI:
            h.link.set_faults(Faults(), Faults(drop=1.0))
            threading.Timer(8.0, lambda: h.link.set_faults(Faults())).start()
    try:
        h.on_request = lose_replies
        inj = h.submit("raw", {"guid": VENDOR, "data": "0a0b0c0d"}, source_id=3, pe=0, timeout=20)
        h.wait([inj], 25)
        h.final_checks()
        assert not h.violations, "\n".join(h.violations)
        assert not h.escaped, h.escaped
        assert inj.state == "consumed" and "latency unknown" in inj.reason, (inj.state, inj.reason)
        assert inj.latency is None
        assert len(_sei_lines(h)) == 1 and h.frames["SEI"] == 1
        assert h.fw.unresolved is None and h.fw.sei_current is None
    finally:
        h.close()


def test_dead_link_after_an_sei_post_holds_every_sei_until_the_target_answers(board, tmp_path):
    """The POST for an SEI source executes but no reply comes back, for longer than the
    injection's timeout: the injection is journaled timed-out saying the POST may have
    executed; another SEI is refused while that is unknown (the record IS in memory); when
    the line comes back the agent's answer is journaled (resolved: posted, withdrawn, never
    notified) and SEIs flow again."""
    h = Harness(board, tmp_path, Faults(), seed=5)
    src3 = board.source(3)
    try:
        h.link.set_faults(Faults(), Faults(drop=1.0))       # agent → host: every byte lost
        inj = h.submit("raw", {"guid": VENDOR, "data": "11121314"}, source_id=3, pe=0, timeout=2)
        h.wait([inj], 10)
        assert inj.state == "timed-out", (inj.state, inj.reason)
        assert "the POST may have executed; the target did not answer for" in inj.reason, inj.reason
        assert "every NOTIFY_SEI held" in inj.reason
        assert h.view.pending(src3) and h.view.holds(src3, inj.record)   # it did execute
        other = h.submit("raw", {"guid": VENDOR, "data": "21222324"}, source_id=4, pe=1, timeout=2)
        assert other.state == "refused" and "NOTIFY_SEI held" in other.reason, other.reason
        assert h.frames["POST"] == 1 and h.frames["SEI"] == 0
        h.link.set_faults(Faults())                          # the line comes back
        deadline = time.monotonic() + 15
        while h.fw.unresolved is not None and time.monotonic() < deadline:
            h.fw.pump(0.05)
        assert h.fw.unresolved is None and h.fw.sei_current is None
        resolved = [e for e in _journal(h.fw) if e.get("event") == "resolved"]
        assert [(e["id"], e["found"]) for e in resolved] == [(inj.id, "posted")], resolved
        assert not h.view.pending(src3)                      # withdrawn, never notified
        nxt = h.submit("raw", {"guid": VENDOR, "data": "31323334"}, source_id=4, pe=1, timeout=5)
        h.wait([nxt], 10)
        assert nxt.state == "consumed" and not nxt.reason
        h.final_checks()
        assert not h.violations, "\n".join(h.violations)
        assert not h.escaped, h.escaped
        assert len(_sei_lines(h)) == 1 and h.frames["SEI"] == 1
    finally:
        h.close()
