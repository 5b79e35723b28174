"""The firmware stand-in: the rules trusted firmware keeps when it reports errors to the OS.

    scenario → record (C core) → source → wait until its block is free → ordered post
    → notification through the target → watch for consumption → journal

Rules (DESIGN.md §3): never overwrite an unconsumed block (GHESv2: until the OS's Read Ack
write; GHES v1: until block_status is 0) — records for a busy source queue, bounded, and
overflow is refused; at most one NOTIFY_SEI pending system-wide (later SEIs wait in a
bounded FIFO, and are refused outright once the pending one has outlived its timeout);
SDEI dispatch only when TF-A's dispatcher would accept it; every record unique unless the
caller forces identical bytes; every accepted injection ends in a journal state.

A request whose outcome is unknown (OutcomeUnknown: a channel timeout or a reset with a
POST, notification or WITHDRAW in flight) is never guessed at: the source stays held (an
SEI source holds the one-SEI rule too), nothing else with a side effect is sent, and
`_settle` learns the outcome from the target (the request re-asked, else memory read
back) before firmware acts on it. The in-process sim never raises it.

Threading: `submit()` may be called from any thread; `pump()` from one thread only (the
CLI's loop, or the daemon's firmware thread). All state is under `self.lock`.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Final
from dataclasses import dataclass, field

from . import scenarios
from .board import Board, Source
from .errors import BlockBusyError, FwemuError, OutcomeUnknown, RefusedError, UnreachableError, UsageError
from .injection import FINAL, Injection, accepted_block, final_block, new_run_id  # noqa: F401 - FINAL: re-exported
from .journal import Journal
from .procs import boot_id
from .records import check
from .targets.base import Cap, Target

# what the target said of a request whose outcome was unknown (Target.resolve): "memory"
# when only the target's memory can tell, else its answer (None: executed; RefusedError)
Resolution = str | RefusedError | None

log = logging.getLogger("fwemu.firmware")
_sha256: Final = hashlib.sha256    # (a compiled module reads a Final from a C static)

DUPLICATE_WINDOW: Final = 10.0   # Linux's estatus cache age (GHES_ESTATUS_IN_CACHE_MAX_NSEC)
SEI_FIFO_DEPTH: Final = 64
# 2: final lines carry "fields" (the options asked for) and "record" (the bytes, hex), and
# each run's line says "format"; lines of format 1 have neither
# 3: injection ids unique among the runs of one journal (blocks from its run file), and
# an os-log line after each request
# 4: "fields" keyed by field name ("address"), as requests and the daemon's wire carry them,
# not by option ("--address")
JOURNAL_FORMAT: Final = 4
ID_BLOCK: Final = 1024     # ids a run takes from the journal's run file at a time
BATCH_LINE_BYTES: Final = 4096   # room asked per injection (its two lines less the record's hex) to batch lines
FOLLOW_S: Final = 0.25          # how often a waiting firmware looks whether the target's machine was replaced
# Resolving an ambiguous request (a POST or notification whose reply never came): firmware
# re-asks the target for at least RESOLVE_MIN_S, at most RESOLVE_MAX_S, in line (nothing
# else may be posted or raised meanwhile); after that, pump() keeps asking.
RESOLVE_MIN_S, RESOLVE_MAX_S = 5.0, 30.0
# The OS acks an SEI record in the middle of its SError handler, which then goes on walking
# the other SEI sources. Raising the next SEI the moment the ack shows would let that walk
# find the new record in the wrong PE's context (the hazard the rule exists to prevent), and
# no register tells firmware the handler has returned. So the next SEI waits a settle time
# after the ack: the target's `sei_settle_default` (1 ms on real boards; 0 on the sim, whose
# OS handlers never see a firmware write land mid-walk), or `--sei-settle-ms`.


@dataclass
class SourceState:
    source: Source
    queue: collections.deque[Injection] = field(default_factory=collections.deque)
    current: Injection | None = None   # posted, not yet consumed (possibly timed out)


class FirmwareModel:
    def __init__(self, board: Board, target: Target, journal: Journal | None = None, *,
                 unsafe_concurrent_sei: bool = False, sei_settle: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
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
        # the injection whose post/notification/withdraw outcome is unknown (at most one:
        # nothing with a side effect is sent until it is resolved)
        self.unresolved: Injection | None = None
        self.counts: collections.Counter[str] = collections.Counter()
        # injection ids: from `id_source(n)` (the journal's run file hands out blocks, so
        # every run on one journal, daemon or in-process, has its own ids), else 1, 2, ...
        self.id_source: Callable[[int], int] | None = None
        self._next_id, self._ids_taken = 1, 0
        self._id_end: int | None = None
        # One run: its id marks every journal line; every wall time in them is this
        # anchor plus monotonic elapsed time, so no line's times shift by a wait.
        self.run = new_run_id()
        self.mono0 = clock()
        self.wall0 = time.time()
        self.factory = scenarios.RecordFactory(board.pes.mpidr, board=board.name)
        self._recent_exact: collections.OrderedDict[str, float] = collections.OrderedDict()
        self.run_started = False    # the run's line is written before its first other line
        # a target whose machine can be replaced under it (a qemu guest's down/up) is
        # checked at each submit and, while waiting, every FOLLOW_S
        self._follows = Cap.FOLLOWS_MACHINE in target.capabilities()
        self._next_follow = 0.0
        self._resetting = False

    def run_line(self) -> dict[str, Any]:
        """The run's first journal line: what an independent checker needs to read the
        others (the clock, the wall anchor, the SEI settle time, whether the SEI rule is on)."""
        return {"event": "run", "run": self.run, "board": self.board.name, "pid": os.getpid(),
                "target": self.board.target.kind, "clock": "CLOCK_MONOTONIC", "boot_id": boot_id(),
                "machine_per_run": Cap.MACHINE_PER_SESSION in self.target.capabilities(),
                "format": JOURNAL_FORMAT,
                "m_start": round(self.mono0, 6), "wall_start": round(self.wall0, 6),
                "sei_settle_ms": self.sei_settle * 1000, "unsafe_concurrent_sei": self.unsafe_concurrent_sei}

    def start_run(self) -> None:
        """Journal the run's line, once, before anything else of the run (a run that accepts
        nothing leaves the journal as it was)."""
        if not self.run_started:
            self.run_started = True
            self.journal.write(self.run_line())

    def end_run(self) -> None:
        """The run's last line (a run with none ended without it: killed, or its journal failed)."""
        with self.lock:
            if not self.run_started:
                return
            self.journal.write({"event": "run-end", "run": self.run, "m_at": round(self.clock(), 6),
                                "counts": dict(self.counts)})

    # ---- accepting --------------------------------------------------------------------
    def resolve_source(self, scenario: str, source_id: int | None, notify: str | None) -> Source:
        return self.board.pick_source(scenario, source_id, notify)

    def submit(self, scenario: str, fields: dict[str, str] | None = None, *, source_id: int | None = None,
               notify: str | None = None, pe: int = 0, timeout: float = 5.0,
               record: bytes | None = None, unique: bool = True) -> Injection:
        """Accept one injection (or refuse it at once with RefusedError/UsageError)."""
        src = self.resolve_source(scenario, source_id, notify)
        self._check_request(pe, timeout)
        with self.lock:
            inj = self._accept(scenario, fields, src, pe, timeout, record, unique)
            if self.journal.writing:
                self.journal.write_line(inj.accepted_bytes())
            self._admit(inj)
        return inj

    def submit_many(self, choices: Iterable[tuple[str, dict[str, str] | None, int | None, str | None, int]], *,
                    timeout: float = 5.0, unique: bool = True) -> list[Injection]:
        """Accept several injections, each (scenario, fields, source id, notify, pe), and
        admit them in order: what submit() does for each, under one hold of the lock. The
        accepted lines go out in one write before the first is posted and the final lines
        in one write after the last, while the journal's file system has room for them;
        with less room, each line on its own (a disk that fills then leaves at most one
        injection open, as with submit()). For targets whose OS consumes within notify()
        (the sim), where each ends before the next starts; a choice that submit() would
        refuse with an exception (UsageError, RefusedError) raises before anything is
        accepted. Returns the injections submitted: fewer than asked when the journal
        failed (as submit() does, the one whose line failed still runs; none after it)."""
        resolved: dict[tuple[str, int | None, str | None], Source] = {}
        plan = []
        for scenario, fields, source_id, notify, pe in choices:
            key = (scenario, source_id, notify)
            src = resolved.get(key)
            if src is None:
                src = resolved[key] = self.resolve_source(scenario, source_id, notify)
            plan.append((scenario, fields, src, pe))
            self._check_request(pe, timeout)
        journal = self.journal
        with self.lock:
            failed = journal.error
            warns: list[list[str]] = [[] for _ in plan]
            records = self.factory.make_many([(scenario, fields or {}, pe) for scenario, fields, _s, pe in plan],
                                             unique, warns)
            injs = [self._accept(scenario, fields, src, pe, timeout, None, unique, (rec, w))
                    for (scenario, fields, src, pe), rec, w in zip(plan, records, warns, strict=True)]
            if journal.error and not failed:    # the run's line failed: as submit() would, one goes
                self._unaccept(injs, 1)
            if not journal.writing:
                for inj in injs:
                    self._admit(inj)
            elif journal.room_for(sum(BATCH_LINE_BYTES + 4 * len(inj.record) for inj in injs)):
                before = journal.lines
                journal.write_block(accepted_block(injs), len(injs))
                if journal.error:   # the one whose line was cut goes ahead, no later one
                    self._unaccept(injs, journal.lines - before + 1)
                journal.hold(final_block)    # final lines formatted together, in order, at release
                try:
                    for inj in injs:
                        self._admit(inj)
                finally:
                    journal.release()
            else:    # little room left: each line on its own, as submit() writes them
                for inj in injs:
                    journal.write_line(inj.accepted_bytes())
                    self._admit(inj)
        return injs

    def _unaccept(self, injs: list[Injection], keep: int) -> None:
        """Take back the injections of a burst after its first `keep`: never journalled,
        posted or reported (their ids stay unused)."""
        for inj in injs[keep:]:
            self.inflight.pop(inj.id, None)
            self.counts["accepted"] -= 1
        del injs[keep:]

    def _check_request(self, pe: int, timeout: float) -> None:
        if not 0 <= pe < self.board.pes.count:
            raise UsageError("--pe", f"board {self.board.name!r} has PEs 0 .. {self.board.pes.count - 1}")
        if timeout <= 0:
            raise UsageError("--timeout", "must be positive")

    def _accept(self, scenario: str, fields: dict[str, str] | None, src: Source, pe: int, timeout: float,
                record: bytes | None, unique: bool, made: tuple[bytes, list[str]] | None = None) -> Injection:
        """Under the lock: the record made (or `made`: the factory's record for these fields
        and its warnings), the injection numbered and counted accepted (its accepted line is
        the caller's to write, before _admit)."""
        warnings: list[str]
        record_given = record is not None
        if made is not None:
            record, warnings = made
            forged = False
        elif record is None:
            warnings = []
            record = self.factory.make(scenario, fields or {}, pe, unique, warnings)
            forged = False
        else:
            warnings = []
            forged = not check(record, src.block_length).valid
        if len(record) > src.block_length:
            raise RefusedError(f"a {len(record)}-byte record does not fit source {src.id}'s "
                               f"{src.block_length}-byte block")
        if len(record) < 20:
            raise UsageError("record", f"{len(record)} bytes is shorter than a status block header")
        digest = _sha256(record).hexdigest()[:16]
        if self._follows and not self._resetting:
            self._follow_target()    # UnreachableError: no machine now, nothing accepted
        now = self.clock()     # under the lock: the instant it was accepted, not before a wait
        if not unique or record_given or self.factory.may_repeat(fields or {}):
            self._warn_if_repeat(digest, now, src, warnings)
        if self.id_source is not None and (self._id_end is None or self._next_id >= self._id_end):
            # 16 ids first (a one-shot command leaves no wide gap), doubling to ID_BLOCK
            n = min(ID_BLOCK, max(16, self._ids_taken))
            self._next_id = self.id_source(n)
            self._id_end = self._next_id + n
            self._ids_taken += n
        inj = Injection(id=self._next_id, scenario=scenario, source=src, pe=pe, record=record, fields=fields,
                        timeout=timeout, accepted_wall=self.wall0 + (now - self.mono0), t_accepted=now,
                        digest=digest, warnings=warnings, forged=forged, run=self.run,
                        unsafe_sei=self.unsafe_concurrent_sei and src.notify == "sei")
        self._next_id += 1
        self.inflight[inj.id] = inj
        self.counts["accepted"] += 1
        if not self.run_started:
            self.start_run()
        for w in warnings:
            log.warning("injection #%d: %s", inj.id, w)
        return inj

    def _admit(self, inj: Injection) -> None:
        """Under the lock, its accepted line written: start it, queue it behind its source's
        record, or refuse it (a full queue, a target that is down)."""
        src = inj.source
        st = self.sources[src.id]
        if st.current is not None or st.queue:
            down = self.target.down_reason()
            if down:     # waiting behind the held source would only time out
                self._finish(inj, "refused", down)
            elif len(st.queue) >= src.queue_depth:
                busy = st.current.id if st.current else st.queue[0].id
                self._finish(inj, "refused", f"source {src.id} busy with injection #{busy} and its "
                             f"queue is full ({src.queue_depth})")
            else:
                inj.state = "queued"
                st.queue.append(inj)
        else:
            self._start(inj)

    def _warn_if_repeat(self, digest: str, now: float, src: Source, warnings: list[str]) -> None:
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
                if cur.doubt is not None:
                    why = (f"NOTIFY_SEI held: whether injection #{cur.id}'s {cur.doubt} (source "
                           f"{cur.source.id}, PE {cur.pe}) executed is unknown; the target has not answered")
                else:
                    why = (f"NOTIFY_SEI pending since injection #{cur.id} (source {cur.source.id}, "
                           f"PE {cur.pe}) was raised and never consumed")
                self._finish(inj, "refused", why)
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
        if self.unresolved is not None:
            # an earlier request may have executed: learn what it did before sending anything
            other = self.unresolved
            budget = min(max(inj.t_accepted + inj.timeout - self.clock(), 0.5), 5.0)
            if not self._settle(other, budget):
                self._finish(inj, "refused", f"not posted: the target has not answered whether injection "
                             f"#{other.id}'s {other.doubt} executed ({other.doubt_age(self.clock()):.1f} s); "
                             "firmware sends no post or notification until it does")
                self._advance(st)
                return
        try:
            reason = self.target.notify_refusal(src, inj.pe)
        except FwemuError as exc:   # a read that failed on the channel: nothing was sent
            reason = f"could not read the notification's state from the target: {exc}"
        if reason:   # refuse before touching memory: nothing left behind
            self._finish(inj, "refused", reason)
            self._advance(st)
            return
        t_write = self.clock()    # the instant writing the block begins
        try:   # firmware believes the block free (nothing of its own pending): the target checks
            self.target.post(src, inj.record)
        except OutcomeUnknown as exc:
            self._doubt(inj, "post", exc)
            return
        except UnreachableError as exc:   # not sent (a qemu target between guests): nothing written
            self._finish(inj, "refused", f"not posted: {exc}")
            self._advance(st)
            return
        except RefusedError as exc:
            why = str(exc)
            if isinstance(exc, BlockBusyError):
                why += ", which firmware did not post (or lost track of): not overwriting it"
            self._finish(inj, "refused", why)
            self._advance(st)
            return
        inj.t_posted = t_write
        self._posted(inj)

    def _posted(self, inj: Injection) -> None:
        """The record is in the block (the target said so): hold the source, notify."""
        src, st = inj.source, self.sources[inj.source.id]
        # GHES v1 signals consumption only by block_status returning to 0; a record posted
        # with block_status 0 can never show it (the OS ignores it, rule G3).
        inj.unobservable = not src.read_ack and inj.record[:4] == b"\0\0\0\0"
        inj.state = "posted"
        st.current = inj
        if src.notify == "sei":
            self.sei_current = inj
        # stamped before the target raises it: a target that consumes while notify() runs
        # (the sim's synchronous OS, TF-A's synchronous SDEI dispatch) is inside the latency
        t_raise = self.clock()
        try:
            self.target.notify(src, inj.pe)
        except OutcomeUnknown as exc:
            self._doubt(inj, "notify", exc)
            return
        except RefusedError as exc:
            self._withdraw_refused(inj, str(exc))
            return
        inj.t_notified = t_raise
        inj.state = "notified"
        self._check_source(st)

    def _withdraw_refused(self, inj: Injection, why: str) -> None:
        """The notification was refused: take the record back, journal the refusal."""
        st = self.sources[inj.source.id]
        try:
            self.target.withdraw(inj.source)
        except OutcomeUnknown as exc:
            self._finish(inj, "refused", f"{why}; the record was posted and the WITHDRAW got no answer: "
                         "the block may still hold it (source held until the target answers)")
            self._doubt(inj, "withdraw", exc)
            return
        self._release(inj)
        self._finish(inj, "refused", why)
        self._advance(st)

    def _release(self, inj: Injection, settle: bool = False) -> None:
        st = self.sources[inj.source.id]
        if st.current is inj:
            st.current = None
        if self.sei_current is inj:
            self.sei_current = None
            if settle:
                self.sei_settle_until = self.clock() + self.sei_settle

    # ---- ambiguous outcomes (targets behind a channel) ---------------------------------
    def _doubt(self, inj: Injection, op: str, exc: OutcomeUnknown) -> None:
        """`op` may or may not have executed: hold the source (and, for an SEI source, the
        one-SEI rule), send nothing else, and learn the outcome from the target."""
        src, st = inj.source, self.sources[inj.source.id]
        log.warning("injection #%d: %s outcome unknown (%s); asking the target", inj.id, op, exc)
        # the target has been silent since the request's first copy (exc.waited ago)
        inj.doubt, inj.doubt_forgotten, inj.t_doubt = op, exc.forgotten, self.clock() - exc.waited
        st.current = inj
        if src.notify == "sei":
            self.sei_current = inj
        self.unresolved = inj
        if not inj.final:
            inj.state = "unresolved"
        budget = inj.t_accepted + inj.timeout - self.clock()
        self._settle(inj, min(max(budget, RESOLVE_MIN_S), RESOLVE_MAX_S))

    def _settle(self, inj: Injection, budget: float) -> bool:
        """Asks the target what became of inj's ambiguous request, for up to `budget` s:
        first the request itself again (the agent answers from its dedupe table), then,
        if the agent no longer remembers it, the target's memory. Acts on the answer and
        journals it. False while the target has not answered."""
        src = inj.source
        out = "memory" if inj.doubt_forgotten else self.target.resolve(src, budget)
        if out is None:
            return False
        mem = None
        if out == "memory":
            try:
                mem = self.target.read_back(src, inj.record)
            except FwemuError as exc:
                log.info("injection #%d: memory not readable yet (%s)", inj.id, exc)
                inj.doubt_forgotten = True     # the request is resolved as forgotten: only memory is left
                return False
            inj.left_in_memory = {k: mem[k] for k in ("block_status", "read_ack") if k in mem}
        op, waited = inj.doubt, inj.doubt_age(self.clock())
        inj.doubt, inj.doubt_forgotten = None, False
        if self.unresolved is inj:
            self.unresolved = None
        told = "the agent answered the re-sent request" if mem is None else (
            "the agent no longer remembered the request (reset or stale), so from the target's memory")
        if op == "post":
            self._settled_post(inj, out, mem, told, waited)
        elif op == "notify":
            self._settled_notify(inj, out, mem, told, waited)
        else:
            self._settled_withdraw(inj, out, mem)
        self._release_sei()
        return True

    def _resolved(self, inj: Injection, found: str, why: str) -> None:
        """A late answer about an injection already journaled final."""
        ev = {"event": "resolved", "id": inj.id, "source": inj.source.id, "state": inj.state,
              "found": found, "reason": why, "run": inj.run, "m_at": round(self.clock(), 6)}
        if inj.left_in_memory is not None:
            ev["left_in_memory"] = inj.left_in_memory
        self.journal.write(ev)

    def _consumed_unseen(self, inj: Injection, why: str) -> None:
        """The record was consumed, but firmware did not see when: latency unknown."""
        st = self.sources[inj.source.id]
        self._release(inj, settle=True)
        if inj.final:
            self._resolved(inj, "consumed", why)
        else:
            inj.t_consumed, inj.t_notified = self.clock(), None
            self._finish(inj, "consumed", why + "; latency unknown")
        self._advance(st)

    def _settled_post(self, inj: Injection, out: Resolution, mem: dict[str, Any] | None, told: str,
                      waited: float) -> None:
        st = self.sources[inj.source.id]
        if mem is not None:
            if mem["ours"] and not mem["pending"]:
                return self._consumed_unseen(inj, f"the POST's reply was lost; {told}: the record was "
                                             "written and the OS has consumed it (block_status 0"
                                             f"{', Read Ack acked' if inj.source.read_ack else ''})")
            if mem["ours"]:
                out = "done"
            elif mem["pending"]:
                out = BlockBusyError(f"source {inj.source.id}: the POST did not execute ({told}: the "
                                     f"block holds another record, block_status {mem['block_status']:#x})")
            else:
                out = RefusedError(f"the POST did not execute ({told}: the block is free and does not "
                                   "hold the record)")
        if out == "done":
            inj.t_posted = inj.t_doubt
            if inj.final:   # never notified, the injection is over: take the record back
                self._resolved(inj, "posted", f"the POST had executed ({told}); never notified, withdrawn")
                self._take_back(inj)
                return
            self._posted(inj)
            return
        self._release(inj)
        if inj.final:
            self._resolved(inj, "not posted", str(out))
        elif mem is not None and not mem["pending"]:
            # it never reached memory and the agent can no longer run it: post it now, or,
            # past the deadline, end as an injection that was never posted
            if self.clock() < inj.t_accepted + inj.timeout:
                inj.state = "accepted"
                self._post_and_notify(inj)
                return
            self._finish(inj, "timed-out", f"never posted: {out}")
        else:   # the target refused it, or another record holds the block
            self._finish(inj, "refused", str(out))
        self._advance(st)

    def _settled_notify(self, inj: Injection, out: Resolution, mem: dict[str, Any] | None, told: str,
                        waited: float) -> None:
        st = self.sources[inj.source.id]
        kind = inj.source.notify.upper()
        if mem is not None:
            if mem["ours"] and not mem["pending"]:
                return self._consumed_unseen(inj, f"the {kind} request's reply was lost; {told}: the OS "
                                             "has consumed the record")
            if not mem["ours"]:
                self._release(inj)
                why = (f"the {kind} request's reply was lost; {told}: the block no longer holds the "
                       f"record and shows no consumption (block_status {mem['block_status']:#x})")
                if inj.final:
                    self._resolved(inj, "gone", why)
                else:
                    self._finish(inj, "interrupted", why)
                self._advance(st)
                return
            # posted, not consumed: whether the notification was raised nobody can say; it is
            # not raised again (the OS may be handling it): keep watching
            inj.note = (f"the {kind} request's reply was lost; {told}: the record is still posted, "
                        "the notification may or may not have been raised (not raised again)")
            out = "done"
        if out == "done":
            if not inj.note:
                inj.note = f"the {kind} request's reply was lost; {told}: it executed once"
            if inj.final:
                self._resolved(inj, "notified", inj.note)   # the watch goes on (consumed-late)
            else:
                inj.state = "notified"
            self._check_source(st)
            return
        self._withdraw_refused(inj, str(out)) if not inj.final else self._late_refusal(inj, str(out))

    def _late_refusal(self, inj: Injection, why: str) -> None:
        self._resolved(inj, "refused", why)
        self._take_back(inj)

    def _take_back(self, inj: Injection) -> None:
        """Withdraw the record of an injection already journaled final, and free its source."""
        try:
            self.target.withdraw(inj.source)
        except OutcomeUnknown as exc:
            self._doubt(inj, "withdraw", exc)
            return
        self._release(inj)
        self._advance(self.sources[inj.source.id])

    def _settled_withdraw(self, inj: Injection, out: Resolution, mem: dict[str, Any] | None) -> None:
        if mem is not None and mem["ours"] and mem["pending"]:
            try:    # the agent forgot it and the record is still there: withdraw is idempotent
                self.target.withdraw(inj.source)
            except OutcomeUnknown as exc:
                self._doubt(inj, "withdraw", exc)
                return
        self._release(inj)
        self._advance(self.sources[inj.source.id])

    # ---- watching -----------------------------------------------------------------------
    def _check_source(self, st: SourceState) -> None:
        inj = st.current
        if inj is None or inj.doubt is not None:   # unresolved: _settle decides
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
                                "after_ms": round((now - inj.t_notified) * 1000, 3) if inj.t_notified else None,
                                "run": inj.run, "m_consumed": round(now, 6)})
        else:
            dropped = self.target.dropped(st.source)   # the OS acked it but threw it away
            if dropped:
                self._finish(inj, "dropped", dropped)
            else:
                inj.t_consumed = now
                self._finish(inj, "consumed", inj.note + "; latency unknown" if inj.note else "")
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
            if self._follows and not self._resetting and self.clock() >= self._next_follow:
                self._next_follow = self.clock() + FOLLOW_S
                try:
                    self._follow_target()
                except UnreachableError as exc:   # no machine now: the next submit says so
                    log.info("%s", exc)
            if self.unresolved is not None:
                self._settle(self.unresolved, max(timeout, 0.3))
            for st in self.sources.values():
                try:
                    self._check_source(st)
                except FwemuError as exc:   # a read lost on the channel: look again next time
                    log.info("source %d: consumption not readable now (%s)", st.source.id, exc)
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
        if inj.doubt is not None:   # the target has not said whether the request executed
            held = f"source {src.id}" + (" and every NOTIFY_SEI" if src.notify == "sei" else "")
            what = {"post": "the POST may have executed",
                    "notify": f"the record is posted; the {src.notify.upper()} may have been raised",
                    "withdraw": "the WITHDRAW may not have executed"}[inj.doubt]
            self._finish(inj, "timed-out", f"{what}; the target did not answer for "
                         f"{inj.doubt_age(self.clock()):.1f} s ({held} held until it does)")
            return
        if inj.t_posted is None:   # never written: the block's state is not this injection's
            self._finish(inj, "timed-out", "never posted")
            return
        try:
            mem = self.target.read_back(src, inj.record)
        except FwemuError as exc:
            self._finish(inj, "timed-out", f"the OS did not consume it within {inj.timeout:g} s; the "
                         f"target's memory could not be read ({exc}); the source stays held")
            return
        left: dict[str, Any] = {k: mem[k] for k in ("block_status", "read_ack") if k in mem}
        inj.left_in_memory = left
        if mem["ours"] and not mem["pending"] and not inj.unobservable:   # consumed since the last look
            self._check_source(self.sources[src.id])
            if inj.final:
                return
        if mem["ours"] and mem["pending"]:   # read just now (left_in_memory has the values)
            why = "the block stays posted (firmware will not overwrite it)"
        else:
            shown = ", ".join(f"{k} {v:#x}" for k, v in left.items())
            why = f"the target's memory shows {shown}, {'with' if mem['ours'] else 'without'} this record"
        self._finish(inj, "timed-out", f"the OS did not consume it within {inj.timeout:g} s; {why}")

    def _finish(self, inj: Injection, state: str, reason: str) -> None:
        inj.state, inj.reason, inj.t_end = state, reason, self.clock()
        self.inflight.pop(inj.id, None)
        self.history.append(inj)
        self.counts[state] += 1
        self._journal(inj, state)
        if inj._done is not None:
            inj._done.set()

    def _journal(self, inj: Injection, event: str) -> None:
        journal = self.journal
        if journal.writing and not journal.defer((inj, event)):     # formatted only when written
            journal.write_line(inj.journal_bytes(event))

    # ---- driving --------------------------------------------------------------------------
    def idle(self) -> bool:
        """Nothing in flight and no source holding a record: pump() has nothing to watch
        until the next submit (a pumping thread may sleep)."""
        with self.lock:
            return not self.inflight and all(st.current is None for st in self.sources.values())

    def wait_all(self, injections: Iterable[Injection], deadline: float | None = None) -> None:
        """Pump until every given injection is final."""
        while not all(i.final for i in injections):
            if deadline is not None and self.clock() > deadline:
                break
            self.pump(0.05)

    def settle(self, budget: float) -> bool:
        """Before letting the target go: learn, for up to `budget` s, the outcome of a
        request still unresolved (and withdraw a record posted but never notified). True
        when nothing is left unknown."""
        with self.lock:
            inj = self.unresolved
            if inj is None:
                return True
            if self._settle(inj, budget) and self.unresolved is None:
                return True
            log.warning("injection #%d: the target never said whether its %s executed; source %d "
                        "may still hold its record", inj.id, inj.doubt, inj.source.id)
            return False

    def interrupt(self, reason: str = "fwemu stopped") -> int:
        """Journal every in-flight injection as interrupted (SIGTERM, shutdown)."""
        with self.lock:
            pending = [i for i in self.inflight.values() if not i.final]
            for inj in pending:
                self._finish(inj, "interrupted", reason)
            return len(pending)

    def _follow_target(self) -> None:
        """Under the lock. If the target's machine was replaced, end what was posted into
        its old memory and attach to the new one."""
        why = self.target.replaced()
        if why is None:
            return
        self._memory_lost(why)
        self.target.reattach()
        log.info("re-attached: %s", why)
        for st in self.sources.values():
            self._advance(st)
        self._release_sei()

    def _memory_lost(self, why: str) -> None:
        """Under the lock. The memory the blocks were posted into is going away: what the OS
        released before is seen now (a qemu target keeps the old RAM mapped until it
        detaches), the other posted records go with it unread, and their sources are free."""
        for st in self.sources.values():
            try:
                self._check_source(st)
            except FwemuError:
                pass
        now = self.clock()
        for st in self.sources.values():
            inj = st.current
            if inj is None:
                continue
            st.current = None
            if not inj.final:
                self._finish(inj, "interrupted", f"{why} before the OS consumed the record")
            # the journal's release of the source: the record is gone, never read
            self._resolved(inj, "gone", f"{why}: the record went with the machine's memory, unread")
            if self.sei_current is inj:
                self.sei_current = None
                self.sei_settle_until = now + self.sei_settle

    def reset(self) -> None:
        with self.lock:
            self._resetting = True       # the target is between machines: nothing follows it
            if not self.target.keeps_memory_on_reset:   # fresh blocks are not consumptions
                self._memory_lost("fwemu reset restarted the machine")
        try:
            self.target.reset()
        finally:
            self._resetting = False
        with self.lock:
            if self.unresolved is not None:   # the agent forgot it: memory tells
                self._settle(self.unresolved, 1.0)
            for st in self.sources.values():
                self._check_source(st)
                self._advance(st)
            self._release_sei()

    def status(self) -> dict[str, Any]:
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
                "unresolved": None if self.unresolved is None else {
                    "injection": self.unresolved.id, "request": self.unresolved.doubt,
                    "source": self.unresolved.source.id,
                    "silent_s": round(self.unresolved.doubt_age(self.clock()), 3)},
                "sei_settle_ms": self.sei_settle * 1000,
                "sei_settling": sei is None and self.clock() < self.sei_settle_until,
                "unsafe_concurrent_sei": self.unsafe_concurrent_sei,
                "counts": dict(self.counts),
                "last": [i.to_json() for i in list(self.history)[-10:]],
                "target": self.target.status(),
            }
