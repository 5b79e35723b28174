"""A burst's journal lines formatted as one block (injection.accepted_block / final_block:
one C call for the block's common lines, csrc/jline.c's fw_jline_*_n): byte for byte the lines
the injections give one by one, each followed by "\\n", whatever the mix of common and
other lines, and where C cannot format a batch (a float with no exact short form, a value
out of its range, a name holding a NUL)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fwemu import injection
from fwemu.board import load_board
from fwemu.firmware import FINAL, Injection
from fwemu.injection import accepted_block, final_block

SIM = load_board("sim")
text = st.text(max_size=20)     # any unicode: quotes, backslashes, control characters, NUL
no_nul = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=20)   # a name C takes
# instants as the journal holds them, exact ties at the 6th decimal (k/128), and ones C
# refuses (past 4e12: the per-line Python formatting writes those), one draw in ten
_usual = st.floats(0, 4e6, allow_nan=False) | st.integers(0, 1 << 29).map(lambda k: k / 128)
instant = st.integers(0, 9).flatmap(lambda k: st.floats(1e12, 1e16) if k == 0 else _usual)
fields = (st.none() | st.dictionaries(st.sampled_from(["--address", "--bdf", "--fru-text", "é\"\\"]), text,
                                      max_size=3)
          | st.dictionaries(st.just("--n"), st.integers(), max_size=1))    # not text: json.dumps


_either = st.booleans()


@st.composite
def injections(draw, common=_either):
    t0 = draw(instant)
    later = st.floats(0, 100, allow_nan=False).map(lambda d: t0 + d) | st.integers(0, 1 << 14).map(
        lambda k: t0 + k / 128)
    inj = Injection(
        id=draw(st.integers(0, 2**64 - 1)), scenario=draw(st.sampled_from(["memory-ue", "raw"]) | text),
        source=draw(st.sampled_from(SIM.sources)), pe=draw(st.integers(0, 2**32 - 1)),
        record=draw(st.binary(max_size=300)), timeout=5.0,
        accepted_wall=draw(st.floats(1.6e9, 2.2e9) | st.integers(0, 1 << 40).map(lambda k: k / 128)),
        t_accepted=t0, digest=draw(st.text("0123456789abcdef", min_size=16, max_size=16) | no_nul),
        state=draw(st.sampled_from(FINAL + ("accepted", "queued"))),
        t_posted=draw(later), t_notified=draw(later), t_consumed=draw(later), t_end=draw(later),
        run=draw(st.sampled_from(["", "20261202T002604-4242-0a1b2c3d", "R"] * 3 + ["r\0x"])), fields=draw(fields))
    if draw(st.booleans()):
        inj.fields_text = injection._fields_json(inj.fields)     # as when its first line was made
    if not draw(common):      # one or more of what makes a line not the common one
        inj.reason = draw(st.just("") | text)
        inj.t_posted, inj.t_notified, inj.t_consumed, inj.t_end = (
            draw(st.none() | st.just(t)) for t in (inj.t_posted, inj.t_notified, inj.t_consumed, inj.t_end))
        inj.left_in_memory = draw(st.none() | st.just({"block_status": 17}))
        inj.warnings = draw(st.lists(text, max_size=2))
        inj.unsafe_sei, inj.forged = draw(st.booleans()), draw(st.booleans())
    return inj


events = st.sampled_from(FINAL + ("consumed-late",))


def _twins(injs: list[Injection]) -> list[Injection]:
    """Copies for the per-line path, whose cached field text must not reach the originals
    (field by field: a compiled Injection does not deepcopy)."""
    return [Injection(**{f.name: getattr(i, f.name) for f in dataclasses.fields(i)}) for i in injs]


def _per_line_accepted(injs: list[Injection]) -> bytes:
    return b"".join(i.accepted_bytes() + b"\n" for i in _twins(injs))


def _per_line_final(items: list[tuple[Injection, str]]) -> bytes:
    twins = _twins([i for i, _ in items])
    return b"".join(t.journal_bytes(ev) + b"\n" for t, (_, ev) in zip(twins, items, strict=True))


@settings(max_examples=400, deadline=None)
@given(st.lists(injections(), max_size=40))
def test_accepted_block_is_the_lines_one_by_one(injs):
    want = _per_line_accepted(injs)
    assert accepted_block(injs) == want
    assert accepted_block(injs) == want        # again, every fields_text now made


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(injections(), events), max_size=40))
def test_final_block_is_the_lines_one_by_one(items):
    assert final_block(items) == _per_line_final(items)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(injections(common=st.just(True)), events), min_size=1, max_size=40))
def test_common_lines_only(items):
    assert final_block(items) == _per_line_final(items)


def _common(n: int) -> list[Injection]:
    out = []
    for k in range(n):
        t = 100.0 + k / 128
        out.append(Injection(id=k + 1, scenario="memory-ue", source=SIM.sources[k % len(SIM.sources)], pe=k % 4,
                             record=bytes(range(k % 50 + 3)), timeout=5.0, accepted_wall=1.7e9 + t,
                             t_accepted=t, digest="%016x" % k, state="consumed", t_posted=t + 0.5,
                             t_notified=t + 0.75, t_consumed=t + 1, t_end=t + 1.25, run="R",
                             fields={"--address": "0x%x" % k} if k % 3 else None))
    return out


def test_empty():
    assert accepted_block([]) == b"" and final_block([]) == b""


def test_a_burst_of_common_lines_is_one_c_call_and_no_line_by_line(monkeypatch):
    injs = _common(256)
    want_acc = _per_line_accepted(injs)
    want_fin = _per_line_final([(i, "consumed") for i in injs])

    def refused(*a, **k):
        raise AssertionError("formatted line by line")
    calls = {"accepted": 0, "final": 0}

    class Lib:
        def __getattr__(self, name):
            return getattr(real, name)

        def fw_jline_accepted_n(self, *a):
            calls["accepted"] += 1
            return real.fw_jline_accepted_n(*a)

        def fw_jline_final_n(self, *a):
            calls["final"] += 1
            return real.fw_jline_final_n(*a)
    real = injection.lib
    monkeypatch.setattr(injection, "lib", Lib())
    monkeypatch.setattr(Injection, "accepted_bytes", refused)
    monkeypatch.setattr(Injection, "journal_bytes", refused)
    assert accepted_block(injs) == want_acc
    assert final_block([(i, "consumed") for i in injs]) == want_fin
    assert calls == {"accepted": 1, "final": 1}


def test_common_lines_between_others_are_one_call(monkeypatch):
    injs = _common(10)
    injs[3].reason = "target: no"
    injs[4].warnings = ["w"]
    injs[8].t_end = None
    injs[9].digest = "a\nb"       # a raw newline in a line: C's line ends place the others
    items = [(i, "consumed") for i in injs]
    real, n = injection.lib.fw_jline_final_n, []

    def counted(*a):
        n.append(a[2])
        return real(*a)

    class Lib:
        fw_jline_final_n = staticmethod(counted)
    monkeypatch.setattr(injection, "lib", Lib())
    monkeypatch.setattr(Injection, "journal_bytes",
                        lambda self, ev: Injection._python_line(self, ev).encode())   # no C single
    assert final_block(items[:9]) == _per_line_final(items[:9])
    assert n == [6]      # rows 0-2 and 5-7, around the others
    assert final_block(items) == _per_line_final(items)
    assert n == [6, 7]


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e15, 2.0**80])
def test_a_float_c_refuses_falls_back_to_the_lines(bad):
    """C answers FW_JLINE_NOFIT for the whole batch: the block is then the lines one by one
    (the single C call refuses that line too, and Python's %-formatting writes it)."""
    injs = _common(6)
    injs[2].t_consumed = bad
    injs[4].accepted_wall = bad
    items = [(i, "consumed") for i in injs]
    assert final_block(items) == _per_line_final(items)
    assert accepted_block(injs) == _per_line_accepted(injs)


def test_a_value_out_of_cs_range_is_what_the_lines_do():
    injs = _common(3)
    injs[1].id = 2**64         # neither array('Q') nor the single call takes it
    with pytest.raises(OverflowError):
        _per_line_accepted(injs)
    with pytest.raises(OverflowError):
        accepted_block(injs)
    injs[1].id, injs[2].pe = 5, -1
    items = [(i, "consumed") for i in injs]
    with pytest.raises(OverflowError):
        _per_line_final(items)
    with pytest.raises(OverflowError):
        final_block(items)


def test_a_name_holding_a_nul_falls_back_to_the_lines():
    injs = _common(4)
    injs[1].run = "a\0b"
    items = [(i, "con\0sumed") for i in injs]
    assert accepted_block(injs) == _per_line_accepted(injs)
    assert final_block(items) == _per_line_final(items)
