"""RecordFactory's uniqueness clock, with the wall clock under the test's control: every
record made within Linux's 10-s duplicate window differs from every other in its bytes,
identical content runs ahead of the wall past 128 records a second (and says so once a
second), and content starts again at sequence 0 once the wall has passed its time."""

from __future__ import annotations

import struct

import pytest

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
    recs = [f.make("memory-ue", {"--address": "0x60000000"}, warnings=warnings) for _ in range(300)]
    assert len(set(recs)) == 300
    assert [stamp(f, r) for r in recs] == [(0, q) for q in range(128)] + [(1, q) for q in range(128)] \
        + [(2, q) for q in range(44)]
    assert len(warnings) == 1 and "runs 1 s ahead" in warnings[0]

    other = f.make("memory-ue", {"--address": "0x60001000"})          # other content: its own clock
    assert stamp(f, other) == (0, 0)

    clock[0] = WALL + 1.5      # the wall reaches second 1: the ahead content keeps counting at 2
    more = [f.make("memory-ue", {"--address": "0x60000000"}, warnings=warnings) for _ in range(100)]
    assert [stamp(f, r) for r in more] == [(2, q) for q in range(44, 128)] + [(3, q) for q in range(16)]
    assert len(warnings) == 2                                          # once per wall second
    assert stamp(f, f.make("memory-ue", {"--address": "0x60001000"})) == (1, 0)

    clock[0] = WALL + 4.1      # past its logical second: back to the wall, sequence 0
    again = f.make("memory-ue", {"--address": "0x60000000"})
    assert stamp(f, again) == (4, 0)
    assert len(set(recs + more + [again])) == 401


def test_distinct_content_in_one_second_each_starts_at_zero(clock):
    f = scenarios.RecordFactory(SIM.pes.mpidr)
    recs = [f.make("memory-ue", {"--address": hex(0x60000000 + k * 4096)}) for k in range(1000)]
    assert {stamp(f, r) for r in recs} == {(0, 0)}
    assert len(set(recs)) == 1000
    # a non-memory scenario (timestamp patched into cached bytes) keeps the same rules
    arm = [f.make("arm-cache-ue", {}) for _ in range(130)]
    assert [stamp(f, r)[1] for r in arm[:3]] == [0, 1, 2] and stamp(f, arm[128]) == (1, 0)
    assert len(set(arm)) == 130
