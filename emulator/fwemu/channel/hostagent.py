"""The target agent (csrc/agent, compiled into the cffi core) run on the host, with its
platform hooks served by Python: the sim board's agent process (fwemu.targets.agent_sim),
the channel tests' fake board, and the benchmarks.

    plat = MemoryPlatform(windows=[(0x80000000, 0x1000, 3)], pe_count=4)
    agent = HostAgent(plat, board_id="test")
    serve(agent, rfd, wfd)          # until stop is set: bytes in → replies/events out

A platform object provides: `map(pa, length)` → a cffi uint8_t* or None; and optionally
`raise_sei(pe)`, `sdei_dispatch(pe, event)` → (rc, reason), `sdei_state(pe, event)` → (rc,
state), `pend_irq(pe, intid)`, `raise_sea(pe)` (→ rc, 0 = done), `status_blob()` → bytes.
A missing method is a missing capability, exactly as a NULL hook in C.
"""

from __future__ import annotations

import os
import select
import threading
import time

from .._corelib import ffi, lib

_HOOKS = ("raise_sei", "sdei_dispatch", "sdei_state", "pend_irq", "raise_sea", "status_blob")


@ffi.def_extern()
def fwa_py_map(ctx, pa, length):
    p = ffi.from_handle(ctx).platform.map(pa, length)
    return ffi.NULL if p is None else ffi.cast("void *", p)


@ffi.def_extern()
def fwa_py_raise_sei(ctx, pe):
    return _call(ctx, "raise_sei", pe)


@ffi.def_extern()
def fwa_py_sdei_dispatch(ctx, pe, event, reason):
    try:
        rc, why = ffi.from_handle(ctx).platform.sdei_dispatch(pe, event)
    except Exception:  # noqa: BLE001 - a platform bug refuses, it never unwinds into C
        ffi.from_handle(ctx).errors += 1
        return -1
    reason[0] = why
    return rc


@ffi.def_extern()
def fwa_py_sdei_state(ctx, pe, event, state):
    try:
        rc, st = ffi.from_handle(ctx).platform.sdei_state(pe, event)
    except Exception:  # noqa: BLE001
        ffi.from_handle(ctx).errors += 1
        return -1
    state[0] = st
    return rc


@ffi.def_extern()
def fwa_py_pend_irq(ctx, pe, intid):
    return _call(ctx, "pend_irq", pe, intid)


@ffi.def_extern()
def fwa_py_raise_sea(ctx, pe):
    return _call(ctx, "raise_sea", pe)


@ffi.def_extern()
def fwa_py_uart_write(ctx, p, n):
    ffi.from_handle(ctx).out.append(bytes(ffi.buffer(p, n)))


@ffi.def_extern()
def fwa_py_time_us(ctx):
    return int((time.monotonic() - ffi.from_handle(ctx).t0) * 1e6)


@ffi.def_extern()
def fwa_py_status_blob(ctx, out, cap):
    try:
        blob = ffi.from_handle(ctx).platform.status_blob()
    except Exception:  # noqa: BLE001
        return -1
    if blob is None or len(blob) > cap:
        return -1
    ffi.memmove(out, blob, len(blob))
    return len(blob)


def _call(ctx, name, *args) -> int:
    host = ffi.from_handle(ctx)
    try:
        return int(getattr(host.platform, name)(*args))
    except Exception:  # noqa: BLE001
        host.errors += 1
        return -1


class HostAgent:
    """One C agent instance over a Python platform. Not thread safe: one thread feeds it."""

    def __init__(self, platform, board_id: str, pe_count: int, windows, boot_count: int = 0):
        self.platform = platform
        self.board_id, self.pe_count, self.windows = board_id, pe_count, list(windows)
        self.out: list[bytes] = []
        self.errors = 0
        self.t0 = time.monotonic()
        self._handle = ffi.new_handle(self)
        self._plat = ffi.new("fwa_platform *")
        p = self._plat
        p.ctx = self._handle
        p.map = lib.fwa_py_map
        p.uart_write = lib.fwa_py_uart_write
        p.time_us = lib.fwa_py_time_us
        for name in _HOOKS:
            if callable(getattr(platform, name, None)):
                setattr(p, name, getattr(lib, "fwa_py_" + name))
        self._board = ffi.new("char[]", board_id.encode())
        self._win = ffi.new("fwa_window[]", max(1, len(self.windows)))
        for i, (base, size, flags) in enumerate(self.windows):
            self._win[i].base, self._win[i].size, self._win[i].flags = base, size, flags
        self.agent = ffi.new("fwa_agent *")
        self.boot_count = boot_count
        self.pending_reset = False
        self._init()

    def _init(self) -> None:
        cfg = ffi.new("fwa_config *")
        cfg.plat = self._plat
        cfg.board_id = self._board
        cfg.pe_count = self.pe_count
        cfg.windows = self._win
        cfg.n_windows = len(self.windows)
        cfg.boot_count = self.boot_count
        self._cfg = cfg
        rc = lib.fwa_init(self.agent, cfg)
        if rc != 0:
            raise ValueError(f"fwa_init refused the configuration ({rc})")

    def start(self) -> None:
        lib.fwa_start(self.agent)

    def reset(self) -> None:
        """The firmware restarts: the agent forgets its session, dedupe table and watches,
        the boot count goes up, EV_BOOT is sent."""
        self.boot_count += 1
        self._init()
        self.start()

    def reset_soon(self) -> None:
        """Ask the thread that runs serve() to reset the agent at its next turn (resetting
        from another thread would race the C state)."""
        self.pending_reset = True

    def feed(self, data: bytes) -> int:
        return lib.fwa_rx(self.agent, data, len(data)) if data else 0

    def check_watches(self) -> int:
        return lib.fwa_check_watches(self.agent)

    def log(self, text: str) -> None:
        lib.fwa_log(self.agent, text.encode()[:lib.FWA_LOG_MAX])

    def take_output(self) -> bytes:
        out, self.out = b"".join(self.out), []
        return out

    def counters(self) -> dict:
        n = self.agent.n
        return {k: getattr(n, k) for k in ("rx_frames", "bad_messages", "replies", "dup_hits", "stale",
                                           "events", "notifications", "refused", "window_refusals")}


class MemoryPlatform:
    """A fake board: windows backed by bytearrays, every hook counted. SDEI events
    `sdei_events` (number → critical) are registered and enabled on every PE; PEs in
    `masked` are masked; a dispatch completes at once."""

    def __init__(self, windows, pe_count: int = 4, sdei_events=None, masked=(), sea=True):
        self.windows = [(b, s, f, bytearray(s)) for b, s, f in windows]
        self._ptrs = [(b, s, ffi.from_buffer(buf)) for b, s, _f, buf in self.windows]
        self.pe_count = pe_count
        self.sdei_events = dict(sdei_events or {5000: False, 5003: True})
        self.masked = set(masked)
        self.calls: list[tuple] = []
        self.lock = threading.Lock()
        if not sea:
            self.raise_sea = None   # type: ignore[method-assign,assignment]  # a platform without the hook

    def map(self, pa, length):
        for base, size, ptr in self._ptrs:
            if base <= pa and pa + length <= base + size:
                return ptr + (pa - base)
        return None

    def _note(self, *call):
        with self.lock:
            self.calls.append(call)

    def count(self, kind: str) -> int:
        with self.lock:
            return sum(1 for c in self.calls if c[0] == kind)

    def raise_sei(self, pe):
        self._note("sei", pe)
        return 0

    def sdei_dispatch(self, pe, event):
        if pe in self.masked:
            return -1, lib.FWA_SDEI_WHY_MASKED
        if event == 0:
            return -1, lib.FWA_SDEI_WHY_EVENT0
        if event not in self.sdei_events:
            return -1, lib.FWA_SDEI_WHY_NOT_EXPLICIT
        self._note("sdei", pe, event)
        return 0, 0

    def sdei_state(self, pe, event):
        if event not in self.sdei_events:
            return -1, 0
        return 0, (lib.FWA_SDEI_ST_REGISTERED | lib.FWA_SDEI_ST_ENABLED
                   | (lib.FWA_SDEI_ST_CRITICAL if self.sdei_events[event] else 0)
                   | (lib.FWA_SDEI_ST_PE_MASKED if pe in self.masked else 0))

    def pend_irq(self, pe, intid):
        if intid >= 1020:
            return -1
        self._note("irq", pe, intid)
        return 0

    def raise_sea(self, pe):
        self._note("sea", pe)
        return 0

    def read(self, pa: int, length: int) -> bytes:
        return bytes(ffi.buffer(self.map(pa, length), length))

    def write(self, pa: int, data: bytes) -> None:
        ffi.memmove(self.map(pa, len(data)), data, len(data))


def serve(agent: HostAgent, rfd: int, wfd: int, stop: threading.Event, *, wake_fd: int | None = None,
          watch_period: float = 0.002, on_tick=None) -> None:
    """Runs the agent on two file descriptors (a pty master, a socket, a pipe) until `stop`
    is set or the peer closes. `wake_fd` (a pipe's read end) wakes the loop to check the
    watches at once (the sim OS acked); otherwise they are checked every `watch_period`."""
    fds = [rfd] + ([wake_fd] if wake_fd is not None else [])
    agent.start()
    _flush(agent, wfd)
    while not stop.is_set():
        try:
            ready, _, _ = select.select(fds, [], [], watch_period)
        except (OSError, ValueError):
            return
        if rfd in ready:
            try:
                data = os.read(rfd, 65536)
            except OSError:   # EIO: the pty's other side closed
                data = b""
            if not data:
                time.sleep(watch_period)
                if stop.is_set():
                    return
                continue
            agent.feed(data)
        if wake_fd is not None and wake_fd in ready:
            try:
                os.read(wake_fd, 4096)
            except OSError:
                pass
        if on_tick is not None:
            on_tick()
        if agent.pending_reset:
            agent.pending_reset = False
            agent.reset()
        agent.check_watches()
        _flush(agent, wfd)


def _flush(agent: HostAgent, wfd: int) -> None:
    out = agent.take_output()
    while out:
        try:
            n = os.write(wfd, out)
        except BlockingIOError:
            select.select([], [wfd], [], 0.05)
            continue
        except OSError:
            return
        out = out[n:]
