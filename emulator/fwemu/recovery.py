"""Ending, after a restart, the injections a run left without a final line; and the
journal's injection ids, handed out in blocks from the run file (`next_id`), so every run
on one journal (a daemon, in-process commands) has ids of its own.

A run (one FirmwareModel writing a journal) registers itself in the journal's run file
(`JOURNAL.runs`, JSON, updated under flock(2)): its id, pid, the process's start time, the
machine's boot id and the journal's size when it started. A run that ends cleanly removes
itself. A run still listed whose process is gone (SIGKILL, a crash, the machine rebooted)
was cut short: the next run that opens the journal reads that run's lines from where it
started (nothing earlier), finds every injection it accepted without a final line, and
ends each from what the target's memory says now:

- the block holds the record (its bytes, with the accepted line's block_status put back,
  hash to the digest) and the OS released it: `consumed`, latency unknown;
- the block holds it and the OS has not released it: `interrupted`, still posted (left in
  place: firmware never overwrites it; the post check refuses the block until the OS acks);
- the block does not hold it: `interrupted`, never posted;
- memory cannot be read: `interrupted`, outcome unknown.

On the sim board a restart is a fresh sim (its memory and OS lived in the dead process), so
nothing can be read back: each is `interrupted` and the reason says so. The new lines carry
the dead run's id (so (run, id) names the injection) and `resolved_by` (the new run).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import FwemuError, UsageError
from .firmware import FirmwareModel
from .injection import FINAL
from .journal import Journal
from .procs import alive, boot_id, start_time
from .safe_io import open_state
from .targets.base import Cap

log = logging.getLogger("fwemu.recovery")

MAX_REPORTED = 1000     # resolutions kept for `status` (the counts cover all)

T = TypeVar("T")


def _alive(entry: dict[str, Any], boot: str | None) -> bool:
    if entry.get("boot_id") != boot:
        return False
    pid = entry.get("pid")
    if not isinstance(pid, int):
        return False
    return alive(pid, entry.get("start"))


class RunFile:
    """The journal's list of runs that have not ended cleanly."""

    def __init__(self, journal_path: Path):
        self.path = Path(str(journal_path) + ".runs")
        self._fd: int | None = open_state(self.path, "--journal", perms=0o644)

    def _open_fd(self) -> int:
        if self._fd is None:
            raise ValueError(f"{self.path}: the run file is closed")
        return self._fd

    def _load(self) -> dict[str, Any]:
        raw = os.pread(self._open_fd(), 1 << 22, 0)
        try:
            state = json.loads(raw) if raw.strip() else {}
            runs = state.get("runs") if isinstance(state, dict) else None
            nxt = state.get("next_id") if isinstance(state, dict) else None
            return {"v": 1, "runs": runs if isinstance(runs, list) else [],
                    "next_id": nxt if isinstance(nxt, int) and nxt > 0 else 1}
        except ValueError:
            log.warning("%s is damaged: starting it again (a run it listed is not resolved)", self.path)
            return {"v": 1, "runs": [], "next_id": 1}

    def _store(self, state: dict[str, Any]) -> None:
        data = json.dumps(state, separators=(",", ":")).encode()
        fd = self._open_fd()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))

    def locked(self, fn: Callable[[dict[str, Any]], T]) -> T:
        fd = self._open_fd()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            state = self._load()
            out = fn(state)
            self._store(state)
            return out
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def reserve_ids(self, n: int) -> int:
        """The first of `n` injection ids no other run on this journal has or will have."""
        def take(state: dict[str, Any]) -> int:
            first = state["next_id"]
            state["next_id"] = first + n
            return int(first)
        return int(self.locked(take))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _open_injections(journal_path: Path, dead: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
    """run → {id: accepted line} for every injection of the dead runs without a final line,
    reading the journal from where the earliest of them started."""
    ids: dict[str, dict[int, dict[str, Any]]] = {e["run"]: {} for e in dead}
    start = min(int(e.get("offset") or 0) for e in dead)
    try:
        f = open(journal_path, "rb")
    except OSError:
        return ids
    with f:
        f.seek(start)
        needles = [(r, ('"run":"%s"' % r).encode()) for r in ids]
        for line in f:
            for run, needle in needles:  # noqa: B007 - `run` is the match, read after the break
                if needle in line:
                    break
            else:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("run") != run or "id" not in ev:
                continue
            kind = ev.get("event")
            if kind == "accepted":
                ids[run][ev["id"]] = ev
            elif kind in FINAL:
                ids[run].pop(ev["id"], None)
    return ids


def _memory_gone(fw: FirmwareModel) -> bool:
    """The sim board's memory and OS live in the process that ran it (in-process, or the
    agent process a `sim-agent:` URL spawns for each session)."""
    return Cap.MACHINE_PER_SESSION in fw.target.capabilities()


def _resolve_one(fw: FirmwareModel, entry: dict[str, Any], acc: dict[str, Any],
                 now_wall: float) -> tuple[str, str, dict[str, Any] | None]:
    """(state, reason, left_in_memory) for one open injection, from the target's memory."""
    who = f"resolved after a restart: run {entry['run']} (pid {entry.get('pid')}) ended without its final line"
    if entry.get("journal_error"):
        who += f" (its journal had stopped: {entry['journal_error']}; its client was told the outcome)"
    if entry.get("board") not in (None, fw.board.name):
        return "interrupted", (f"{who}; it ran on board {entry['board']!r}, not {fw.board.name!r}, whose "
                               "memory this run cannot read: outcome unknown"), None
    if _memory_gone(fw):
        return "interrupted", (f"{who}; the sim board it ran on (memory and OS) went with that process "
                               "and this one booted a fresh one, so what the OS did with it is unknown"), None
    try:
        src = fw.board.source(acc["source"])
    except (FwemuError, KeyError) as exc:
        return "interrupted", f"{who}; source {acc.get('source')} is not on this board ({exc})", None
    length = int(acc.get("length") or 0)
    try:
        if length < 20 or length > src.block_length:
            raise FwemuError(f"the accepted line gives no usable length ({length})")
        block = fw.target.read(src.block, length)
        record = int(acc.get("bs", 0)).to_bytes(4, "little") + bytes(block[4:])
        mem = fw.target.read_back(src, record)
    except (FwemuError, OSError) as exc:
        return "interrupted", f"{who}; the target's memory could not be read ({exc}): outcome unknown", None
    left: dict[str, Any] = {k: mem[k] for k in ("block_status", "read_ack") if k in mem}
    ours = hashlib.sha256(record).hexdigest()[:16] == acc.get("digest")
    if ours and not mem["pending"]:
        ack = ", Read Ack acked" if src.read_ack else ""
        return "consumed", (f"{who}; the block holds its record and the OS has released it "
                            f"(block_status {mem['block_status']:#x}{ack}); latency unknown"), left
    if ours:
        return "interrupted", (f"{who}; still posted: the block holds its record and the OS has not "
                               "released it (left in place: firmware never overwrites it)"), left
    return "interrupted", f"{who}; never posted: the block does not hold its record", left


def recover(fw: FirmwareModel, journal_path: Path, runfile: RunFile) -> dict[str, Any] | None:
    """Register fw's run in the run file and end the injections of every dead run listed
    there. Returns what was resolved ({"runs", "states", "injections"}), or None."""
    boot = boot_id()
    me = {"run": fw.run, "pid": os.getpid(), "start": start_time(os.getpid()), "boot_id": boot,
          "board": fw.board.name, "offset": os.path.getsize(journal_path)}
    runs: list[dict[str, Any]] = []
    states: dict[str, int] = {}
    injections: list[dict[str, Any]] = []
    result: dict[str, Any] = {"runs": runs, "states": states, "injections": injections, "count": 0}

    def work(state: dict[str, Any]) -> None:
        live: list[dict[str, Any]] = []
        dead: list[dict[str, Any]] = []
        for e in state["runs"]:
            if not isinstance(e, dict) or "run" not in e:
                continue
            (dead if e.get("ended") or not _alive(e, boot) else live).append(e)
        if dead:
            fw.start_run()
            opened = _open_injections(journal_path, dead)
            by_run = {e["run"]: e for e in dead}
            now_wall = time.time()
            for run, injs in opened.items():
                entry = by_run[run]
                runs.append({"run": run, "pid": entry.get("pid"), "open": len(injs)})
                for iid in sorted(injs):
                    acc = injs[iid]
                    state_, reason, left = _resolve_one(fw, entry, acc, now_wall)
                    line = _final_line(fw, entry, acc, state_, reason, left, boot)
                    fw.journal.write(line)
                    states[state_] = states.get(state_, 0) + 1
                    result["count"] += 1
                    if len(injections) < MAX_REPORTED:
                        injections.append(line)
                fw.journal.write({"event": "run-end", "run": run, "resolved_by": fw.run,
                                  "m_at": round(fw.clock(), 6), "resolved": len(injs), "clean": False})
        if fw.journal.error:       # not journalled: keep them listed for a run that can write
            state["runs"] = live + dead + [me]
        else:
            state["runs"] = live + [me]
        if dead:
            log.warning("resolved %d injection(s) left without a final state by %d run(s) that "
                        "ended without closing (%s)", result["count"], len(dead),
                        ", ".join(f"{k} {v}" for k, v in states.items()) or "none open")

    runfile.locked(work)
    return result if runs else None


def _final_line(fw: FirmwareModel, entry: dict[str, Any], acc: dict[str, Any], state: str,
                reason: str, left: dict[str, Any] | None, boot: str | None) -> dict[str, Any]:
    src = None
    try:
        src = fw.board.source(acc["source"])
    except (FwemuError, KeyError):
        pass
    same_boot = entry.get("boot_id") == boot
    line: dict[str, Any] = {"id": acc["id"], "scenario": acc.get("scenario"), "source": acc.get("source"),
            "notify": src.notify if src else None, "pe": acc.get("pe"), "block": src.block if src else None,
            "length": acc.get("length"), "digest": acc.get("digest"), "state": state, "reason": reason,
            "accepted": acc.get("accepted"), "posted": None, "notified": None,
            "consumed": None, "latency_ms": None, "run": entry["run"],
            "m_accepted": acc.get("m_accepted"), "m_posted": None, "m_notified": None,
            "m_consumed": None, "m_end": round(fw.clock(), 6) if same_boot else None,
            "fields": acc.get("fields") or {}}
    if left is not None:
        line["left_in_memory"] = left
    line.update(resolved_by=fw.run, restart=True, event=state)
    return line


def end(fw: FirmwareModel, runfile: RunFile | None) -> None:
    """A clean end: the run leaves the run file, unless its journal failed (then the next
    run ends the injections the journal is missing, saying the journal had stopped)."""
    if runfile is None:
        return
    err = fw.journal.error

    def work(state: dict[str, Any]) -> None:
        keep = []
        for e in state["runs"]:
            if isinstance(e, dict) and e.get("run") == fw.run:
                if err:
                    keep.append(dict(e, ended=True, journal_error=err))
            else:
                keep.append(e)
        state["runs"] = keep
    try:
        runfile.locked(work)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            log.warning("%s: %s", runfile.path, exc)
    runfile.close()


def open_runfile(journal: Journal) -> RunFile | None:
    """The journal's run file, or None (no journal, not a regular file, or not writable)."""
    if journal.path is None or not journal.regular:
        return None
    try:
        return RunFile(journal.path)
    except UsageError as exc:
        log.warning("%s; a restart cannot end this run's open injections", exc)
        return None
