"""A firmware instance for one board: target + firmware model + journal, in-process.

Commands use `Session.open(board, …)`; the daemon keeps one alive and serves the same
`inject`/`status`/`reset` requests over its control socket.
"""

from __future__ import annotations

import array
import collections
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from . import scenarios
from .board import Board
from .errors import UnreachableError, UsageError
from .firmware import FirmwareModel
from . import recovery
from .journal import Journal, default_path
from .request import InjectRequest
from .injection import Injection
from .sweep import Choice, Injections
from .targets import open_target
from .targets.base import Target

log = logging.getLogger("fwemu.session")

DRAIN_S = 2.0     # after a stop, how long injections in flight may still end on their own


def unreachable_text(board: Board, url: str | None, message: str) -> str:
    """An unreachable agent target's one line: the URL once, the board's hint on bringing the
    target up, and how to point fwemu elsewhere for one run."""
    if board.target.kind != "agent":
        return message
    url = url or board.target.url
    # pyserial repeats the URL ("cannot open U: Could not open port U: [Errno 111] ...")
    message = message.replace(f"Could not open port {url}: ", "")
    hint = f"; {board.target.hint}" if board.target.hint else ""
    return (f"board {board.name}: {message}{hint}; another channel for this run: "
            "--url URL or FWEMU_URL=URL")


class _Tally:
    """A streaming summary of finished injections (report="summary"): state counts, every
    distinct reason (bounded), latency percentiles from a compact array (8 bytes an
    injection up to SAMPLES, then a uniform reservoir of SAMPLES: exact up to 100,000
    injections, sampled above, with max and mean exact) and the last few records, so a
    request's footprint is bounded whatever its count."""

    LAST = 10
    REASONS = 64        # distinct (state, reason) pairs counted apart; the rest are pooled
    # Sorting for the percentiles makes a float object per sample (32 bytes): 1,000,000
    # samples were a 40 MB peak at the end of a run. p99 from a uniform 100,000 is within
    # about ±0.03 percentile points.
    SAMPLES = 100_000

    def __init__(self, on_final: Callable[[Injection], None] | None = None, samples: int | None = None) -> None:
        self.on_final = on_final
        self.samples = self.SAMPLES if samples is None else samples     # another size: tests
        self.states: dict[str, int] = {}
        self.lat = array.array("d")
        self.last: collections.deque[Injection] = collections.deque(maxlen=self.LAST)
        self.reasons: dict[tuple[str, str], list[int]] = {}
        self.n_lat, self.sum_lat = 0, 0.0
        self.max_lat: float | None = None
        self._rng = random.Random(0x5eed)

    def add(self, inj: Injection) -> None:
        if self.on_final is not None:
            self.on_final(inj)
        self.states[inj.state] = self.states.get(inj.state, 0) + 1
        if inj.state != "consumed":
            key = (inj.state, inj.reason or "no reason given")
            r = self.reasons.get(key)
            if r is None:
                if len(self.reasons) >= self.REASONS:
                    key = (inj.state, "other reasons")
                    r = self.reasons.get(key)
                if r is None:
                    r = self.reasons[key] = [0, inj.id, inj.id]
            r[0] += 1
            r[1], r[2] = min(r[1], inj.id), max(r[2], inj.id)
        if inj.latency is not None:
            # unrounded: rounding is monotonic, so the percentiles and the max rounded at
            # summary() are the latency_ms values to_json() gives (a round() each was a cost)
            v = inj.latency * 1000
            self.n_lat += 1
            self.sum_lat += v
            if self.max_lat is None or v > self.max_lat:
                self.max_lat = v
            if len(self.lat) < self.samples:
                self.lat.append(v)
            else:
                k = self._rng.randrange(self.n_lat)
                if k < self.samples:
                    self.lat[k] = v
        self.last.append(inj)      # to_json() only for the ones reported

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.lat)
        q = (lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))], 4)) if lat else (lambda p: None)
        return {"states": self.states, "count": sum(self.states.values()), "p50_ms": q(0.50),
                "p99_ms": q(0.99), "max_ms": None if self.max_lat is None else round(self.max_lat, 4),
                "mean_ms": self.sum_lat / self.n_lat if self.n_lat else None,     # of the unrounded values
                "latency_sampled": self.n_lat > len(lat),
                "reasons": [{"state": st, "reason": why, "count": n, "first": a, "last": b}
                            for (st, why), (n, a, b) in self.reasons.items()]}


class Session:
    def __init__(self, board: Board, target: Target, firmware: FirmwareModel, journal: Journal):
        self.board, self.target, self.firmware, self.journal = board, target, firmware, journal
        self._closing = threading.Event()
        self._submit_lock = threading.Lock()
        self.runfile: recovery.RunFile | None = None
        self._closed = False
        self.restart: dict[str, Any] | None = None   # what this run resolved of runs cut short before it
        self.stop_reason: str | None = None

    @classmethod
    def open(cls, board: Board, journal: str | None = None, unsafe_concurrent_sei: bool = False,
             sei_settle: float | None = None,
             sim: dict[str, Any] | None = None, url: str | None = None) -> Session:
        """url: an agent board's channel for this session instead of target.url."""
        try:
            target = open_target(board, sim=sim, url=url)
        except UnreachableError as exc:
            raise UnreachableError(unreachable_text(board, url, str(exc))) from None
        jpath = None if journal == "none" else (journal or default_path(board.name))
        try:
            j = Journal(jpath)
        except BaseException:
            target.close()
            raise
        # A target may resolve the board (qemu: sources discovered from the guest's HEST).
        board = getattr(target, "board", board)
        fw = FirmwareModel(board, target, j, unsafe_concurrent_sei=unsafe_concurrent_sei,
                           sei_settle=sei_settle)
        session = cls(board, target, fw, j)
        # runs on this journal that were cut short (SIGKILL, a crash): end their injections
        session.runfile = recovery.open_runfile(j)
        if session.runfile is not None and j.path is not None:   # a run file is a journal file's
            fw.id_source = session.runfile.reserve_ids
            try:
                session.restart = recovery.recover(fw, j.path, session.runfile)
            except OSError as exc:
                log.warning("%s: %s; runs cut short are not resolved now", session.runfile.path, exc)
        return session

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stop_accepting(self, reason: str | None = None, *, from_signal: bool = False) -> None:
        """No new submissions from now on (the daemon is stopping, or the CLI got SIGINT or
        SIGTERM): an inject in progress stops submitting and reports what it did submit.
        Returns once no submission is in progress, so the caller may interrupt() what is in
        flight; from_signal (a handler in the thread running inject(), which may be inside
        a submission) only sets the flag, and inject() ends the rest itself."""
        if reason and self.stop_reason is None:
            self.stop_reason = reason
        if from_signal:
            self._closing.set()
            return
        with self._submit_lock:
            self._closing.set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stop_accepting()
        self.firmware.settle(5.0)     # a lost reply still unresolved: ask once more (agent boards)
        self.firmware.interrupt("fwemu session closed")
        self.firmware.end_run()
        recovery.end(self.firmware, self.runfile)
        self.runfile = None
        self.target.close()
        self.journal.close()

    def _submit(self, req: InjectRequest, choice: Choice) -> Injection | None:
        scenario, fields, source, notify, pe = choice
        with self._submit_lock:
            if self._closing.is_set() or self.journal.error:
                return None
            return self.firmware.submit(
                scenario, fields, source_id=source, notify=notify, pe=pe,
                timeout=req.timeout, record=req.record, unique=req.unique)

    def _check_variants(self, plan: Injections) -> None:
        """A mixed request's every variant, checked before the first injection (a bad one
        found half way would end the request with its injections unreported)."""
        for p in plan.picks:
            self.firmware.resolve_source(p.scenario, p.source, p.notify)
            if p.pe_spec is None and not 0 <= p.pe < self.board.pes.count:
                raise UsageError("--pe", f"board {self.board.name!r} has PEs 0 .. {self.board.pes.count - 1}")
            if p.scenario != "raw":
                scenarios.build(p.scenario, p.plan.fixed)   # UsageError naming the field

    def inject(self, req: InjectRequest | dict[str, Any], *, pump: bool = True, wake: Callable[[], None] | None = None,
               progress: Callable[[int], None] | None = None,
               on_final: Callable[[Injection], None] | None = None) -> dict[str, Any]:
        """Submit `count` injections at `rate`, wait for every one to end; return their
        journal records, the OS log lines they produced and the OS state.

        pump=True (the CLI): this thread pumps the firmware model while it waits.
        pump=False (the daemon): another thread is the one pumper (FirmwareModel's rule);
        this one submits, calls `wake()` after each submit, and waits on the injections'
        `done` events. report="summary" returns counts, percentiles and the last records
        instead of one record per injection (what a 100,000-injection storm wants)."""
        if not isinstance(req, InjectRequest):     # a map (tests, benchmarks): the wire's keys
            req = InjectRequest.from_wire(req)
        fw = self.firmware
        if req.notify and req.source is None:
            why = self.target.notify_kind_refusal(req.notify)   # the target's reason (qemu: which QEMU could)
            if why:
                raise UsageError("--notify", why)
        _lines, mark = self.target.os_log(0)
        count, rate = req.count, req.rate
        plan = Injections(req, self.board.pes.count)   # UsageError: a bad spec
        if req.mix:
            self._check_variants(plan)
        # on_final(inj) is called once for each injection as it ends (a summary is kept, not
        # the injections, so a streamed run of any length holds nothing per injection)
        tally = _Tally(on_final) if req.report == "summary" or on_final is not None else None
        injs = []          # every injection; with a tally, only those not yet final
        submitted = 0
        ids: list[int | None] = [None, None]   # this request's first and last injection (its os-log line says)
        t0 = time.monotonic()
        burst = self._burst_size(req, plan)
        k = 0
        while k < count:
            if burst:   # the OS consumes within notify(): a burst at a time, each ended before the next
                choices = [plan.next() for _ in range(min(burst, count - k))]
                with self._submit_lock:   # (no break inside a with: mypyc compiles this module)
                    stop = self._closing.is_set() or self.journal.error is not None
                    got = [] if stop else fw.submit_many(choices, timeout=req.timeout, unique=req.unique)
                if stop:
                    break
                k += len(got)
                submitted += len(got)
                if ids[0] is None:
                    ids[0] = got[0].id
                ids[1] = got[-1].id
                injs.extend(got)
                if wake is not None and not got[-1].final:   # (the sim ends each: defensive)
                    wake()
                if pump:
                    fw.pump(0)
                    if progress is not None:
                        progress(submitted)
                if tally is not None:
                    injs = self._tally_finals(tally, injs)
                continue
            k += 1
            if rate > 0:
                due = t0 + (k - 1) / rate
                while (left := due - time.monotonic()) > 0 and not self._closing.is_set():
                    if pump:
                        fw.pump(max(0.0, min(0.05, left)))
                    else:
                        self._closing.wait(min(0.5, left))
            inj = self._submit(req, plan.next())
            if inj is None:
                break
            submitted += 1
            injs.append(inj)
            ids[0] = inj.id if ids[0] is None else ids[0]
            ids[1] = inj.id
            if wake is not None and not inj.final:   # something for the pumper to watch
                wake()
            if pump and k % 64 == 0:
                fw.pump(0)
                if progress is not None:
                    progress(submitted)
            if tally is not None and (len(injs) >= 256 or on_final is not None):
                injs = self._tally_finals(tally, injs)
        if submitted == 0 and count > 0:
            raise UnreachableError(self.journal.error or "fwemu is stopping: the injection was not submitted")
        if pump:
            drain_until = None
            while not all(i.final for i in injs):
                if self._closing.is_set():
                    # stopped (a signal, via stop_accepting): what is in flight gets DRAIN_S
                    # to end, then is journalled interrupted, so the report has a state for each
                    if drain_until is None:
                        drain_until = fw.clock() + DRAIN_S
                    elif fw.clock() >= drain_until:
                        fw.interrupt(self.stop_reason or "fwemu stopped")
                        break
                fw.pump(0.05)
                if tally is not None and on_final is not None:      # streamed as they end, not at the end
                    injs = self._tally_finals(tally, injs)
        else:
            for i in injs:
                i.done.wait()   # the pumper finishes every injection: consumed, timed out or interrupted
        if progress is not None:
            progress(submitted)
        lines, _ = self.target.os_log(mark)
        os_state = self.target.os_state()
        self._journal_os(lines, os_state, ids)
        result: dict[str, Any] = {"via": "in-process", "os": os_state}
        if tally is None:
            result.update(injections=[i.to_json() for i in injs], os_log=lines)
        else:
            for i in injs:
                tally.add(i)
            result.update(injections=[i.to_json() for i in sorted(tally.last, key=lambda i: i.id)],
                          summary=tally.summary(),
                          os_log=lines[-50:], os_log_lines=len(lines))
        if submitted < count:
            result["not_submitted"] = count - submitted
        if self.journal.error:
            result["journal_error"] = self.journal.error
        return result

    BURST = 256    # injections accepted at once when the target's OS consumes within notify()

    def _burst_size(self, req: InjectRequest, plan: Injections) -> int:
        """How many injections to accept at once (0: one at a time). Bursts only where each
        injection ends inside its own submission (the sim's synchronous OS, no rate, no
        given record): the order of posts, notifications and journal lines is then what
        one-at-a-time submission gives, and only the system calls are fewer."""
        if req.rate > 0 or req.record is not None or req.count < 2:
            return 0
        fw = self.firmware
        for p in plan.picks:
            if p.scenario == "raw":
                return 0
            src = fw.resolve_source(p.scenario, p.source, p.notify)
            if not self.target.consumes_in_notify(src.notify):
                return 0
        return self.BURST

    OS_LOG_JOURNALLED = 1000    # an os-log line keeps the request's last lines, and their count

    def _journal_os(self, lines: list[str], os_state: dict[str, Any], ids: list[int | None]) -> None:
        """What the OS printed while a request ran, and its state after: one `os-log` line, so
        a report or a replay shows the OS's reactions (memory_failure, SIGBUS, AER, panic)
        from the journal alone. `ids`: the request's first and last injection (requests of
        a daemon's clients may overlap: the lines are those printed while this one ran)."""
        fw = self.firmware
        if not fw.run_started:
            return
        self.journal.write({"event": "os-log", "run": fw.run, "m_at": round(fw.clock(), 6),
                            "first_id": ids[0], "last_id": ids[1],
                            "count": len(lines), "lines": lines[-self.OS_LOG_JOURNALLED:],
                            "os": os_state})

    @staticmethod
    def _tally_finals(tally: _Tally, injs: list[Injection]) -> list[Injection]:
        """Hand the injections that have ended to the tally; the rest still in flight."""
        left = []
        for i in injs:
            if i.final:
                tally.add(i)
            else:
                left.append(i)
        return left

    def status(self) -> dict[str, Any]:
        st = self.firmware.status()
        st["run"] = self.firmware.run
        if self.restart:
            st["restart"] = self.restart
        return st

    def reset(self) -> dict[str, Any]:
        self.firmware.reset()
        return {"os": self.target.os_state()}
