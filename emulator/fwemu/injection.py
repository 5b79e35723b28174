"""One injection: what was asked for, the record, its instants and state, and its journal
lines (formatted here, directly: json.dumps of a dict was a quarter of an injection's cost
on the sim). The firmware model (firmware.py) moves it through its states."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from ._corelib import ffi, lib
from .board import Source

_jstr: Final = json.encoder.encode_basestring_ascii   # a JSON string literal, as json.dumps writes it

FINAL: Final = ("consumed", "dropped", "refused", "timed-out", "interrupted")


def _r6(t: float | None) -> float | None:
    return None if t is None else round(t, 6)


_text_bytes: Final[dict[str, bytes]] = {}     # fwemu's own names (notify, state, run) as C strings
_scenarios: Final[dict[str, bytes]] = {}      # a scenario's name as JSON text, as a C string
_tls: Final = threading.local()               # each thread's line buffer


def _cstr(name: str) -> bytes:
    b = _text_bytes.get(name)
    if b is None:
        if len(_text_bytes) > 1024:
            _text_bytes.clear()
        b = _text_bytes[name] = name.encode()
    return b


def _scenario_json(name: str) -> bytes:
    b = _scenarios.get(name)
    if b is None:
        if len(_scenarios) > 1024:
            _scenarios.clear()
        b = _scenarios[name] = _jstr(name).encode()
    return b


def _buffer(n: int) -> Any:
    buf = getattr(_tls, "buf", None)
    if buf is None or len(buf) < n:
        buf = _tls.buf = ffi.new("char[]", max(n, 4096))
    return buf


class _LastFields:
    """A request's constant fields: (one dict, its text), stored as one pair so a thread
    never sees one request's dict with another's text (an attribute of a compiled object,
    not a module global, which a compiled module looks up in its dict)."""

    def __init__(self) -> None:
        self.pair: tuple[object, str] = (None, "{}")


_last: Final = _LastFields()
_keys: Final[dict[str, str]] = {}     # a field's name as a JSON key and colon: a handful of names


def _fields_json(fields: dict[str, Any] | None) -> str:
    """json.dumps(fields, separators=(",", ":")), faster for the usual map of name to text."""
    if not fields:
        return "{}"
    pair = _last.pair
    if pair[0] is fields:
        return pair[1]
    try:
        parts = []
        for k, v in fields.items():
            key = _keys.get(k)
            if key is None:
                if len(_keys) > 256:
                    _keys.clear()
                key = _keys[k] = _jstr(k) + ":"
            parts.append(key + _jstr(v))
        text = "{" + ",".join(parts) + "}"
    except TypeError:     # a name or value that is not text (a caller's map): as json writes it
        text = json.dumps(fields, separators=(",", ":"))
    _last.pair = (fields, text)
    return text


def new_run_id() -> str:
    """Unique across processes, boots and machines: wall time, pid and randomness."""
    return "%s-%d-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime()), os.getpid(), uuid.uuid4().hex[:8])


@dataclass(eq=False, slots=True, init=False)
class Injection:
    id: int
    scenario: str
    source: Source
    pe: int
    record: bytes
    timeout: float
    accepted_wall: float
    t_accepted: float
    digest: str = ""
    state: str = "accepted"
    reason: str = ""
    t_posted: float | None = None
    t_notified: float | None = None
    t_consumed: float | None = None
    left_in_memory: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    unsafe_sei: bool = False
    forged: bool = False
    unobservable: bool = False
    # an ambiguous request (OutcomeUnknown): "post", "notify" or "withdraw" until the
    # target says what became of it; the source (and, for SEI, every SEI) is held meanwhile
    doubt: str | None = None
    doubt_forgotten: bool = False
    t_doubt: float | None = None
    note: str = ""          # why a consumed injection's latency is unknown
    run: str = ""           # the run (firmware instance) that accepted it: (run, id) is unique
    t_end: float | None = None   # the instant it reached its final state
    fields: dict[str, Any] | None = None   # the field options asked for (text), for inspection and replay
    fields_text: str | None = None   # their JSON, once made
    _done: threading.Event | None = None

    # Written out (init=False) rather than generated: a compiled class's generated __init__
    # runs interpreted, and one is made per injection. Same names, order and defaults.
    def __init__(self, id: int, scenario: str, source: Source, pe: int, record: bytes, timeout: float,
                 accepted_wall: float, t_accepted: float, digest: str = "", state: str = "accepted",
                 reason: str = "", t_posted: float | None = None, t_notified: float | None = None,
                 t_consumed: float | None = None, left_in_memory: dict[str, Any] | None = None,
                 warnings: list[str] | None = None, unsafe_sei: bool = False, forged: bool = False,
                 unobservable: bool = False, doubt: str | None = None, doubt_forgotten: bool = False,
                 t_doubt: float | None = None, note: str = "", run: str = "", t_end: float | None = None,
                 fields: dict[str, Any] | None = None, fields_text: str | None = None,
                 _done: threading.Event | None = None) -> None:
        self.id, self.scenario, self.source, self.pe, self.record = id, scenario, source, pe, record
        self.timeout, self.accepted_wall, self.t_accepted = timeout, accepted_wall, t_accepted
        self.digest, self.state, self.reason = digest, state, reason
        self.t_posted, self.t_notified, self.t_consumed = t_posted, t_notified, t_consumed
        self.left_in_memory = left_in_memory
        self.warnings = [] if warnings is None else warnings
        self.unsafe_sei, self.forged, self.unobservable = unsafe_sei, forged, unobservable
        self.doubt, self.doubt_forgotten, self.t_doubt = doubt, doubt_forgotten, t_doubt
        self.note, self.run, self.t_end = note, run, t_end
        self.fields, self.fields_text, self._done = fields, fields_text, _done

    @property
    def done(self) -> threading.Event:
        """Set when the injection reaches a final state (created on first use)."""
        if self._done is None:
            self._done = threading.Event()
            if self.final:
                self._done.set()
        return self._done

    def doubt_age(self, now: float) -> float:
        """Seconds the target has been silent on this injection's doubtful request (only
        while `doubt` is set, when t_doubt is)."""
        assert self.t_doubt is not None, "no request of this injection is in doubt"
        return now - self.t_doubt

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def latency(self) -> float | None:
        """Notification → consumption observed, in seconds."""
        if self.t_consumed is None or self.t_notified is None:
            return None
        return self.t_consumed - self.t_notified

    def to_json(self) -> dict[str, Any]:
        def rel(t: float | None) -> float | None:
            return None if t is None else round(self.accepted_wall + (t - self.t_accepted), 6)
        out: dict[str, Any] = {"id": self.id, "scenario": self.scenario, "source": self.source.id,
               "notify": self.source.notify, "pe": self.pe, "block": self.source.block,
               "length": len(self.record), "digest": self.digest, "state": self.state,
               "reason": self.reason or None, "accepted": round(self.accepted_wall, 6),
               "posted": rel(self.t_posted), "notified": rel(self.t_notified),
               "consumed": rel(self.t_consumed),
               "latency_ms": None if self.latency is None else round(self.latency * 1000, 4),
               "run": self.run, "m_accepted": round(self.t_accepted, 6),
               "m_posted": _r6(self.t_posted), "m_notified": _r6(self.t_notified),
               "m_consumed": _r6(self.t_consumed), "m_end": _r6(self.t_end),
               "fields": self.fields or {}, "record": self.record.hex()}
        out.update(self._extras())
        return out

    def _extras(self) -> dict[str, object]:
        out: dict[str, object] = {}
        if self.left_in_memory is not None:
            out["left_in_memory"] = self.left_in_memory
        if self.warnings:
            out["warnings"] = self.warnings
        if self.unsafe_sei:
            out["unsafe_concurrent_sei"] = True
        if self.forged:
            out["forged"] = True
        return out

    def journal_line(self, event: str) -> str:
        """`to_json()` plus "event", as one JSON line (tests compare the two: same keys,
        order and values; %.6f and round(x, 6) name the same decimal)."""
        return self.journal_bytes(event).decode()

    @property
    def common_final(self) -> bool:
        """Its final line is the common one C formats: every instant known, no reason, no extras."""
        return (self.t_posted is not None and self.t_notified is not None and self.t_consumed is not None
                and self.t_end is not None and not self.reason and self.left_in_memory is None
                and not self.warnings and not self.unsafe_sei and not self.forged)

    def journal_bytes(self, event: str) -> bytes:
        """journal_line() as the journal writes it. The common line (consumed, every
        instant known, no reason, no extras) is formatted in C (csrc/jline.c), the others
        here: formatting in Python was the largest single cost of an injection on the sim."""
        posted, notified, consumed, end = self.t_posted, self.t_notified, self.t_consumed, self.t_end
        if self.common_final:
            src, rec = self.source, self.record
            fields = self._fields_json().encode()
            scen = _scenario_json(self.scenario)
            buf = _buffer(2 * len(rec) + len(fields) + len(scen) + 1024)
            n = lib.fw_jline_final(buf, len(buf), self.id, scen, src.id, _cstr(src.notify), self.pe,
                                   src.block, self.digest.encode(), _cstr(self.state), self.accepted_wall,
                                   self.t_accepted, posted, notified, consumed, end, _cstr(self.run),
                                   fields, rec, len(rec), _cstr(event))
            if n >= 0:
                line: bytes = ffi.unpack(buf, n)
                return line
        return self._python_line(event).encode()

    def _python_line(self, event: str) -> str:
        wall, acc = self.accepted_wall, self.t_accepted
        posted, notified, consumed, end = self.t_posted, self.t_notified, self.t_consumed, self.t_end
        src = self.source
        line = ('{"id":%d,"scenario":%s,"source":%d,"notify":"%s","pe":%d,"block":%d,"length":%d,'
                '"digest":"%s","state":"%s","reason":%s,"accepted":%.6f,"posted":%s,"notified":%s,'
                '"consumed":%s,"latency_ms":%s' % (
                    self.id, _jstr(self.scenario), src.id, src.notify, self.pe, src.block,
                    len(self.record), self.digest, self.state,
                    _jstr(self.reason) if self.reason else "null", self.accepted_wall,
                    "null" if posted is None else "%.6f" % (wall + (posted - acc)),
                    "null" if notified is None else "%.6f" % (wall + (notified - acc)),
                    "null" if consumed is None else "%.6f" % (wall + (consumed - acc)),
                    "null" if consumed is None or notified is None else "%.4f" % ((consumed - notified) * 1000)))
        line += (',"run":"%s","m_accepted":%.6f,"m_posted":%s,"m_notified":%s,"m_consumed":%s,"m_end":%s' % (
            self.run, acc, "null" if posted is None else "%.6f" % posted,
            "null" if notified is None else "%.6f" % notified,
            "null" if consumed is None else "%.6f" % consumed, "null" if end is None else "%.6f" % end))
        line += ',"fields":%s,"record":"%s"' % (self._fields_json(), self.record.hex())
        if self.left_in_memory is not None or self.warnings or self.unsafe_sei or self.forged:
            line += "," + json.dumps(self._extras(), separators=(",", ":"))[1:-1]
        return line + ',"event":"%s"}' % event

    def _fields_json(self) -> str:
        """The fields as JSON, made once (both of the injection's lines carry them)."""
        text = self.fields_text
        if text is None:
            text = self.fields_text = _fields_json(self.fields)
        return text

    def accepted_line(self) -> str:
        return self.accepted_bytes().decode()

    def accepted_bytes(self) -> bytes:
        """The injection's first line. `length` and `bs` (the record's block_status) let a
        later run recognise the record in the block after a crash: the OS clears only
        block_status, so the block's bytes with `bs` put back hash to `digest`. `notify` and
        `fields` name what was asked for, so an injection a killed run left open can still
        be shown and replayed."""
        fields = self._fields_json().encode()
        scen = _scenario_json(self.scenario)
        buf = _buffer(len(fields) + len(scen) + 512)
        n = lib.fw_jline_accepted(buf, len(buf), self.id, scen, self.source.id, _cstr(self.source.notify),
                                  self.pe, self.digest.encode(), self.accepted_wall, _cstr(self.run),
                                  self.t_accepted, len(self.record), int.from_bytes(self.record[:4], "little"),
                                  fields)
        if n >= 0:
            line: bytes = ffi.unpack(buf, n)
            return line
        return ('{"event":"accepted","id":%d,"scenario":%s,"source":%d,"notify":"%s","pe":%d,"digest":"%s",'
                '"accepted":%.6f,"run":"%s","m_accepted":%.6f,"length":%d,"bs":%d,"fields":%s}' % (
                    self.id, _jstr(self.scenario), self.source.id, self.source.notify, self.pe, self.digest,
                    self.accepted_wall, self.run, self.t_accepted, len(self.record),
                    int.from_bytes(self.record[:4], "little"), self._fields_json())).encode()




# Blocks: a burst's lines formatted by one C call (fw_jline_accepted_n / fw_jline_final_n)
# from columns (one array per number, one NUL-separated text per string), not one call of
# 14-21 arguments per line: on the sim, marshalling those arguments was most of a line's cost.
assert array("I").itemsize == 4, "uint32_t columns are array('I')"
_BIG_ENDIAN: Final = sys.byteorder == "big"


def _names(values: list[str], n: int) -> bytes | None:
    """A column of fwemu's own names as C walks it: "a\\0b\\0c" encoded; None if a name
    holds a NUL itself (its row would be misread: the caller formats line by line)."""
    text = "\0".join(values)
    return None if text.count("\0") != n - 1 else text.encode()


def _scenario_column(injs: Sequence[Injection]) -> bytes:
    names = [i.scenario for i in injs]
    texts = {s: _scenario_json(s) for s in set(names)}    # JSON text: never a raw NUL
    return b"\0".join([texts[s] for s in names])


def _fields_column(injs: Sequence[Injection]) -> bytes:
    # made once per injection, kept in fields_text for its other line; ASCII JSON, no raw NUL
    return "\0".join([i.fields_text or i._fields_json() for i in injs]).encode()


def _u32(values: Iterable[int]) -> Any:
    return ffi.from_buffer("uint32_t[]", array("I", values))


def _u64(values: Iterable[int]) -> Any:
    return ffi.from_buffer("uint64_t[]", array("Q", values))


def _f64(values: list[float | None]) -> Any:
    # None only where the row is not C's (then array() refuses it: TypeError)
    return ffi.from_buffer("double[]", array("d", cast("list[float]", values)))


def _accepted_c(injs: Sequence[Injection]) -> bytes | None:
    """accepted_block's text from one C call, or None where C cannot give it."""
    n = len(injs)
    srcs = [i.source for i in injs]
    recs = [i.record for i in injs]
    notify = _names([s.notify for s in srcs], n)
    digest = _names([i.digest for i in injs], n)
    run = _names([i.run for i in injs], n)
    if notify is None or digest is None or run is None:
        return None
    heads = b"".join([r[:4] for r in recs])
    if len(heads) == 4 * n:        # bs: each record's first 4 bytes, little-endian
        bs = array("I")
        bs.frombytes(heads)
        if _BIG_ENDIAN:
            bs.byteswap()
    else:                          # a record shorter than 4 bytes
        bs = array("I", [int.from_bytes(r[:4], "little") for r in recs])
    scen, fields = _scenario_column(injs), _fields_column(injs)
    buf = _buffer(len(scen) + len(fields) + len(notify) + len(digest) + len(run) + 512 * n)
    k = lib.fw_jline_accepted_n(
        buf, len(buf), n, _u64([i.id for i in injs]), scen, _u32([s.id for s in srcs]), notify,
        _u32([i.pe for i in injs]), digest, _f64([i.accepted_wall for i in injs]), run,
        _f64([i.t_accepted for i in injs]), _u32(map(len, recs)), ffi.from_buffer("uint32_t[]", bs),
        fields)
    if k < 0:
        return None
    text: bytes = ffi.unpack(buf, k)
    return text


def accepted_block(injs: Sequence[Injection]) -> bytes:
    """The injections' accepted lines, each ended by "\\n": exactly
    b"".join(i.accepted_bytes() + b"\\n" for i in injs), formatted by one C call."""
    if not injs:
        return b""
    try:
        text = _accepted_c(injs)
    except (TypeError, OverflowError):     # a value C cannot take: the lines say what it is
        text = None
    if text is None:
        return b"".join([i.accepted_bytes() + b"\n" for i in injs])
    return text


def _final_c(items: Sequence[tuple[Injection, str]], ends: Any = None) -> Any | None:
    """The final lines of common rows (journal_bytes' C condition holds for each) from one
    C call, or None where C cannot give them: a cffi buffer over this thread's line buffer
    (valid until it is next used); `ends` (uint32_t[len(items)]) gets where each line ends."""
    n = len(items)
    injs = [i for i, _ in items]
    srcs = [i.source for i in injs]
    recs = [i.record for i in injs]
    notify = _names([s.notify for s in srcs], n)
    digest = _names([i.digest for i in injs], n)
    state = _names([i.state for i in injs], n)
    run = _names([i.run for i in injs], n)
    event = _names([ev for _, ev in items], n)
    if notify is None or digest is None or state is None or run is None or event is None:
        return None
    scen, fields, records = _scenario_column(injs), _fields_column(injs), b"".join(recs)
    buf = _buffer(2 * len(records) + len(scen) + len(fields) + len(notify) + len(digest) + len(state)
                  + len(run) + len(event) + 1024 * n)
    k = lib.fw_jline_final_n(
        buf, len(buf), n, _u64([i.id for i in injs]), scen, _u32([s.id for s in srcs]), notify,
        _u32([i.pe for i in injs]), _u64([s.block for s in srcs]), digest, state,
        _f64([i.accepted_wall for i in injs]), _f64([i.t_accepted for i in injs]),
        _f64([i.t_posted for i in injs]), _f64([i.t_notified for i in injs]),
        _f64([i.t_consumed for i in injs]), _f64([i.t_end for i in injs]), run, fields, records,
        _u32(map(len, recs)), event, ffi.NULL if ends is None else ends)
    return None if k < 0 else ffi.buffer(buf, k)


def _final_lines(items: Sequence[tuple[Injection, str]]) -> list[bytes]:
    return [i.journal_bytes(ev) + b"\n" for i, ev in items]


def final_block(items: Sequence[tuple[Injection, str]]) -> bytes:
    """The final lines of (injection, event) pairs, each ended by "\\n": exactly
    b"".join(i.journal_bytes(ev) + b"\\n" for i, ev in items). The common lines (as in
    journal_bytes: every instant known, no reason, no extras) are formatted by one C call,
    wherever they are in the block; the other lines one by one, put in between in order."""
    if not items:
        return b""
    common = [i.common_final for i, _ in items]
    odd = [k for k, c in enumerate(common) if not c]
    # the other lines first (Python's formatting; a line made in C would reuse the thread's
    # line buffer, where the C call's text is until it is copied out)
    odd_lines = _final_lines([items[k] for k in odd])
    rows = [item for item, c in zip(items, common, strict=True) if c] if odd else items
    if not rows:
        return b"".join(odd_lines)
    ends = array("I", bytes(4 * len(rows)))
    try:
        text = _final_c(rows, ffi.from_buffer("uint32_t[]", ends) if odd else None)
    except (TypeError, OverflowError):     # a value C cannot take: the lines say what it is
        text = None
    if text is None:
        return b"".join(_final_lines(items))
    if not odd:
        return bytes(text)
    view, start = memoryview(text), 0
    pieces: list[bytes | memoryview] = []
    for j, k in enumerate(odd):            # rows 0 .. k-1 hold k - j common lines
        end = ends[k - j - 1] if k > j else 0
        pieces += (view[start:end], odd_lines[j])
        start = end
    pieces.append(view[start:])
    return b"".join(pieces)
