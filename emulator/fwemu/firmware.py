"""The firmware stand-in: the rules trusted firmware keeps when it reports errors to the OS.

    scenario → record (C core) → source → wait until its block is free → ordered post
    → notification through the target → watch for consumption → journal

Rules (DESIGN.md §3): never overwrite an unconsumed block (GHESv2: until the OS's Read Ack
write; GHES v1: until block_status is 0) — records for a busy source queue, bounded, and
overflow is refused; at most one NOTIFY_SEI pending system-wide (later SEIs wait in a
bounded FIFO, and are refused outright once the pending one has outlived its timeout);
SDEI dispatch only when TF-A's dispatcher would accept it; every record unique unless the
caller forces identical bytes; every accepted injection ends in a journal state.

Threading: `submit()` may be called from any thread; `pump()` from one thread only (the
CLI's loop, or the daemon's firmware thread). All state is under `self.lock`.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field

from . import scenarios
from .board import Board, Source
from .errors import BlockBusyError, RefusedError, UsageError
from .journal import Journal
from .records import check
from .targets.base import Target

log = logging.getLogger("fwemu.firmware")
_jstr = json.encoder.encode_basestring_ascii   # a JSON string literal, as json.dumps writes it

FINAL = ("consumed", "dropped", "refused", "timed-out", "interrupted")
DUPLICATE_WINDOW = 10.0   # Linux's estatus cache age (GHES_ESTATUS_IN_CACHE_MAX_NSEC)
SEI_FIFO_DEPTH = 64
# The OS acks an SEI record in the middle of its SError handler, which then goes on walking
# the other SEI sources. Raising the next SEI the moment the ack shows would let that walk
# find the new record in the wrong PE's context (the hazard the rule exists to prevent), and
# no register tells firmware the handler has returned. So the next SEI waits a settle time
# after the ack: the target's `sei_settle_default` (1 ms on real boards; 0 on the sim, whose
# OS handlers never see a firmware write land mid-walk), or `--sei-settle-ms`.


@dataclass(eq=False, slots=True)
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
    left_in_memory: dict | None = None
    warnings: list[str] = field(default_factory=list)
    unsafe_sei: bool = False
    forged: bool = False
    unobservable: bool = False
    _done: threading.Event | None = None

    @property
    def done(self) -> threading.Event:
        """Set when the injection reaches a final state (created on first use)."""
        if self._done is None:
            self._done = threading.Event()
            if self.final:
                self._done.set()
        return self._done

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def latency(self) -> float | None:
        """Notification → consumption observed, in seconds."""
        if self.t_consumed is None or self.t_notified is None:
            return None
        return self.t_consumed - self.t_notified

    def to_json(self) -> dict:
        def rel(t):
            return None if t is None else round(self.accepted_wall + (t - self.t_accepted), 6)
        out = {"id": self.id, "scenario": self.scenario, "source": self.source.id,
               "notify": self.source.notify, "pe": self.pe, "block": self.source.block,
               "length": len(self.record), "digest": self.digest, "state": self.state,
               "reason": self.reason or None, "accepted": round(self.accepted_wall, 6),
               "posted": rel(self.t_posted), "notified": rel(self.t_notified),
               "consumed": rel(self.t_consumed),
               "latency_ms": None if self.latency is None else round(self.latency * 1000, 4)}
        out.update(self._extras())
        return out

    def _extras(self) -> dict:
        out = {}
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
        """`to_json()` plus "event", as one JSON line, formatted directly: json.dumps of the
        dict was a quarter of an injection's cost on sim. Same keys, order and values
        (%.6f and round(x, 6) name the same decimal; tests compare the two)."""
        wall, acc = self.accepted_wall, self.t_accepted
        posted, notified, consumed = self.t_posted, self.t_notified, self.t_consumed
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
        if self.left_in_memory is not None or self.warnings or self.unsafe_sei or self.forged:
            line += "," + json.dumps(self._extras(), separators=(",", ":"))[1:-1]
        return line + ',"event":"%s"}' % event

    def accepted_line(self) -> str:
        return ('{"event":"accepted","id":%d,"scenario":%s,"source":%d,"pe":%d,"digest":"%s",'
                '"accepted":%.6f}' % (self.id, _jstr(self.scenario), self.source.id, self.pe,
                                      self.digest, self.accepted_wall))


@dataclass
class SourceState:
    source: Source
    queue: collections.deque = field(default_factory=collections.deque)
    current: Injection | None = None   # posted, not yet consumed (possibly timed out)


class FirmwareModel:
    def __init__(self, board: Board, target: Target, journal: Journal | None = None, *,
                 unsafe_concurrent_sei: bool = False, sei_settle: float | None = None,
                 clock=time.monotonic):
        self.board, self.target = board, target
        self.journal = journal or Journal(None)
        self.clock = clock
        self.lock = threading.RLock()
        self.sources = {s.id: SourceState(s) for s in board.sources}
        self.unsafe_concurrent_sei = unsafe_concurrent_sei
        if unsafe_concurrent_sei:
            log.warning("--unsafe-concurrent-sei: the one-pending-NOTIFY_SEI rule is OFF; "
                        "the OS may attribute records to the wrong PE (negative testing only)")
        self.sei_current: Injection | None = None
        self.sei_settle = target.sei_settle_default if sei_settle is None else sei_settle
        self.sei_settle_until = 0.0
        self.sei_waiting: collections.deque[Injection] = collections.deque()
        self.history: collections.deque[Injection] = collections.deque(maxlen=64)
        self.inflight: dict[int, Injection] = {}
        self.counts = collections.Counter()
        self._next_id = 1
        self.factory = scenarios.RecordFactory(board.pes.mpidr, board=board.name)
        self._recent_exact: collections.OrderedDict[str, float] = collections.OrderedDict()

    # ---- accepting --------------------------------------------------------------------
    def resolve_source(self, scenario: str, source_id: int | None, notify: str | None) -> Source:
        if source_id is not None:
            src = self.board.source(source_id)
            if notify and src.notify != notify:
                raise UsageError("--notify", f"source {src.id} is notified by {src.notify}, not {notify}")
            return src
        if notify:
            for src in self.board.sources:
                if src.notify == notify and src.enabled:
                    return src
            kinds = sorted({s.notify for s in self.board.sources})
            raise UsageError("--notify", f"board {self.board.name!r} has no {notify} source "
                             f"(it has: {', '.join(kinds)})")
        return self.board.route(scenario)

    def submit(self, scenario: str, fields: dict | None = None, *, source_id: int | None = None,
               notify: str | None = None, pe: int = 0, timeout: float = 5.0,
               record: bytes | None = None, unique: bool = True) -> Injection:
        """Accept one injection (or refuse it at once with RefusedError/UsageError)."""
        src = self.resolve_source(scenario, source_id, notify)
        if not 0 <= pe < self.board.pes.count:
            raise UsageError("--pe", f"board {self.board.name!r} has PEs 0 .. {self.board.pes.count - 1}")
        if timeout <= 0:
            raise UsageError("--timeout", "must be positive")
        warnings: list[str] = []
        record_given = record is not None
        if record is None:
            record = self.factory.make(scenario, fields or {}, pe, unique, warnings)
            forged = False
        else:
            forged = not check(record, src.block_length).valid
        if len(record) > src.block_length:
            raise RefusedError(f"a {len(record)}-byte record does not fit source {src.id}'s "
                               f"{src.block_length}-byte block")
        if len(record) < 20:
            raise UsageError("record", f"{len(record)} bytes is shorter than a status block header")
        digest = hashlib.sha256(record).hexdigest()[:16]
        now = self.clock()
        with self.lock:
            if not unique or record_given or "--timestamp" in (fields or {}):
                self._warn_if_repeat(digest, now, src, warnings)
            inj = Injection(id=self._next_id, scenario=scenario, source=src, pe=pe, record=record,
                            timeout=timeout, accepted_wall=time.time(), t_accepted=now, digest=digest,
                            warnings=warnings, forged=forged,
                            unsafe_sei=self.unsafe_concurrent_sei and src.notify == "sei")
            self._next_id += 1
            self.inflight[inj.id] = inj
            self.counts["accepted"] += 1
            self.journal.write_line(inj.accepted_line())
            for w in warnings:
                log.warning("injection #%d: %s", inj.id, w)
            st = self.sources[src.id]
            if st.current is not None or st.queue:
                if len(st.queue) >= src.queue_depth:
                    busy = st.current.id if st.current else st.queue[0].id
                    self._finish(inj, "refused", f"source {src.id} busy with injection #{busy} and its "
                                 f"queue is full ({src.queue_depth})")
                else:
                    inj.state = "queued"
                    st.queue.append(inj)
            else:
                self._start(inj)
        return inj

    def _warn_if_repeat(self, digest, now, src, warnings) -> None:
        recent = self._recent_exact
        while recent and now - next(iter(recent.values())) > DUPLICATE_WINDOW:
            recent.popitem(last=False)
        if digest in recent and src.notify in ("sea", "sdei", "sei"):
            warnings.append(f"identical bytes were posted {now - recent[digest]:.1f} s ago: Linux drops "
                            f"a repeat within 10 s on the {src.notify.upper()} path")
        recent[digest] = now
        recent.move_to_end(digest)

    # ---- posting ----------------------------------------------------------------------
    def _start(self, inj: Injection) -> None:
        if inj.source.notify == "sei" and not self.unsafe_concurrent_sei and self._sei_busy():
            cur = self.sei_current
            if cur is not None and cur.final:   # the pending SEI outlived its timeout: the OS is not consuming
                self._finish(inj, "refused", f"NOTIFY_SEI pending since injection #{cur.id} "
                             f"(source {cur.source.id}, PE {cur.pe}) was raised and never consumed")
                self._advance(self.sources[inj.source.id])
            elif len(self.sei_waiting) >= SEI_FIFO_DEPTH:
                pending = f"injection #{cur.id}" if cur is not None else "settling after the last"
                self._finish(inj, "refused", f"NOTIFY_SEI pending ({pending}) and "
                             f"{SEI_FIFO_DEPTH} more SEIs already waiting")
                self._advance(self.sources[inj.source.id])
            else:
                inj.state = "waiting-sei"
                self.sei_waiting.append(inj)
            return
        self._post_and_notify(inj)

    def _sei_busy(self) -> bool:
        return self.sei_current is not None or bool(self.sei_waiting) or self.clock() < self.sei_settle_until

    def _post_and_notify(self, inj: Injection) -> None:
        src, st = inj.source, self.sources[inj.source.id]
        reason = self.target.notify_refusal(src, inj.pe)
        if reason:   # refuse before touching memory: nothing left behind
            self._finish(inj, "refused", reason)
            self._advance(st)
            return
        try:   # firmware believes the block free (nothing of its own pending): the target checks
            self.target.post(src, inj.record)
        except RefusedError as exc:
            why = str(exc)
            if isinstance(exc, BlockBusyError):
                why += ", which firmware did not post (or lost track of): not overwriting it"
            self._finish(inj, "refused", why)
            self._advance(st)
            return
        # GHES v1 signals consumption only by block_status returning to 0; a record posted
        # with block_status 0 can never show it (the OS ignores it, rule G3).
        inj.unobservable = not src.read_ack and inj.record[:4] == b"\0\0\0\0"
        inj.t_posted = self.clock()
        inj.state = "posted"
        st.current = inj
        if src.notify == "sei":
            self.sei_current = inj
        try:
            self.target.notify(src, inj.pe)
        except RefusedError as exc:
            self.target.withdraw(src)
            st.current = None
            if self.sei_current is inj:
                self.sei_current = None
            self._finish(inj, "refused", str(exc))
            self._advance(st)
            return
        inj.t_notified = self.clock()
        inj.state = "notified"
        self._check_source(st)

    # ---- watching -----------------------------------------------------------------------
    def _check_source(self, st: SourceState) -> None:
        inj = st.current
        if inj is None:
            return
        if inj.unobservable:        # free the source once it has timed out, never "consumed"
            if inj.final:
                st.current = None
                self._advance(st)
            return
        if not self.target.consumed(st.source):
            return
        now = self.clock()
        st.current = None
        if inj.final:   # it had timed out; the OS got to it after all
            self.journal.write({"event": "consumed-late", "id": inj.id, "source": st.source.id,
                                "after_ms": round((now - inj.t_notified) * 1000, 3) if inj.t_notified else None})
        else:
            dropped = self.target.dropped(st.source)   # the OS acked it but threw it away
            if dropped:
                self._finish(inj, "dropped", dropped)
            else:
                inj.t_consumed = now
                self._finish(inj, "consumed", "")
        if self.sei_current is inj:
            self.sei_current = None
            self.sei_settle_until = now + self.sei_settle
            self._release_sei()
        self._advance(st)

    def _release_sei(self) -> None:
        while self.sei_waiting and self.sei_current is None and self.clock() >= self.sei_settle_until:
            nxt = self.sei_waiting.popleft()
            if nxt.final:
                continue
            self._post_and_notify(nxt)

    def _advance(self, st: SourceState) -> None:
        while st.current is None and st.queue:
            nxt = st.queue.popleft()
            if not nxt.final:
                self._start(nxt)

    def pump(self, timeout: float = 0.05) -> None:
        """Wait for the target (at most `timeout`), then observe acks and deadlines."""
        with self.lock:
            busy = any(st.current is not None for st in self.sources.values())
            deadline = min((i.t_accepted + i.timeout for i in self.inflight.values()), default=None)
            if self.sei_waiting and self.sei_current is None:
                deadline = min(deadline, self.sei_settle_until) if deadline is not None else self.sei_settle_until
        if deadline is not None:
            timeout = max(0.0, min(timeout, deadline - self.clock()))
        if busy or deadline is not None:
            self.target.wait(timeout)
        with self.lock:
            for st in self.sources.values():
                self._check_source(st)
            self._release_sei()
            now = self.clock()
            for inj in list(self.inflight.values()):
                if not inj.final and now >= inj.t_accepted + inj.timeout:
                    self._time_out(inj)

    def _time_out(self, inj: Injection) -> None:
        src = inj.source
        if inj.state in ("queued", "waiting-sei"):
            st = self.sources[src.id]
            if inj in st.queue:
                st.queue.remove(inj)
            if inj in self.sei_waiting:
                self.sei_waiting.remove(inj)
            blocker = st.current or self.sei_current
            why = f"never posted: waiting behind injection #{blocker.id}" if blocker else "never posted"
            self._finish(inj, "timed-out", why)
            return
        status = self.target.read_reg(src.block, 32)
        left = {"block_status": status}
        if src.read_ack:
            left["read_ack"] = self.target.read_reg(src.read_ack.address, src.read_ack.width)
        inj.left_in_memory = left
        self._finish(inj, "timed-out", f"the OS did not consume it within {inj.timeout:g} s; the block "
                     "stays posted (firmware will not overwrite it)")

    def _finish(self, inj: Injection, state: str, reason: str) -> None:
        inj.state, inj.reason = state, reason
        self.inflight.pop(inj.id, None)
        self.history.append(inj)
        self.counts[state] += 1
        self._journal(inj, state)
        if inj._done is not None:
            inj._done.set()

    def _journal(self, inj: Injection, event: str) -> None:
        self.journal.write_line(inj.journal_line(event))

    # ---- driving --------------------------------------------------------------------------
    def wait_all(self, injections, deadline: float | None = None) -> None:
        """Pump until every given injection is final."""
        while not all(i.final for i in injections):
            if deadline is not None and self.clock() > deadline:
                break
            self.pump(0.05)

    def interrupt(self, reason: str = "fwemu stopped") -> int:
        """Journal every in-flight injection as interrupted (SIGTERM, shutdown)."""
        with self.lock:
            pending = [i for i in self.inflight.values() if not i.final]
            for inj in pending:
                self._finish(inj, "interrupted", reason)
            return len(pending)

    def reset(self) -> None:
        self.target.reset()
        with self.lock:
            for st in self.sources.values():
                self._check_source(st)

    def status(self) -> dict:
        with self.lock:
            srcs = []
            for st in self.sources.values():
                s = st.source
                cur = st.current
                state = "free" if cur is None else ("busy (timed out, still unconsumed)" if cur.final else "busy")
                srcs.append({"id": s.id, "notify": s.notify, "type": s.type, "block": s.block,
                             "state": state, "current": cur.id if cur else None,
                             "queue_depth": len(st.queue), "queue_limit": s.queue_depth})
            sei = self.sei_current
            return {
                "board": self.board.name,
                "sources": srcs,
                "sei_pending": None if sei is None else {"injection": sei.id, "source": sei.source.id,
                                                         "pe": sei.pe, "timed_out": sei.final},
                "sei_waiting": [i.id for i in self.sei_waiting],
                "sei_settle_ms": self.sei_settle * 1000,
                "sei_settling": sei is None and self.clock() < self.sei_settle_until,
                "unsafe_concurrent_sei": self.unsafe_concurrent_sei,
                "counts": dict(self.counts),
                "last": [i.to_json() for i in list(self.history)[-10:]],
                "target": self.target.status(),
            }
