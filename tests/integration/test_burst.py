"""Bursts (FirmwareModel.submit_many): on the sim, whose OS consumes within notify(), a
request is accepted 256 injections at a time with its journal lines written in two writes
per burst. What the OS and the journal see must be what one-at-a-time submission gives.

The one-at-a-time run is the same request with a rate (a rate turns bursts off) so high
that it never waits. The runs use separate state directories, so both runs' records get
the same uniqueness tokens; only wall-clock times and the run id differ."""

from __future__ import annotations

import json
import re

import pytest

from fwemu import journal_check
from fwemu.board import load_board
from fwemu.session import Session

TS_OFFSET = 20 + 64          # the first entry's GDE timestamp
TIMES = ("accepted", "posted", "notified", "consumed", "latency_ms", "m_accepted", "m_posted",
         "m_notified", "m_consumed", "m_end", "run", "m_at", "wall_start", "m_start", "pid", "boot_id",
         "resolved_by", "after_ms", "digest", "record", "id", "first_id", "last_id")


def run(tmp_path, monkeypatch, name: str, req: dict, **sim):
    """inject's result, the journal's lines, and the size of each burst: a burst writes its
    accepted lines in one write (one at a time, each is a write of its own)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / name / "state"))
    path = tmp_path / name / "j.jsonl"
    with Session.open(load_board("sim"), journal=str(path), sim=sim or None) as s:
        writes: list[list[str]] = []
        s.journal.tap = lambda data: writes.append([json.loads(ln)["event"] for ln in data.splitlines()])
        out = s.inject(req)
    lines = [json.loads(ln) for ln in path.read_text().splitlines()]
    accepted = [len(w) for w in writes if w[0] == "accepted"]
    assert all(set(w) == {"accepted"} for w in writes if "accepted" in w)   # never mixed with other lines
    return out, lines, accepted


def comparable(lines):
    """Journal lines less their times, ids, run ids and timestamps (the record less its
    timestamp stays), by kind: the accepted lines in order, the final lines in order, the
    rest in order (a burst writes its accepted lines before its final lines)."""
    out: list[dict] = []
    for ln in lines:
        rec = ln.get("record")
        ln = {k: v for k, v in ln.items() if k not in TIMES}
        if rec:
            b = bytes.fromhex(rec)
            ln["record_less_ts"] = (b[:TS_OFFSET] + b[TS_OFFSET + 8:]).hex()
        if ln.get("event") == "os-log":
            ln["lines"] = [re.sub(r"\{\d+\}", "{N}", x) for x in ln["lines"] if "tstamp" not in x and "timestamp" not in x]
        out.append(ln)
    accepted = [ln for ln in out if ln["event"] == "accepted"]
    final = [ln for ln in out if ln["event"] in ("consumed", "refused", "dropped", "timed-out", "interrupted")]
    return accepted, final, [ln for ln in out if ln not in accepted and ln not in final]


@pytest.mark.parametrize("notify", ["sea", "sdei", "sei", "gsiv", "external"])
def test_a_burst_journals_and_consumes_as_one_at_a_time(tmp_path, monkeypatch, notify):
    req = {"scenario": "memory-ue", "count": 600, "notify": notify, "report": "summary",
           "fields": {"address": "0x40000000:0x40100000:0x1000"}}
    fast, jf, calls = run(tmp_path, monkeypatch, "burst", req)
    assert calls and sum(calls) == 600 and max(calls) == 256      # it did burst
    slow, js, calls_slow = run(tmp_path, monkeypatch, "single", {**req, "rate": 1e9})
    assert calls_slow == [1] * 600
    assert fast["summary"]["states"] == slow["summary"]["states"] == {"consumed": 600}
    assert comparable(jf) == comparable(js)
    assert fast["os"]["stats"] == slow["os"]["stats"] and fast["os"]["poisoned_pages"] == 256
    # the accepted line of each injection precedes its final line; ids are in order
    ids = [(ln["event"], ln["id"]) for ln in jf if ln["event"] in ("accepted", "consumed")]
    assert [i for e, i in ids if e == "consumed"] == sorted(i for e, i in ids if e == "accepted")
    seen = set()
    for event, i in ids:
        assert (event == "accepted") != (i in seen)
        seen.add(i)
    assert journal_check.check_lines(jf).ok


def test_after_a_panic_a_burst_ends_as_one_at_a_time(tmp_path, monkeypatch):
    # the sim's firmware cannot see the panic (real firmware cannot): the next record is
    # posted into the dead OS's block and held, the rest queue behind it, all time out
    req = {"scenario": "memory-fatal", "count": 5, "notify": "sea", "timeout": 0.5}
    fast, jf, calls = run(tmp_path, monkeypatch, "burst", req)
    slow, js, _ = run(tmp_path, monkeypatch, "single", {**req, "rate": 1e9})
    assert calls == [5]
    states = [i["state"] for i in fast["injections"]]
    assert states == [i["state"] for i in slow["injections"]] and states[0] == "consumed"
    assert set(states[1:]) == {"timed-out"} and fast["os"]["panic"] == slow["os"]["panic"]
    assert comparable(jf) == comparable(js)


def test_no_burst_where_the_os_does_not_consume_within_the_notification(tmp_path, monkeypatch):
    req = {"scenario": "memory-ue", "count": 3, "timeout": 2}
    _out, _lines, calls = run(tmp_path, monkeypatch, "slow-os", req, delay=0.05)
    assert calls == [1, 1, 1]
    _out, _lines, calls = run(tmp_path, monkeypatch, "polled", {**req, "notify": "polled"})
    assert calls == [1, 1, 1]
