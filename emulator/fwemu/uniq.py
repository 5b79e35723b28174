"""Per-board uniqueness of record timestamps, across PEs, sources, processes and restarts.

Linux's GHES estatus cache (4 slots, 10 s) compares whole status blocks and, on the
SEA/SDEI/SEI path, silently drops a block equal to a recent one. Two records are equal
only when their content and their timestamp are, so firmware makes the timestamp the
unique part: the 7 reserved flag bits of the GDE timestamp (Timestamp.sequence; Linux
prints only bit 0 of that byte) give 128 distinct values per second.

A *token* is `second * 128 + sequence`. Tokens are handed out per board from a small
state file next to the journal (`${XDG_STATE_HOME:-~/.local/state}/fwemu/stamps-BOARD.json`),
read and updated under an exclusive flock(2), so no two processes (nor two firmware
instances in one process, nor a process and its successor) ever hold the same token. A
process reserves a run of tokens at a time (1, doubling while it keeps coming back within
a second of its last reservation, at most 4096, over as many seconds as it takes) and then hands each token to *every distinct
content* that asks for it: different content cannot be equal anyway, so a token is used up
only by content that repeats. Content repeating more than a second's worth of tokens moves
on to later seconds (the timestamp runs ahead of the wall clock, which the factory reports).
One process takes at most 64 tokens of any second ahead of the wall clock, so a process
repeating identical content very fast cannot push every other process's timestamps ahead
with it.

A fixed `--timestamp` has its own 128 tokens (that second's sequence values), counted in
the same file; past them a record may repeat an earlier one, and `take_fixed` says so.

If the state file cannot be used (read-only home, a foreign file in a shared directory),
the allocator warns once and keeps the tokens in memory: unique within the process only.
"""

from __future__ import annotations

import bisect
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import UsageError
from .safe_io import make_parent, open_state

State = dict[str, Any]   # the state file's JSON object
T = TypeVar("T")

log = logging.getLogger("fwemu.uniq")

SEQ = 128                 # sequence values per second (Timestamp.sequence: 7 bits)
MAX_RUN = 4096            # tokens one reservation takes at most (a burst of identical content)
PER_PROCESS_SECOND = 64   # tokens one allocator takes from one second ahead of the wall at most
KEEP_SECONDS = 120        # live seconds older than this (behind the wall) are pruned
KEEP_FIXED = 1024         # fixed timestamps remembered (oldest dropped)


def state_path(board_name: str) -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", board_name) or "board"
    return Path(base) / "fwemu" / f"stamps-{safe}.json"


class StampAllocator:
    """Hands out tokens for one board. Not thread-safe (its RecordFactory's caller
    serialises submissions)."""

    def __init__(self, board_name: str | None, path: str | os.PathLike[str] | None = None):
        self.board_name = board_name
        self.path = Path(path) if path is not None else (state_path(board_name) if board_name else None)
        self._fd: int | None = None
        self._memory: State | None = None if self.path else self._empty()   # fallback state
        self._starts: list[int] = []           # reserved live tokens [start, end), sorted
        self._ends: list[int] = []
        self._taken: dict[int, int] = {}       # live second -> tokens this allocator took from it
        self._run, self._run_wall = 1, -1
        self._fixed_ranges: dict[int, list[list[int]]] = {}   # fixed key -> reserved seqs
        self.warnings: list[str] = []          # state-file trouble (reported once)

    # ---- the state file ---------------------------------------------------------------
    @staticmethod
    def _empty() -> State:
        return {"v": 1, "live": {}, "fixed": {}}

    def _open(self) -> None:
        assert self.path is not None    # without a path the state lives in memory from the start
        try:
            make_parent(self.path, "uniqueness state")
            self._fd = open_state(self.path, "uniqueness state")
        except UsageError as exc:
            msg = (f"{exc}; records are unique within this process only (not across "
                   "processes or restarts)")
            log.warning("%s", msg)
            self.warnings.append(msg)
            self._memory = self._empty()

    def _transact(self, fn: Callable[[State], T]) -> T:
        """fn(state) under the board-wide lock; the state is written back afterwards."""
        if self._memory is None and self._fd is None:
            self._open()
        if self._memory is not None:
            return fn(self._memory)
        fd = self._fd
        assert fd is not None           # _open either opened the file or fell back to memory
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(fd, 1 << 20, 0)
            try:
                state = json.loads(raw) if raw.strip() else self._empty()
                if not isinstance(state, dict) or state.get("v") != 1:
                    raise ValueError
                state.setdefault("live", {})
                state.setdefault("fixed", {})
            except ValueError:
                # A damaged file: start above every token it could have held (the wall
                # clock plus a margin), so nothing already handed out is reused.
                log.warning("uniqueness state %s is damaged: starting it again", self.path)
                state = self._empty()
                state["live"][str(int(time.time()) + 10)] = 0
                state["floor"] = int(time.time()) + 10
            result = fn(state)
            data = json.dumps(state, separators=(",", ":")).encode()
            try:
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            except OSError as exc:
                # a full disk: what this process reserved stays reserved here; a file cut
                # short reads as damaged, and its next reader starts above the wall clock
                msg = (f"uniqueness state {self.path}: cannot write it ({exc.strerror or exc}); "
                       "records are unique within this process only from now on")
                log.warning("%s", msg)
                self.warnings.append(msg)
                self._memory = state
            return result
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # ---- live tokens (timestamp = now) ----------------------------------------------------
    def next_live(self, t: int, wall: int) -> int:
        """The smallest token >= t this allocator may use (reserving more if needed)."""
        ends = self._ends
        if ends and t < ends[-1]:
            i = bisect.bisect_right(ends, t)       # the first range ending after t
            a = self._starts[i]
            return a if t < a else t
        return self._reserve_live(t, wall)

    def _reserve_live(self, t: int, wall: int) -> int:
        floor = wall * SEQ
        if self._ends and self._ends[0] <= floor:   # forget ranges the wall has passed
            k = bisect.bisect_right(self._ends, floor)
            del self._starts[:k], self._ends[:k]
        for s in [s for s in self._taken if s < wall]:
            del self._taken[s]
        # a run doubles while reservations come back within a second of the last one (a
        # burst's run would otherwise start again at 1 each wall second: a dozen locked
        # state-file rewrites a second instead of one)
        self._run = min(self._run * 2, MAX_RUN) if wall - self._run_wall <= 1 else 1
        self._run_wall = wall
        want = self._run

        def take(state: State) -> list[tuple[int, int, int]]:
            live = state["live"]
            s, q = divmod(t, SEQ)
            if state.get("floor", 0) > s:
                s, q = state["floor"], 0
            got: list[tuple[int, int, int]] = []
            need = want
            while need > 0:
                used = live.get(str(s), 0)
                cap = SEQ if s <= wall else PER_PROCESS_SECOND
                room = cap - self._taken.get(s, 0) - sum(n for s2, _a, n in got if s2 == s)
                start = max(used, q)
                if start < SEQ and room > 0:
                    n = min(need, SEQ - start, room)
                    live[str(s)] = start + n
                    got.append((s, start, n))
                    need -= n
                s, q = s + 1, 0
            for k in [k for k in live if int(k) < wall - KEEP_SECONDS]:
                del live[k]
            return got

        got = self._transact(take)
        for s, start, n in got:
            self._taken[s] = self._taken.get(s, 0) + n
            a = s * SEQ + start
            i = bisect.bisect_left(self._starts, a)
            self._starts.insert(i, a)
            self._ends.insert(i, a + n)
        s, start, _n = got[0]
        return s * SEQ + start

    # ---- fixed timestamps -----------------------------------------------------------------
    def take_fixed(self, key: int, after: int) -> int | None:
        """A sequence value > `after` (-1: any) for fixed timestamp `key` that no one else on
        this board holds, or None when all 128 are gone."""
        ranges = self._fixed_ranges.setdefault(key, [])
        t = after + 1
        for r in ranges:
            if t < r[1]:
                return r[0] if t < r[0] else t
        if t >= SEQ:
            return None

        def take(state: State) -> tuple[int, int]:
            fixed = state["fixed"]
            k = str(key)
            used = fixed.pop(k, 0)            # re-inserted: most recently used last
            start = max(used, t)
            n = min(8 if ranges else 1, SEQ - start) if start < SEQ else 0
            fixed[k] = start + n
            while len(fixed) > KEEP_FIXED:
                del fixed[next(iter(fixed))]
            return start, n

        start, n = self._transact(take)
        if n == 0:
            return None
        ranges.append([start, start + n])
        if len(self._fixed_ranges) > KEEP_FIXED:
            self._fixed_ranges.pop(next(iter(self._fixed_ranges)))
        return start
