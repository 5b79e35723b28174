"""A fault-injecting serial link for tests and benchmarks: a relay thread between two file
descriptors (a pty master, a socket) that drops, corrupts, duplicates and delays bytes,
paces them at a baud rate like a real UART, and can cut the line for a while (a disconnect
mid-frame).

    host (pyserial on /dev/pts/A) ⇄ [pty A master] ⇄ FaultLink ⇄ [fd] ⇄ agent

Probabilities are per byte and per direction. Every fault is counted, so a test can say
how hostile the line was. Deterministic with `seed`.
"""

from __future__ import annotations

import collections
import os
import random
import select
import threading
import time
import tty
from dataclasses import dataclass, field


@dataclass
class Faults:
    drop: float = 0.0        # a byte vanishes
    corrupt: float = 0.0     # a byte is XORed with a random non-zero value
    duplicate: float = 0.0   # a byte is sent twice
    delay: float = 0.0       # a chunk is held back by delay_s extra
    delay_s: float = 0.005


@dataclass
class LinkStats:
    bytes: list = field(default_factory=lambda: [0, 0])
    dropped: list = field(default_factory=lambda: [0, 0])
    corrupted: list = field(default_factory=lambda: [0, 0])
    duplicated: list = field(default_factory=lambda: [0, 0])
    delayed: list = field(default_factory=lambda: [0, 0])
    cut_bytes: int = 0

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def pty_pair() -> tuple[int, str, int]:
    """A raw pty: (master fd, slave path, slave fd). The slave fd is kept open, so the
    master never sees EIO while a client reconnects."""
    m, s = os.openpty()
    tty.setraw(m)
    tty.setraw(s)
    path = os.ttyname(s)
    return m, path, s


class FaultLink:
    """Relays between fd `a` (the host side) and fd `b` (the agent side)."""

    CHUNK = 64

    def __init__(self, a: int, b: int, faults: Faults | None = None, *, baud: int | None = None,
                 seed: int = 1, faults_b_to_a: Faults | None = None):
        self.fds = (a, b)
        self.faults = [faults or Faults(), faults_b_to_a or faults or Faults()]
        self.byte_time = 10.0 / baud if baud else 0.0
        self.rng = random.Random(seed)
        self.stats = LinkStats()
        self._queues: list[collections.deque[tuple[float, bytes]]] = [collections.deque(), collections.deque()]  # per direction
        self._busy_until = [0.0, 0.0]
        self._cut_until = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="fwemu-faultlink", daemon=True)
        self._thread.start()

    def set_faults(self, faults: Faults, faults_b_to_a: Faults | None = None) -> None:
        with self._lock:
            self.faults = [faults, faults_b_to_a or faults]

    def cut(self, seconds: float) -> None:
        """Disconnect: every byte in both directions is lost for `seconds`, starting now
        (whatever frame is on the line is cut in the middle)."""
        with self._lock:
            self._cut_until = time.monotonic() + seconds

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _mangle(self, d: int, data: bytes) -> bytes:
        f, rng, st = self.faults[d], self.rng, self.stats
        out = bytearray()
        for b in data:
            if f.drop and rng.random() < f.drop:
                st.dropped[d] += 1
                continue
            if f.corrupt and rng.random() < f.corrupt:
                b ^= rng.randrange(1, 256)
                st.corrupted[d] += 1
            out.append(b)
            if f.duplicate and rng.random() < f.duplicate:
                out.append(b)
                st.duplicated[d] += 1
        return bytes(out)

    def _enqueue(self, d: int, data: bytes, now: float) -> None:
        with self._lock:
            if now < self._cut_until:
                self.stats.cut_bytes += len(data)
                return
            data = self._mangle(d, data)
            extra = 0.0
            f = self.faults[d]
            if f.delay and self.rng.random() < f.delay:
                extra = f.delay_s
                self.stats.delayed[d] += 1
        for i in range(0, len(data), self.CHUNK):
            part = data[i:i + self.CHUNK]
            start = max(self._busy_until[d], now)
            self._busy_until[d] = start + len(part) * self.byte_time
            self._queues[d].append((self._busy_until[d] + extra, part))

    def _run(self) -> None:
        a, b = self.fds
        while not self._stop.is_set():
            now = time.monotonic()
            waits = [q[0][0] - now for q in self._queues if q]
            timeout = max(0.0, min(waits)) if waits else 0.05
            try:
                ready, _, _ = select.select([a, b], [], [], min(timeout, 0.05))
            except (OSError, ValueError):
                return
            now = time.monotonic()
            for d, fd in ((0, a), (1, b)):
                if fd in ready:
                    try:
                        data = os.read(fd, 4096)
                    except OSError:
                        data = b""
                    if data:
                        self.stats.bytes[d] += len(data)
                        self._enqueue(d, data, now)
            for d, fd in ((0, b), (1, a)):
                q = self._queues[d]
                while q and q[0][0] <= time.monotonic():
                    _, part = q.popleft()
                    try:
                        os.write(fd, part)
                    except OSError:
                        pass
