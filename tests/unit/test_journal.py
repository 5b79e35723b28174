"""The journal's direct formatting: each line parses to exactly the injection's to_json()
(keys, order, values) plus "event", whatever its state, times, reason text or extras; and
lines reach the file, whole, as they are written."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fwemu import journal
from fwemu.board import load_board
from fwemu.firmware import FINAL, Injection

SIM = load_board("sim")
times = st.floats(0, 1e6, allow_nan=False)
text = st.text(max_size=40)     # any unicode: quotes, backslashes, control characters


@st.composite
def injections(draw):
    t0 = draw(times)
    later = st.none() | st.floats(0, 100, allow_nan=False).map(lambda d: t0 + d)
    return Injection(
        id=draw(st.integers(1, 2**40)), scenario=draw(st.sampled_from(["memory-ue", "raw"]) | text),
        source=draw(st.sampled_from(SIM.sources)), pe=draw(st.integers(0, 3)),
        record=bytes(draw(st.integers(20, 400))), timeout=5.0,
        accepted_wall=draw(st.floats(1.6e9, 2.2e9)), t_accepted=t0,
        digest=draw(st.text("0123456789abcdef", min_size=16, max_size=16)),
        state=draw(st.sampled_from(FINAL + ("accepted", "queued", "notified"))),
        reason=draw(st.just("") | text), t_posted=draw(later), t_notified=draw(later),
        t_consumed=draw(later), left_in_memory=draw(st.none() | st.just({"block_status": 17})),
        warnings=draw(st.lists(text, max_size=2)), unsafe_sei=draw(st.booleans()),
        forged=draw(st.booleans()), run=draw(st.sampled_from(["", "20261202T002604-4242-0a1b2c3d"])),
        t_end=draw(later),
        fields=draw(st.none() | st.dictionaries(st.sampled_from(["--address", "--bdf", "--fru-text"]), text,
                                                max_size=3)))


@settings(max_examples=2000, deadline=None)
@given(injections(), st.sampled_from(FINAL + ("consumed-late",)))
def test_journal_line_is_to_json_plus_the_event(inj, event):
    line = inj.journal_line(event)
    want = dict(inj.to_json(), event=event)
    got = json.loads(line)
    assert got == want and list(got) == list(want)
    assert "\n" not in line and line.isascii()


@settings(max_examples=500, deadline=None)
@given(injections(), st.lists(times, min_size=4, max_size=4), st.sampled_from(FINAL))
def test_the_common_line_formatted_in_one_operation_is_the_same(inj, ts, event):
    """Every instant known, no reason, no extras: journal_line's fast path."""
    t0 = inj.t_accepted
    inj.t_posted, inj.t_notified, inj.t_consumed, inj.t_end = sorted(t0 + t for t in ts)
    inj.reason, inj.left_in_memory, inj.warnings, inj.unsafe_sei, inj.forged = "", None, [], False, False
    want = dict(inj.to_json(), event=event)
    got = json.loads(inj.journal_line(event))
    assert got == want and list(got) == list(want)


@settings(max_examples=500, deadline=None)
@given(injections(), st.lists(st.floats(0, 4e6) | st.integers(0, 1 << 29).map(lambda k: k / 128), min_size=4,
                              max_size=4), st.sampled_from(FINAL))
def test_the_common_line_from_c_is_pythons_text(inj, ts, event):
    """The common line comes from the C formatter (csrc/jline.c): byte for byte the text
    Python's %-formatting gives (ties at the 6th decimal, k/128, included)."""
    inj.t_accepted = ts[0]
    inj.t_posted, inj.t_notified, inj.t_consumed, inj.t_end = sorted(ts)
    inj.reason, inj.left_in_memory, inj.warnings, inj.unsafe_sei, inj.forged = "", None, [], False, False
    assert inj.journal_bytes(event) == inj._python_line(event).encode()


@settings(max_examples=300, deadline=None)
@given(injections())
def test_accepted_line(inj):
    got = json.loads(inj.accepted_line())
    assert got == {"event": "accepted", "id": inj.id, "scenario": inj.scenario, "source": inj.source.id,
                   "notify": inj.source.notify, "pe": inj.pe, "digest": inj.digest,
                   "accepted": round(inj.accepted_wall, 6), "run": inj.run,
                   "m_accepted": round(inj.t_accepted, 6), "length": len(inj.record),
                   "bs": int.from_bytes(inj.record[:4], "little"), "fields": inj.fields or {}}


def test_lines_are_in_the_file_when_write_returns(tmp_path):
    path = tmp_path / "sub" / "j.jsonl"
    j = journal.Journal(path)
    j.write({"event": "x", "n": 1})
    assert journal.read(path) == [{"event": "x", "n": 1}]    # no close, no flush: already there
    j.write_line('{"event":"y"}')
    j.close()
    j.write_line('{"event":"after close"}')                   # ignored, never raises
    j2 = journal.Journal(path)                                 # appends, never truncates
    j2.write({"event": "z"})
    j2.close()
    assert [e["event"] for e in journal.read(path)] == ["x", "y", "z"]
    assert os.stat(path).st_mode & 0o777 == 0o644 & ~_umask()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_held_lines_and_deferred_items_go_out_in_order_in_one_write(tmp_path, monkeypatch):
    """hold(formatter): lines, blocks and defer()'s items keep their order; a run of items
    between two lines is formatted by one formatter call; release() is one write."""
    path = tmp_path / "j.jsonl"
    j = journal.Journal(path)
    calls: list[list[int]] = []

    def fmt(items: list[int]) -> bytes:
        calls.append(list(items))
        return b"".join(b'{"n":%d}\n' % n for n in items)

    writes = []
    real_write = os.write
    monkeypatch.setattr(journal.os, "write", lambda fd, data: writes.append(data) or real_write(fd, data))
    assert not j.defer(0)                       # not held: the caller writes its own line
    j.hold(fmt)
    j.write_block(b'{"n":1}\n{"n":2}\n', 2)
    assert j.defer(3) and j.defer(4)
    j.write_line('{"n":5}')
    assert j.defer(6)
    assert journal.read(path) == [] and writes == []       # nothing written while held
    j.release()
    assert [e["n"] for e in journal.read(path)] == [1, 2, 3, 4, 5, 6]
    assert calls == [[3, 4], [6]] and len(writes) == 1 and j.lines == 6
    assert not j.defer(7)                       # released: not held any more
    j.write_block(b'{"n":8}\n', 1)
    assert [e["n"] for e in journal.read(path)][-1] == 8 and j.lines == 7
    j.hold(fmt)                                 # a second hold counts only its own lines
    assert j.defer(9)
    j.write_line('{"n":10}')
    j.release()
    assert [e["n"] for e in journal.read(path)][-2:] == [9, 10] and j.lines == 9


def test_a_formatter_that_raises_leaves_the_journal_unheld_and_its_lines_written(tmp_path):
    path = tmp_path / "j.jsonl"
    j = journal.Journal(path)

    def bad(items: list[int]) -> bytes:
        raise ValueError("formatter failed")

    j.hold(bad)
    j.write_line('{"n":1}')
    assert j.defer(2)
    with pytest.raises(ValueError):
        j.release()
    assert [e["n"] for e in journal.read(path)] == [1] and j.lines == 1
    assert not j.defer(3)                     # no longer held
    j.write_line('{"n":4}')
    assert [e["n"] for e in journal.read(path)] == [1, 4] and j.lines == 2


def test_fields_json_is_json_dumps_from_several_threads():
    """A request's fields as JSON: json.dumps' text for every map, also when threads (a
    daemon's clients) alternate maps, so the last map seen and its text never pair up
    wrongly."""
    import threading

    from fwemu.injection import _fields_json

    maps = [{"address": hex(0x40000000 + k * 4096)} for k in range(8)] + \
           [{"severity": "fatal", "addr\u00e9ss": "x\"y"}, {"n": 1}, {"address": None}]
    wrong: list[str] = []

    def run(offset: int) -> None:
        for k in range(20000):
            m = maps[(k + offset) % len(maps)]
            if _fields_json(m) != json.dumps(m, separators=(",", ":")):
                wrong.append(repr(m))

    threads = [threading.Thread(target=run, args=(o,)) for o in (0, 3, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []
