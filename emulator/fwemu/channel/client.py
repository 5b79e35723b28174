"""The host end of the debug channel: requests with sequence numbers, retries and timeouts,
a reader thread for replies and events, and resynchronisation after a target reset
(protocol/PROTOCOL.md §8).

    ch = AgentChannel("socket://127.0.0.1:5002")
    info = ch.hello()                      # board identity, PEs, windows, capabilities
    ch.call(proto.SDEI, 0, 5000)           # → results, or AgentError / ChannelTimeout
    ch.close()

Retries resend the *same* frame (same sequence number); the agent's dedupe table answers a
copy of a request it already executed from memory, so a retry never raises a notification
twice. `call()` is thread safe; requests go one at a time (stop-and-wait), which already
keeps a 1 KiB post above 90 % of the line rate.

A request with a side effect that gets no reply after every retry stays *unresolved*: it
may or may not have executed. Until `requery()` learns its outcome (the same frame again,
answered from the agent's dedupe table) or learns that the agent forgot it (a reset,
E_STALE), the channel refuses every new side-effect request: one more would push the
unresolved one towards the end of the agent's 16-entry memory, and the caller must not act
on a guess (protocol/PROTOCOL.md §8).
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import protocol as P
from .protocol import AgentError, ChannelError, ChannelTimeout, TargetResetError
from .transport import SerialTransport

log = logging.getLogger("fwemu.channel")


class Transport(Protocol):
    """What the channel uses of its transport (SerialTransport, or a test's stand-in)."""

    def read(self) -> bytes: ...
    def write(self, data: bytes) -> bool: ...
    def close(self) -> None: ...


@dataclass
class HelloInfo:
    version: int
    caps: int
    pe_count: int
    max_payload: int
    board_id: str
    windows: list[tuple[int, int, int]]
    boot_count: int
    max_data: int

    def has(self, cap: str) -> bool:
        return bool(self.caps & P.CAPS[cap])

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "caps": sorted(c for c in P.CAPS if self.has(c)),
                "pe_count": self.pe_count, "board_id": self.board_id,
                "windows": [{"base": b, "size": s, "flags": f} for b, s, f in self.windows],
                "boot_count": self.boot_count, "max_payload": self.max_payload,
                "max_data": self.max_data}


@dataclass
class ChannelStats:
    requests: int = 0
    frames_out: int = 0
    retries: int = 0
    timeouts: int = 0
    replies: int = 0
    late_replies: int = 0
    bad_messages: int = 0
    events: int = 0
    resyncs: int = 0
    resets_seen: int = 0
    rtt_last_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class _Waiter:
    __slots__ = ("event", "reply")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reply: P.Message | None = None


class AgentChannel:
    """Request/response over one transport. `on_event(msg)` is called from the reader
    thread for every event ([type, event_seq, ...]); `on_reset(reason)` after the channel
    noticed an agent restart (EV_BOOT, or E_NO_SESSION) and resynchronised."""

    def __init__(self, url: str | None = None, *, transport: Transport | None = None,
                 baudrate: int = 115200, retries: int = 8, timeout_scale: float | None = None,
                 base_timeout: float = 0.05, on_event: Callable[[P.Message], object] | None = None,
                 on_reset: Callable[[str], object] | None = None, log_lines: int = 1000):
        if transport is None:
            if url is None:
                raise TypeError("AgentChannel: give a url or a transport")
            transport = SerialTransport(url, baudrate=baudrate)
        self.transport = transport
        self.url = url or getattr(self.transport, "url", "?")
        self.baudrate = baudrate
        self.retries = retries
        self.base_timeout = base_timeout
        kind = getattr(self.transport, "kind", "device")
        # network handlers add latency the baud rate does not account for
        self.timeout_scale = timeout_scale or (4.0 if kind in ("socket", "rfc2217") else 1.0)
        self.on_event, self.on_reset = on_event, on_reset
        self.stats = ChannelStats()
        self.agent_log: collections.deque[str] = collections.deque(maxlen=log_lines)
        self.info: HelloInfo | None = None
        self._rx = P.Receiver()
        self._lock = threading.RLock()         # one request at a time (re-entered by on_reset)
        self._pending: dict[int, _Waiter] = {}
        self._plock = threading.Lock()
        self._seq = 0
        self._nonce = 0
        self._unresolved: tuple[P.Message, int, float] | None = None   # (msg, session nonce, first sent)
        self._reset_flag = threading.Event()
        self._events = threading.Condition()
        self._event_count = 0
        self._stop = False
        self._reader = threading.Thread(target=self._read_loop, name="fwemu-channel-rx", daemon=True)
        self._reader.start()

    # ---- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        self._stop = True
        self._reader.join(timeout=1)
        self.transport.close()

    def __enter__(self) -> AgentChannel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the reader thread ------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._stop:
            data = self.transport.read()
            if not data:
                continue
            for payload in self._rx.feed(data):
                msg = P.unpack(payload)
                if msg is None:
                    self.stats.bad_messages += 1
                    continue
                if msg[0] >= P.EV_FIRST:
                    self._event(msg)
                    continue
                with self._plock:
                    w = self._pending.get(msg[1])
                if w is None or w.reply is not None:
                    self.stats.late_replies += 1
                    continue
                w.reply = msg
                w.event.set()

    def _event(self, msg: P.Message) -> None:
        self.stats.events += 1
        t = msg[0]
        if t == P.EV_LOG and len(msg) >= 3 and isinstance(msg[2], bytes):
            line = msg[2].decode("utf-8", "replace")
            self.agent_log.append(line)
            log.info("agent: %s", line)
        elif t == P.EV_BOOT:
            boot = msg[2] if len(msg) > 2 else None
            info = self.info
            # Before the first HELLO, or an announcement of the boot HELLO already reported
            # (the agent said it before we opened the port): no new session needed.
            if info is not None and not (boot and boot == info.boot_count):
                self.stats.resets_seen += 1
                log.warning("channel %s: the agent (re)started (boot count %s)", self.url, boot)
                self._reset_flag.set()
        if self.on_event is not None:
            try:
                self.on_event(msg)
            except Exception:  # noqa: BLE001 - a callback must not kill the reader
                log.exception("on_event callback failed")
        with self._events:
            self._event_count += 1
            self._events.notify_all()

    def wait_event(self, timeout: float, since: int | None = None) -> int:
        """Waits until an event arrives after count `since` (or timeout); returns the count."""
        with self._events:
            start = self._event_count if since is None else since
            self._events.wait_for(lambda: self._event_count != start, timeout)
            return self._event_count

    @property
    def event_count(self) -> int:
        return self._event_count

    # ---- requests ------------------------------------------------------------------------------
    def _timeout(self, wire_len: int, reply_len: int) -> float:
        line = 2 * (wire_len + reply_len + 16) * 10 / self.baudrate
        return (self.base_timeout + line) * self.timeout_scale

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & P.SEQ_MAX
        return self._seq

    def _exchange(self, msg: P.Message, reply_len: int,
                  deadline: float | None = None) -> tuple[P.Message, int]:
        """Sends `msg` until a reply arrives; returns (reply, attempts). Without `deadline`,
        1 + self.retries copies with growing waits; with one, copies until the deadline,
        each wait at most 0.5 s × the network factor (a re-ask should not sleep through
        the moment the line comes back)."""
        wire = P.encode_frame(P.pack(msg))
        w = _Waiter()
        with self._plock:
            self._pending[msg[1]] = w
        try:
            timeout = self._timeout(len(wire), reply_len)
            cap = (2.0 if deadline is None else 0.5) * self.timeout_scale
            t_first = time.monotonic()
            attempt = 0
            while True:
                attempt += 1
                t0 = time.monotonic()
                wait = timeout if deadline is None else max(0.0, min(timeout, deadline - t0))
                self.stats.frames_out += 1
                self.transport.write(wire)
                if w.event.wait(wait):
                    self.stats.rtt_last_s = time.monotonic() - t0
                    self.stats.replies += 1
                    reply = w.reply
                    assert reply is not None    # set before the event
                    if reply[0] != msg[0]:
                        raise ChannelError(f"{P.describe(msg)}: reply of type {reply[0]} "
                                           "(not this protocol's agent?)")
                    return reply, attempt
                self.stats.retries += 1
                if attempt > self.retries if deadline is None else time.monotonic() >= deadline:
                    break
                timeout = min(timeout * 1.5, cap)
            self.stats.timeouts += 1
            waited = time.monotonic() - t_first
            raise ChannelTimeout(f"{self.url}: no reply to {P.describe(msg)} after {attempt} tries "
                                 f"({waited:.1f} s); unknown whether it executed", msg, waited)
        finally:
            with self._plock:
                self._pending.pop(msg[1], None)

    def call(self, type_: int, *args: Any, reply_len: int = 16, check: bool = True) -> list[Any]:
        """One request; returns the results after the code. With check=True a non-zero code
        raises AgentError (results in .results)."""
        with self._lock:
            if self._unresolved is not None and type_ in P.SIDE_EFFECTS:
                raise ChannelError(f"{self.url}: {P.describe(self._unresolved[0])} is unresolved (it may "
                                   "have executed); no new request with a side effect until the "
                                   "target answers it (requery)")
            if self._reset_flag.is_set() or self.info is None:
                self._resync("agent restart" if self.info is not None else "first use")
            self.stats.requests += 1
            msg = [type_, self._next_seq(), *args]
            try:
                reply, attempts = self._exchange(msg, reply_len)
            except ChannelTimeout:
                if type_ in P.SIDE_EFFECTS:
                    self._unresolved = (msg, self._nonce, time.monotonic())
                raise
            code = reply[2]
            if code == P.E_NO_SESSION:
                self._reset_flag.set()
                if type_ in P.SIDE_EFFECTS and attempts > 1:
                    self._resync("E_NO_SESSION")
                    raise TargetResetError(
                        f"{self.url}: the agent restarted while {P.describe(msg)} was in flight "
                        f"(sent {attempts} times): an earlier copy may have executed before the reset",
                        P.describe(msg))
                # sent once: the agent executed nothing; start a session and send it again
                self._resync("E_NO_SESSION")
                msg = [type_, self._next_seq(), *args]
                reply, attempts = self._exchange(msg, reply_len)
                code = reply[2]
            if check and code != P.OK:
                raise AgentError(P.describe(msg), code, reply[3:])
            return reply[3:] if check else reply[2:]

    # ---- an unresolved request ------------------------------------------------------------------
    @property
    def unresolved(self) -> P.Message | None:
        """The side-effect request whose outcome is unknown (its message), or None."""
        u = self._unresolved
        return None if u is None else u[0]

    def requery(self, budget: float) -> tuple[str, P.Message, int | None, list[Any]] | None:
        """Learns what became of the unresolved request: re-sends the same frame (same seq)
        for up to `budget` seconds. The agent answers a seq it remembers from its dedupe
        table without executing it again; a copy that never arrived executes now, once.

        Returns None while there is still no answer (the request stays unresolved), else
        (how, msg, code, results) and the request is resolved:
        how = "answered": code and results are the request's outcome;
        how = "forgotten": the agent restarted (E_NO_SESSION, EV_BOOT, a new session) or no
        longer remembers the seq (E_STALE): no copy can execute any more, and only the
        target's memory can tell whether one did (code None)."""
        with self._lock:
            if self._unresolved is None:
                return None
            msg, nonce, _t = self._unresolved
            try:
                if self._reset_flag.is_set():
                    self._resync("agent restart")
                if self._nonce == nonce:
                    reply, _ = self._exchange(msg, 16, deadline=time.monotonic() + budget)
                    code = reply[2]
                    if code == P.E_NO_SESSION:
                        self._reset_flag.set()
                        self._unresolved = None
                        self._resync("E_NO_SESSION")
                        return "forgotten", msg, None, []
                    if code != P.E_STALE:
                        self._unresolved = None
                        return "answered", msg, code, reply[3:]
            except ChannelTimeout:
                if self._nonce == nonce:
                    return None
            # a new session (this call's resync, or an earlier one): the seq is forgotten
            self._unresolved = None
            return "forgotten", msg, None, []

    # ---- the session -----------------------------------------------------------------------------
    def hello(self) -> HelloInfo:
        with self._lock:
            return self._resync("hello")

    def _resync(self, why: str) -> HelloInfo:
        """HELLO with a fresh nonce (a new session). Caller holds self._lock."""
        had = self.info is not None
        self._reset_flag.clear()
        self._nonce = int.from_bytes(os.urandom(4), "little")
        msg = [P.HELLO, self._next_seq(), P.VERSION, self._nonce]
        reply, _ = self._exchange(msg, 200)
        if reply[2] == P.E_VERSION:
            theirs = reply[3].get(P.H_VERSION) if len(reply) > 3 and isinstance(reply[3], dict) else "?"
            raise ChannelError(f"{self.url}: the agent speaks protocol version {theirs}, "
                               f"this fwemu {P.VERSION}")
        if reply[2] != P.OK or len(reply) < 4 or not isinstance(reply[3], dict):
            raise ChannelError(f"{self.url}: bad HELLO reply {reply!r}")
        m = reply[3]
        try:
            info = HelloInfo(version=int(m[P.H_VERSION]), caps=int(m[P.H_CAPS]),
                             pe_count=int(m[P.H_PES]), max_payload=int(m[P.H_MAX_PAYLOAD]),
                             board_id=bytes(m[P.H_BOARD]).decode("utf-8", "replace"),
                             windows=[(int(b), int(s), int(f)) for b, s, f in m[P.H_WINDOWS]],
                             boot_count=int(m[P.H_BOOT]), max_data=int(m.get(P.H_MAX_DATA, P.MAX_DATA)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ChannelError(f"{self.url}: HELLO reply lacks a field ({exc}): {m!r}") from None
        prev = self.info
        self.info = info
        if had:
            self.stats.resyncs += 1
            log.warning("channel %s: resynchronised after %s (boot count %s → %s)", self.url, why,
                        prev.boot_count if prev else "?", info.boot_count)
            if self.on_reset is not None:
                try:
                    self.on_reset(why)
                except Exception:  # noqa: BLE001
                    log.exception("on_reset callback failed")
        return info

    # ---- typed helpers -------------------------------------------------------------------------------
    def read(self, addr: int, length: int) -> bytes:
        out = bytearray()
        step = self.info.max_data if self.info else P.MAX_DATA
        while len(out) < length:
            n = min(step, length - len(out))
            (data,) = self.call(P.READ, addr + len(out), n, reply_len=n + 16)
            out += data
        return bytes(out)

    def write(self, addr: int, data: bytes) -> None:
        step = self.info.max_data if self.info else P.MAX_DATA
        for off in range(0, len(data), step):
            self.call(P.WRITE, addr + off, bytes(data[off:off + step]))

    def read_reg(self, addr: int, width: int) -> int:
        value: int = self.call(P.READ_REG, addr, width)[0]
        return value

    def write_reg(self, addr: int, width: int, value: int) -> None:
        self.call(P.WRITE_REG, addr, width, value)

    def status(self) -> dict[Any, Any]:     # keys: STATUS_KEYS' names, else the agent's number
        (m,) = self.call(P.STATUS, reply_len=600)
        return {P.STATUS_KEYS.get(k, k): v for k, v in m.items()}
