"""The moving parts of `fwemu farm run` (commands/farm.py): the places held, the boards'
processes, and the merge at the end. Imported only when a farm runs (it needs labgrid)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .. import journal_merge
from ..errors import Terminated, UnreachableError, UsageError
from ..labgrid.coordinator import Coordinator
from ..labgrid.driver import url_for

RESOURCE_WAIT_S = 15.0    # an exporter starts ser2net when the place is acquired
DRAIN_S = 15.0            # after Ctrl-C: how long the boards get to end what is in flight
ENVELOPE_HEAD = 65536     # bytes of a board's --json output read for its status and error


@dataclass
class BoardRun:
    place: str
    token: str
    url: str = ""
    journal: str = ""
    proc: subprocess.Popen | None = None
    stdout_path: str = ""
    stderr_path: str = ""
    exit: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


class Farm:
    def __init__(self, address: str, tags: dict[str, str], count: int, wait_s: float,
                 resource: str | None, board_spec: str, outdir: str, verbose: bool = False):
        self.address, self.tags, self.count, self.wait_s = address, tags, count, wait_s
        self.resource, self.board_spec, self.outdir = resource, board_spec, outdir
        self.verbose = verbose
        self.coord: Coordinator | None = None
        self.tokens: list[str] = []
        self.acquired: list[str] = []
        self.boards: list[BoardRun] = []
        self.t0 = self.t1 = 0.0

    # ---- places ----------------------------------------------------------------------------
    def reserve(self) -> None:
        self.coord = c = Coordinator(self.address, verbose=self.verbose)
        tagtext = " ".join(f"{k}={v}" for k, v in self.tags.items())
        places = c.places()
        match = sorted(n for n, p in places.items() if all(p.tags.get(k) == v for k, v in self.tags.items()))
        if not match:
            raise UsageError("--tag", f"no place on {self.address} has the tags {tagtext} "
                             f"({len(places)} place{'s' if len(places) != 1 else ''} there)")
        if len(match) < self.count:
            raise UsageError("--places", f"{self.count} wanted, only {len(match)} place"
                             f"{'s' if len(match) != 1 else ''} tagged {tagtext} ({', '.join(match)})")
        for _ in range(self.count):
            self.tokens.append(c.reserve(self.tags))
        deadline = time.monotonic() + self.wait_s
        allocated: dict[str, str] = {}
        while True:
            for token in self.tokens:
                if token not in allocated:
                    state, place = c.poll(token)
                    if place is not None and state in ("allocated", "acquired"):
                        allocated[token] = place
                    elif state in ("expired", "invalid"):
                        raise UnreachableError(f"labgrid coordinator {self.address}: reservation {token} "
                                               f"for {tagtext} became {state}")
            if len(allocated) == len(self.tokens):
                break
            if time.monotonic() >= deadline:
                raise UnreachableError(f"{len(allocated)} of {self.count} places tagged {tagtext} allocated "
                                       f"after --wait {self.wait_s:g} s (the others are busy)")
            time.sleep(0.5)
        for token in sorted(self.tokens, key=lambda t: allocated[t]):
            place = allocated[token]
            c.acquire(place)
            self.acquired.append(place)
            self.boards.append(BoardRun(place, token))
        for b in self.boards:
            port = c.wait_serial(b.place, self.resource, RESOURCE_WAIT_S)
            b.url = url_for(b.place, port.params, self.board_spec)
            b.extra["resource"] = port.path

    # ---- boards ------------------------------------------------------------------------------
    def start(self, work: list[str]) -> None:
        self.t0 = time.monotonic()
        for b in self.boards:
            stem = os.path.join(self.outdir, _safe(b.place))
            b.journal, b.stdout_path, b.stderr_path = stem + ".jsonl", stem + ".out.json", stem + ".err"
            cmd = [sys.executable, "-m", "fwemu", *work, "--board", self.board_spec, "--url", b.url,
                   "--journal", b.journal, "--json"]
            try:
                with open(b.stdout_path, "wb") as so, open(b.stderr_path, "wb") as se:
                    # a session of its own: a terminal's Ctrl-C reaches the farm only, which
                    # passes one signal to each board (a second would stop a board at once)
                    b.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=so, stderr=se,
                                              start_new_session=True)
            except OSError as exc:     # the caller's cleanup stops the boards already started
                raise UnreachableError(f"place {b.place}: cannot start its fwemu: {exc.strerror or exc}") from None

    def wait(self) -> int:
        """Waits for every board; returns the signal that stopped the farm (0: none)."""
        try:
            self._wait_all(None)
            return 0
        except KeyboardInterrupt as exc:
            signum = signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT
            self._signal_all(signum)
            self._wait_all(DRAIN_S)       # a second Ctrl-C here ends the wait (cleanup kills)
            return signum

    def _wait_all(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        for b in self.boards:
            if b.proc is None:
                continue
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                b.exit = b.proc.wait(left)
            except subprocess.TimeoutExpired:
                b.proc.kill()
                b.exit = b.proc.wait()
        self.t1 = time.monotonic()

    def _signal_all(self, signum: int) -> None:
        for b in self.boards:
            if b.proc is not None and b.proc.poll() is None:
                try:
                    b.proc.send_signal(signum)
                except ProcessLookupError:
                    pass

    def cleanup(self) -> list[str]:
        """Stops what still runs, releases every place acquired and cancels every
        reservation; returns the places released. Never raises for one failure: each is
        tried, and what could not be undone is said on stderr."""
        for b in self.boards:
            if b.proc is not None and b.proc.poll() is None:
                b.proc.kill()
                b.exit = b.proc.wait()
        released: list[str] = []
        if self.coord is None:
            return released
        for place in self.acquired:
            try:
                self.coord.release(place)
                released.append(place)
            except Exception as exc:  # noqa: BLE001 - go on releasing the others
                print(f"fwemu: warning: place {place} not released: {exc}; "
                      f"labgrid-client -p {place} release", file=sys.stderr)
        for token in self.tokens:
            try:
                self.coord.cancel(token)
            except Exception as exc:  # noqa: BLE001
                print(f"fwemu: warning: reservation {token} not cancelled: {exc}", file=sys.stderr)
        self.coord.close()
        self.coord = None
        return released

    # ---- the merge ---------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        ran = [b for b in self.boards if b.journal and os.path.exists(b.journal)]
        total = journal_merge.Summary()
        places = []
        for b in self.boards:
            s = journal_merge.summarize(b.journal, total) if b in ran else journal_merge.Summary()
            places.append({"place": b.place, "url": b.url, "resource": b.extra.get("resource"),
                           "exit": b.exit if b.exit is not None else 1, "error": self._error(b),
                           "journal": b.journal or None, **s.to_json()})
        merged = os.path.join(self.outdir, "farm.jsonl")
        try:
            with open(merged, "w", encoding="utf-8") as f:
                journal_merge.merge([({"place": b.place}, b.journal) for b in ran], f)
        except OSError as exc:      # a full disk: the boards' own journals are still there
            raise UnreachableError(f"--dir: writing {merged}: {exc.strerror or exc} (each board's "
                                   f"journal is in {self.outdir})") from None
        return {"places": places, "total": {**total.to_json(total=True),
                                             "exit": max((p["exit"] for p in places), default=0)},
                "journal": merged, "wall_s": round(max(0.0, self.t1 - self.t0), 3)}

    @staticmethod
    def _error(b: BoardRun) -> str | None:
        """A board's one line: the error of its --json envelope (read from the head of its
        output, where the envelope puts it, so a huge report is not loaded), else the last
        line it wrote on stderr."""
        if b.exit in (0, None) or not b.stdout_path:
            return None
        try:
            with open(b.stdout_path, "rb") as f:
                head = f.read(ENVELOPE_HEAD).decode("utf-8", "replace")
            m = re.search(r'"error": ("(?:[^"\\]|\\.)*")', head)
            if m:
                return str(json.loads(m.group(1)))
            with open(b.stderr_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
                lines = [x for x in f.read().decode("utf-8", "replace").splitlines() if x.strip()]
            return lines[-1] if lines else f"exit {b.exit} with no message"
        except OSError as exc:
            return f"exit {b.exit}; its output could not be read ({exc})"

