"""RecordFactory's uniqueness clock, with the wall clock under the test's control: every
record made within Linux's 10-s duplicate window differs from every other in its bytes,
identical content runs ahead of the wall past 128 records a second (and says so once a
second), and content starts again at sequence 0 once the wall has passed its time."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fwemu import scenarios
from fwemu.board import load_board

SIM = load_board("sim")
TS = scenarios.RecordFactory.TS_OFFSET
WALL = 1_764_000_000


@pytest.fixture
def clock(monkeypatch):
    now = [WALL + 0.25]
    monkeypatch.setattr(scenarios.time, "time", lambda: now[0])
    return now


def stamp(factory, rec: bytes) -> tuple[int, int]:
    """(second offset from WALL, sequence) of a record's GDE timestamp."""
    ts = struct.unpack_from("<Q", rec, TS)[0]
    seq, base = ts >> 25 & 0x7F, ts & ~(0x7F << 25)
    for k in range(-1, 12):
        if factory._ts_for(WALL + k) == base:
            return k, seq
    raise AssertionError(f"timestamp {ts:#x} is not within the test's seconds")


def test_identical_content_runs_ahead_and_stays_unique(clock):
    f = scenarios.RecordFactory(SIM.pes.mpidr)
    warnings: list[str] = []
    recs = [f.make("memory-ue", {"address": "0x60000000"}, warnings=warnings) for _ in range(300)]
    assert len(set(recs)) == 300
    # the wall's second whole, then at most 64 of each second ahead (room for other processes)
    assert [stamp(f, r) for r in recs] == [(0, q) for q in range(128)] + [(1, q) for q in range(64)] \
        + [(2, q) for q in range(64)] + [(3, q) for q in range(44)]
    assert len(warnings) == 1 and "runs 1 s ahead" in warnings[0]

    other = f.make("memory-ue", {"address": "0x60001000"})          # other content: its own clock
    assert stamp(f, other) == (0, 0)

    clock[0] = WALL + 1.5      # the wall reaches second 1: the ahead content keeps counting at 3
    more = [f.make("memory-ue", {"address": "0x60000000"}, warnings=warnings) for _ in range(100)]
    assert [stamp(f, r) for r in more] == [(3, q) for q in range(44, 64)] + [(4, q) for q in range(64)] \
        + [(5, q) for q in range(16)]
    assert len(warnings) == 2                                          # once per wall second
    assert stamp(f, f.make("memory-ue", {"address": "0x60001000"})) == (1, 0)

    clock[0] = WALL + 6.1      # past its logical second: back to the wall, sequence 0
    again = f.make("memory-ue", {"address": "0x60000000"})
    assert stamp(f, again) == (6, 0)
    assert len(set(recs + more + [again])) == 401


def test_distinct_content_in_one_second_each_starts_at_zero(clock):
    f = scenarios.RecordFactory(SIM.pes.mpidr)
    recs = [f.make("memory-ue", {"address": hex(0x60000000 + k * 4096)}) for k in range(1000)]
    assert {stamp(f, r) for r in recs} == {(0, 0)}
    assert len(set(recs)) == 1000
    # a non-memory scenario (timestamp patched into cached bytes) keeps the same rules
    arm = [f.make("arm-cache-ue", {}) for _ in range(130)]
    assert [stamp(f, r)[1] for r in arm[:3]] == [0, 1, 2] and stamp(f, arm[128]) == (1, 0)
    assert len(set(arm)) == 130


# ---- uniqueness per board: across PEs, factories (processes) and restarts (issue 12 item 3)

def test_the_same_memory_error_on_two_pes_in_one_second_differs(clock, tmp_path):
    """The issue's reproduction: memory-ue on PE 0, then on PE 1 (a memory section does not
    name the PE, so only the timestamp can tell them apart)."""
    f = scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=tmp_path / "s.json")
    for kind in ("memory-ue", "pcie-ue", "memory-ce"):
        recs = [f.make(kind, {}, pe=pe) for pe in (0, 1, 2, 3, 0)]
        assert len(set(recs)) == 5, kind
    # fields that spell the same content differently share one clock too
    a = f.make("memory-ue", {"address": "0x60000000", "error_type": "3"}, pe=2)
    b = f.make("memory-ue", {}, pe=3)
    assert a != b


def test_two_factories_of_one_board_never_repeat_and_a_restart_neither(clock, tmp_path):
    """Two firmware instances of one board (two processes, or the daemon and an in-process
    run) share the board's state file; a third made afterwards (a restart) continues it."""
    path = tmp_path / "stamps-sim.json"
    f1 = scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=path)
    f2 = scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=path)
    recs = []
    for k in range(200):
        recs.append((f1 if k % 3 else f2).make("memory-ue", {}, pe=k % 4))
    f1.stamps.close()
    f3 = scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=path)
    recs += [f3.make("memory-ue", {}, pe=1) for _ in range(50)]
    assert len(set(recs)) == 250
    fixed = {"timestamp": "2024-05-01T12:00:00"}
    fx = [f.make("memory-ue", fixed, pe=pe) for f in (f2, f3) for pe in (0, 1)]
    assert len(set(fx)) == 4


def test_fixed_timestamp_past_its_128_sequence_values_warns(tmp_path):
    f = scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=tmp_path / "s.json")
    warnings: list[str] = []
    fixed = {"timestamp": "2024-05-01T12:00:00"}
    recs = [f.make("memory-ue", fixed, warnings=warnings) for _ in range(128)]
    assert len(set(recs)) == 128 and not warnings
    f.make("memory-ue", fixed, warnings=warnings)
    assert len(warnings) == 1 and "may repeat an earlier one" in warnings[0]


def test_an_unusable_state_file_warns_and_stays_unique_in_the_process(clock, tmp_path):
    (tmp_path / "ro").mkdir(mode=0o500)
    f = scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=tmp_path / "ro" / "x" / "s.json")
    recs = [f.make("memory-ue", {}, pe=k % 2) for k in range(10)]
    assert len(set(recs)) == 10
    if os.geteuid() != 0:
        assert f.stamps.warnings and "unique within this process only" in f.stamps.warnings[0]


SCEN = st.sampled_from(["memory-ue", "memory-ce", "pcie-ue", "arm-tlb", "generic-cpu"])
FIELDS = st.sampled_from([{}, {"address": "0x60001000"}, {"address": "0x60000000"},
                          {"timestamp": "2024-05-01T12:00:00"}, {"timestamp": "now"},
                          {"severity": "recoverable"}])
OPS = st.lists(st.tuples(st.integers(0, 3),            # which firmware instance (0..2), 3: restart one
                         SCEN, st.integers(0, 3), FIELDS,
                         st.integers(0, 2)),            # seconds the wall moves before it (0 mostly)
               min_size=1, max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_property_no_record_repeats_on_a_board_without_a_warning(clock, tmp_path_factory, ops):
    """Any interleaving of scenarios, PEs, fields (fixed timestamps included), firmware
    instances sharing the board and restarts of them, within Linux's 10-s window: no record
    equals an earlier one, unless fwemu warned on that record that it may."""
    clock[0] = WALL + 0.25
    path = tmp_path_factory.mktemp("stamps") / "stamps-sim.json"
    inst = [scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=path) for _ in range(3)]
    seen: set[bytes] = set()
    for who, kind, pe, fields, step in ops:
        clock[0] += step if step == 2 else 0    # mostly one second: the hard case
        if clock[0] - WALL > 9:
            clock[0] = WALL + 9.5
        if who == 3:
            inst[pe % 3].stamps.close()
            inst[pe % 3] = scenarios.RecordFactory(SIM.pes.mpidr, board="sim", state_path=path)
            continue
        warnings: list[str] = []
        rec = inst[who].make(kind, fields, pe=pe, warnings=warnings)
        if not any("may repeat" in w for w in warnings):
            assert rec not in seen, (kind, pe, fields)
        seen.add(rec)


# make_many's items: mostly address sweeps on one PE (its batched case), broken up by other
# PEs, other scenarios, more fields, repeated addresses and no address at all
_ADDR = st.sampled_from(["0x60000000", "0x60001000", "0x40000000", "0x7fff_f000"])
MANY_ITEM = st.one_of(
    st.tuples(st.just("memory-ue"), st.builds(lambda a: {"address": a}, _ADDR), st.just(0)),
    st.tuples(st.just("memory-ue"), st.builds(lambda a: {"address": a}, _ADDR), st.integers(0, 3)),
    st.tuples(st.sampled_from(["memory-ue", "memory-ce", "arm-tlb"]), FIELDS, st.integers(0, 3)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(MANY_ITEM, max_size=700), ahead=st.integers(0, 1))
def test_make_many_gives_what_make_gives_one_by_one(clock, items, ahead):
    """make_many (C-batched runs of address sweeps) and make() item by item, on two factories
    in the same state: the same bytes and the same warnings, item for item."""
    clock[0] = WALL + 0.25
    one, many = (scenarios.RecordFactory(SIM.pes.mpidr) for _ in range(2))
    if ahead:      # content already running ahead of the wall: warnings and later seconds
        for f in (one, many):
            for _ in range(130):
                f.make("memory-ue", {"address": "0x60000000"})
    w_one: list[list[str]] = [[] for _ in items]
    w_many: list[list[str]] = [[] for _ in items]
    expect = [one.make(s, dict(f), pe, True, w) for (s, f, pe), w in zip(items, w_one, strict=True)]
    assert many.make_many([(s, dict(f), pe) for s, f, pe in items], True, w_many) == expect
    assert w_many == w_one


_CHILD = r"""
import sys, time
from fwemu import scenarios
from fwemu.board import load_board
board = load_board("sim")
f = scenarios.RecordFactory(board.pes.mpidr, board="sim")
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.001)
out = []
for k in range(int(sys.argv[2])):
    out.append(f.make("memory-ue", {}, pe=k % 4).hex())
    out.append(f.make("memory-ue", {"timestamp": "2024-05-01T12:00:00"}, pe=k % 4).hex())
print("\n".join(out))
"""


def test_property_holds_across_real_processes(tmp_path):
    """Four processes started together, each making the same memory error on every PE
    (and with one fixed timestamp): all of their records differ, through the board's state
    file under XDG_STATE_HOME."""
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path))
    start = time.time() + 1.0
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(start), "25"], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    recs = []
    for p in procs:
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        recs += out.split()
    assert len(recs) == 200 and len(set(recs)) == 200
    assert (tmp_path / "fwemu" / "stamps-sim.json").exists()
