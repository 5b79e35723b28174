"""Helpers for the real-kernel tests: run one injection on the qemu-virt guest and the same
one on the sim board, and compare what each OS printed.

The sim side runs on a sim board made from the DISCOVERED qemu board (same source ids,
notification kinds, addresses, block lengths, Read Ack masks; anonymous memory instead of
the guest RAM file), so both logs name the same source and differ only where the sim's OS
model differs from Linux.
"""

from __future__ import annotations

import collections
import difflib
import os
import re
import struct
import time

import pytest

from fwemu.board import Board, board_from_dict
from fwemu.firmware import FirmwareModel
from fwemu.journal import Journal
from fwemu.records import encode
from fwemu import scenarios
from fwemu.session import Session
from fwemu.targets.sim import SimTarget

REQUIRE = os.environ.get("FWEMU_REQUIRE_LINUX") == "1"
REPORT: dict = {"boot_s": [], "latency_ms": {}, "diffs": {}, "notes": []}


def need_linux() -> None:
    """Skip when the real-Linux prerequisites are missing; fail instead under
    FWEMU_REQUIRE_LINUX=1 (CI must run these tests, not skip them)."""
    from fwemu.qemu.image import missing_prerequisites

    missing = missing_prerequisites()
    if missing:
        msg = "real-Linux prerequisites missing: " + "; ".join(missing)
        if REQUIRE:
            pytest.fail(msg + " (FWEMU_REQUIRE_LINUX=1: this is a failure)", pytrace=False)
        pytest.skip(msg)


# Lines both logs are compared on: the kernel's GHES / CPER / memory_failure / AER output.
RELEVANT = re.compile(r"\[Hardware Error\]|^Memory failure:|\[Firmware Warn\]|\[Firmware Bug\]|"
                      r"^Kernel panic - not syncing|^AER[: ]|^GHES: |ghes_print_estatus")
IGNORED = re.compile(r"^rcu: |rcu_sched|^\[sim\]")        # RCU stall chatter; sim-only notes
SEQ = re.compile(r"^\{\d+\}")
PID = re.compile(r"^(GHES: [^:]+):\d+:")       # comm:pid of the task that took the SEA
FIXED_TIMESTAMP = "2025-05-20T12:34:56"


def relevant(lines: list[str]) -> list[str]:
    """The compared lines, with the {N} record sequence number made neutral (each OS counts
    its own records since its boot)."""
    return [PID.sub(r"\1:<pid>:", SEQ.sub("{N}", line))
            for line in lines if RELEVANT.search(line) and not IGNORED.search(line)]


class Pacer:
    """Keeps injections under the kernel's print rate limit (ghes_print_estatus: 2 records
    per 5 s, counted separately for corrected/info and for uncorrected), so every record the
    tests inject is printed, as it is on the sim (which boots a fresh OS per comparison).

    The kernel's window starts at whichever print comes first after the last one expired,
    which this side cannot see, so the rule kept is one no window alignment can break: any
    three prints of a bucket span more than WINDOW. A print comes after before() returns by
    the injection's own time (a typed devmem; over a second on a loaded CI machine): SLACK."""

    WINDOW = 5.0
    SLACK = 2.0

    def __init__(self):
        self.times = {}

    def before(self, corrected: bool) -> float:
        q = self.times.setdefault(corrected, collections.deque(maxlen=2))
        waited = 0.0
        if len(q) == 2:
            waited = max(0.0, q[0] + self.WINDOW + self.SLACK - time.monotonic())
            if waited:
                time.sleep(waited)
        q.append(time.monotonic())
        return waited


def sim_board_like(qboard: Board) -> Board:
    d = qboard.to_dict()
    d["name"] = "sim-like-" + qboard.name
    d["target"] = {"kind": "sim"}
    for w in d["window"]:
        w.pop("path", None)
        w["offset"] = 0
        w["access"] = "local"          # an agent board's remote window, as sim memory
    d.pop("file", None)
    d.pop("shipped", None)
    return board_from_dict(d)


def session_on(target) -> Session:
    """A Session over an already open target, built on the target's (discovered) board.
    Not closed by callers that share the target: the target outlives it."""
    j = Journal(None)
    return Session(target.board, target, FirmwareModel(target.board, target, j), j)


def inject(session: Session, scenario: str, fields: dict | None = None, *, record: bytes | None = None,
           notify: str | None = None, source: int | None = None, timeout: float = 10.0) -> dict:
    req = {"scenario": scenario, "fields": fields or {}, "timeout": timeout}
    if source is not None:
        req["source"] = source
    if record is not None:
        req["record"] = record
    if notify:
        req["notify"] = notify
    t0 = time.monotonic()
    res = session.inject(req)
    res["wall_s"] = time.monotonic() - t0
    res["injection"] = res["injections"][0]
    return res


def run_sim(qboard: Board, scenario: str, fields: dict | None = None, *, record: bytes | None = None,
            notify: str | None = None, source: int | None = None, knobs=None) -> dict:
    sboard = sim_board_like(qboard)
    target = SimTarget(sboard, knobs)
    j = Journal(None)
    sess = Session(sboard, target, FirmwareModel(sboard, target, j), j)
    try:
        return inject(sess, scenario, fields, record=record, notify=notify, source=source, timeout=5.0)
    finally:
        sess.close()


def compare(sim_lines: list[str], real_lines: list[str]) -> list[tuple[str | None, str | None]]:
    """(sim line, real line) for every line where the two differ; None where one side has no
    counterpart. Empty when identical."""
    a, b = relevant(sim_lines), relevant(real_lines)
    out = []
    sm = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in sm.get_opcodes():
        if op == "equal":
            continue
        left, right = a[i1:i2], b[j1:j2]
        for k in range(max(len(left), len(right))):
            out.append((left[k] if k < len(left) else None, right[k] if k < len(right) else None))
    return out


def format_diff(pairs) -> str:
    return "\n".join(f"  sim : {s!r}\n  real: {r!r}" for s, r in pairs)


def record_bytes(scenario: str, fields: dict, mpidr: int = 0) -> bytearray:
    return bytearray(encode(scenarios.build(scenario, fields, mpidr=mpidr)))


def with_data_length(rec: bytearray, data_length: int) -> bytes:
    """GESB data_length forged (the kernel's L3 check: 20 + data_length > block length)."""
    struct.pack_into("<I", rec, 12, data_length)
    return bytes(rec)


def with_entry_length(rec: bytearray, error_data_length: int) -> bytes:
    """First GDE's error_data_length forged (the kernel's E2 check)."""
    struct.pack_into("<I", rec, 20 + 24, error_data_length)
    return bytes(rec)


def with_block_status(rec: bytearray, value: int) -> bytes:
    struct.pack_into("<I", rec, 0, value)
    return bytes(rec)


def iomem_memory(text: str, ram_base: int, ram_size: int) -> tuple:
    """The sim OS model's memory map (OsKnobs.memory) from the guest's /proc/iomem: reserved
    ranges and the kernel's code/data inside RAM are 'reserved'; a reserved range outside RAM
    (memblock memory the kernel never onlines, e.g. the flash bank at 0x04000000) is
    'outside'."""
    out = []
    for line in text.splitlines():
        m = re.match(r"\s*([0-9a-f]+)-([0-9a-f]+) : (reserved|Kernel code|Kernel data)\s*$", line)
        if not m:
            continue
        first, last = int(m.group(1), 16), int(m.group(2), 16)
        inside = ram_base <= first < ram_base + ram_size
        out.append((first, last, "reserved" if inside else "outside"))
    return tuple(out)
