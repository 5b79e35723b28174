"""The sim board as a target agent: the C agent (compiled for the host) + the simulated
platform + the Linux OS model (fwemu.targets.sim / linux_model), in a process of its own,
reached over a real pty — the same bytes a board's UART would carry.

    python -m fwemu.targets.simagent --board sim-agent [--os-log FILE] [--delay S] …
    → prints "PTY /dev/pts/N" on stdout, then serves until SIGTERM or its parent exits.

SIGUSR1 resets the "board": the agent restarts (new boot count, EV_BOOT, no session) and the
OS model reboots; memory survives, as on a warm reset.

Test hooks (observing the target without the channel): `--mem-file F` backs the board's
windows with file F (a test maps it and sees the target's memory as it is, at any instant);
`--ledger F` appends one line per OS consumption (`consumed SOURCE PE DIGEST`, DIGEST as
the firmware journals it: sha256 of the record bytes, 16 hex digits) and per SError raised
(`sei PE PENDING`, the SEI sources holding an unconsumed record at that instant).

This is what `target.kind = "agent"` with `url = "sim-agent:"` starts (targets/agent.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import signal
import sys
import threading
import tty

from ..board import load_board
from ..channel import protocol as P
from ..channel.hostagent import HostAgent, serve
from ..sdei import SdeiDispatcher
from .linux_model import LinuxModel, OsKnobs
from .sim import SimPlatform


class SimAgentPlatform:
    """The agent's platform hooks served by SimPlatform + LinuxModel."""

    def __init__(self, board, knobs: OsKnobs, masked_pes=(), wake=None, ledger=None):
        self.board = board
        self.reset_requested = False     # set by SIGUSR1 (main)
        self.wake = wake or (lambda: None)
        self.sim = SimPlatform(board, masked_pes)
        self.os = LinuxModel(board, self.sim, self.wake, knobs)
        self.sim.os = self.os
        self.ledger = ledger
        if ledger is not None:
            self._watch_consumption()
        self._irq_kind = {}
        for s in board.sources:
            if s.notify == "external":
                self._irq_kind[s.vector] = "irq"
            elif s.notify in ("gsiv", "gpio", "sci"):
                self._irq_kind.setdefault(s.vector, "hed")

    # memory
    def map(self, pa, length):
        try:
            return self.sim.mem.ptr(pa, length)
        except Exception:  # noqa: BLE001 - AccessError: not mapped
            return None

    # test hook: the ledger
    def _note(self, line: str) -> None:
        self.ledger.write(line + "\n")
        self.ledger.flush()

    def _watch_consumption(self) -> None:
        """One ledger line per record the OS consumes (the OS model's clear + ack hook)."""
        by_block = {s.block: s for s in self.board.sources}

        def consumed(g, paddr, _read, pe):
            hdr = self.sim.mem.read(paddr, 20)
            raw_off, raw_len, data_len = (int.from_bytes(hdr[i:i + 4], "little") for i in (4, 8, 12))
            length = raw_off + raw_len if raw_len else 20 + data_len
            src = by_block.get(paddr, g.source)
            length = max(20, min(length, src.block_length))
            digest = hashlib.sha256(self.sim.mem.read(paddr, length)).hexdigest()[:16]
            self._note(f"consumed {src.id} {pe} {digest}")
        self.os.on_consume = consumed

    # notifications
    def raise_sei(self, pe):
        pending = []
        for s in self.board.sources:   # the OS model's hazard check wants the raising PE
            if s.notify == "sei" and self.sim.mem.read_reg(s.block, 32):
                self.sim.sei_owners[s.id] = pe
                if not (s.read_ack and self.sim.mem.source_consumed(s)):
                    pending.append(s.id)
        if self.ledger is not None:
            self._note(f"sei {pe} {','.join(map(str, pending)) or '-'}")
        self.os.deliver("sei", pe)
        return 0

    def sdei_dispatch(self, pe, event):
        with self.os.lock:
            why = self._why(pe, event)
            if why:
                return -1, why
            self.sim.sdei.dispatch(event, pe)
        self.os.deliver("sdei", pe, event)
        return 0, 0

    def _why(self, pe, event) -> int:
        """sdei_dispatch_event's refusals D1–D5 (firmware-conventions.md §1.2) as codes."""
        d = self.sim.sdei
        if d.refusal(event, pe) is None:
            return 0
        if d.masked[pe]:
            return P.WHY_MASKED
        if event == 0:
            return P.WHY_EVENT0
        ev = d.events.get(event)
        if ev is None or not ev.explicit:
            return P.WHY_NOT_EXPLICIT
        if d.running[pe]:
            return P.WHY_PRIORITY
        return P.WHY_STATE

    def sdei_state(self, pe, event):
        with self.os.lock:
            d = self.sim.sdei
            ev = d.events.get(event)
            if ev is None:
                return -1, 0
            st = ev.state if ev.shared else d.private[(event, pe)].state
            bits = (P.ST_REGISTERED if st[2] == "G" else 0) | (P.ST_ENABLED if st[1] == "E" else 0)
            bits |= (P.ST_RUNNING if st[0] == "R" else 0) | (P.ST_PE_MASKED if d.masked[pe] else 0)
            return 0, bits | (P.ST_CRITICAL if ev.critical else 0)

    def pend_irq(self, pe, intid):
        self.os.deliver(self._irq_kind.get(intid, "irq"), pe, intid)
        return 0

    def raise_sea(self, pe):
        self.os.deliver("sea", pe)
        return 0

    def status_blob(self):
        st = self.os.state()
        st.pop("knobs", None)
        return json.dumps({"os": st}, separators=(",", ":"), default=str).encode()

    def reboot(self) -> None:
        """A warm reset: SDEI state back to boot, the OS boots again (memory survives)."""
        with self.os.lock:
            self.os.work.clear()
            self.sim.sdei = SdeiDispatcher(self.board.pes.count)
            for ev in self.board.sdei_events:
                self.sim.sdei.define(ev.number, ev.critical, ev.shared, ev.binding == "explicit")
            self.os.boot()


def windows_of(board) -> list[tuple[int, int, int]]:
    return [(w.base, w.size, P.WIN_READ | P.WIN_WRITE) for w in board.windows]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="the sim board behind the fwemu target agent, on a pty")
    ap.add_argument("--board", default="sim-agent")
    ap.add_argument("--os-log", help="append the OS model's log lines to this file")
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--deaf", action="store_true")
    ap.add_argument("--sei-mode", default="walk")
    ap.add_argument("--masked-pes", default="")
    ap.add_argument("--mem-file", help="test hook: back the memory windows with this file")
    ap.add_argument("--ledger", help="test hook: log consumptions and SErrors to this file")
    args = ap.parse_args(argv)
    board = load_board(args.board)
    if args.mem_file:
        size = max(w.size for w in board.windows)
        with open(args.mem_file, "wb") as f:
            f.truncate(size * len(board.windows))
        board = dataclasses.replace(board, windows=tuple(
            dataclasses.replace(w, path=args.mem_file, offset=i * size)
            for i, w in enumerate(board.windows)))
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)

    def wake():
        try:
            os.write(wake_w, b"!")
        except OSError:
            pass

    knobs = OsKnobs(delay=args.delay, deaf=args.deaf, sei_mode=args.sei_mode)
    masked = [int(x) for x in args.masked_pes.split(",") if x]
    ledger = open(args.ledger, "a", encoding="utf-8") if args.ledger else None
    plat = SimAgentPlatform(board, knobs, masked, wake, ledger)
    agent = HostAgent(plat, board.name, board.pes.count, windows_of(board), boot_count=1)
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGUSR1, lambda *_: setattr(plat, "reset_requested", True))
    parent = os.getppid()
    log_f = open(args.os_log, "a", encoding="utf-8") if args.os_log else None
    mark = [0]

    def tick():
        if os.getppid() != parent:
            stop.set()
        if plat.reset_requested:
            plat.reset_requested = False
            plat.reboot()
            agent.reset_soon()
        if log_f is not None:
            lines, mark[0] = plat.os.lines_since(mark[0])
            if lines:
                log_f.write("".join(line + "\n" for line in lines))
                log_f.flush()

    print(f"PTY {os.ttyname(slave)}", flush=True)
    try:
        serve(agent, master, master, stop, wake_fd=wake_r, watch_period=0.005, on_tick=tick)
    finally:
        tick()
        plat.os.stop()
        if log_f:
            log_f.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
