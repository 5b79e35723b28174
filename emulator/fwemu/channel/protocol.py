"""Debug-channel messages (protocol/PROTOCOL.md): constants from the C core, msgpack
encode/decode with small limits, frame encode and the incremental receiver (C core).

Untrusted bytes from the line go through: the C receiver (COBS, CRC-32, size bound), then
msgpack with every length limited to what a valid message can hold, then a schema check.
Whatever fails is counted and dropped; nothing here raises on line noise.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .._corelib import ffi, lib
from ..errors import FwemuError, UnreachableError

Message = list[Any]   # [type, seq, ...] as msgpack gives it: the schema is checked, not typed

VERSION = lib.FWA_PROTO_VERSION
MAX_PAYLOAD = lib.FW_FRAME_MAX_PAYLOAD
MAX_WIRE = lib.FW_FRAME_MAX_WIRE
MAX_DATA = lib.FWA_MAX_DATA
MAX_INFLIGHT = lib.FWA_MAX_INFLIGHT

HELLO, READ, WRITE = lib.FWA_T_HELLO, lib.FWA_T_READ, lib.FWA_T_WRITE
READ_REG, WRITE_REG = lib.FWA_T_READ_REG, lib.FWA_T_WRITE_REG
POST, POST_DATA, WITHDRAW = lib.FWA_T_POST, lib.FWA_T_POST_DATA, lib.FWA_T_WITHDRAW
SEI, SDEI, IRQ, SEA = lib.FWA_T_SEI, lib.FWA_T_SDEI, lib.FWA_T_IRQ, lib.FWA_T_SEA
SDEI_STATE, STATUS = lib.FWA_T_SDEI_STATE, lib.FWA_T_STATUS
EV_CONSUMED, EV_LOG, EV_BOOT = lib.FWA_EV_CONSUMED, lib.FWA_EV_LOG, lib.FWA_EV_BOOT
EV_FIRST, TYPE_MAX, SEQ_MAX = lib.FWA_EV_FIRST, lib.FWA_TYPE_MAX, lib.FWA_SEQ_MAX

TYPE_NAMES = {HELLO: "HELLO", READ: "READ", WRITE: "WRITE", READ_REG: "READ_REG",
              WRITE_REG: "WRITE_REG", POST: "POST", POST_DATA: "POST_DATA", WITHDRAW: "WITHDRAW",
              SEI: "SEI", SDEI: "SDEI", IRQ: "IRQ", SEA: "SEA", SDEI_STATE: "SDEI_STATE",
              STATUS: "STATUS", EV_CONSUMED: "EV_CONSUMED", EV_LOG: "EV_LOG", EV_BOOT: "EV_BOOT"}
SIDE_EFFECTS = frozenset({WRITE, WRITE_REG, POST, POST_DATA, WITHDRAW, SEI, SDEI, IRQ, SEA})
NOTIFICATIONS = frozenset({SEI, SDEI, IRQ, SEA})

OK = lib.FWA_OK
CODE_NAMES = {
    lib.FWA_OK: "ok", lib.FWA_E_MALFORMED: "malformed request", lib.FWA_E_UNKNOWN: "unknown request",
    lib.FWA_E_NO_SESSION: "no session (the agent restarted)", lib.FWA_E_VERSION: "no common version",
    lib.FWA_E_WINDOW: "outside the agent's windows", lib.FWA_E_BUSY: "block busy",
    lib.FWA_E_TOO_BIG: "too big", lib.FWA_E_REFUSED: "refused by the platform",
    lib.FWA_E_UNSUPPORTED: "not supported by the platform", lib.FWA_E_INVAL: "invalid argument",
    lib.FWA_E_SEQ: "sequence number reused", lib.FWA_E_STALE: "stale request (not executed)",
}
E_NO_SESSION, E_BUSY, E_REFUSED = lib.FWA_E_NO_SESSION, lib.FWA_E_BUSY, lib.FWA_E_REFUSED
E_WINDOW, E_UNSUPPORTED, E_VERSION = lib.FWA_E_WINDOW, lib.FWA_E_UNSUPPORTED, lib.FWA_E_VERSION
E_STALE, E_SEQ = lib.FWA_E_STALE, lib.FWA_E_SEQ

# SDEI refusal reasons (a REFUSED SDEI reply's second result): TF-A's checks D1-D5
WHY_UNKNOWN, WHY_MASKED, WHY_EVENT0 = lib.FWA_SDEI_WHY_UNKNOWN, lib.FWA_SDEI_WHY_MASKED, lib.FWA_SDEI_WHY_EVENT0
WHY_NOT_EXPLICIT, WHY_PRIORITY = lib.FWA_SDEI_WHY_NOT_EXPLICIT, lib.FWA_SDEI_WHY_PRIORITY
WHY_STATE = lib.FWA_SDEI_WHY_STATE
SDEI_WHY = {WHY_UNKNOWN: "refused (reason unknown)",
            WHY_MASKED: "the PE is masked (SDEI_PE_UNMASK not called)",
            WHY_EVENT0: "event 0 cannot be dispatched explicitly",
            WHY_NOT_EXPLICIT: "no explicit mapping for the event",
            WHY_PRIORITY: "a running dispatch on the PE outranks it",
            WHY_STATE: "not registered + enabled, or already running"}

# SDEI_STATE reply bits
ST_REGISTERED, ST_ENABLED = lib.FWA_SDEI_ST_REGISTERED, lib.FWA_SDEI_ST_ENABLED
ST_RUNNING, ST_PE_MASKED = lib.FWA_SDEI_ST_RUNNING, lib.FWA_SDEI_ST_PE_MASKED
ST_CRITICAL = lib.FWA_SDEI_ST_CRITICAL

# HELLO reply map keys
H_VERSION, H_CAPS, H_PES, H_MAX_PAYLOAD = lib.FWA_H_VERSION, lib.FWA_H_CAPS, lib.FWA_H_PES, lib.FWA_H_MAX_PAYLOAD
H_BOARD, H_WINDOWS, H_BOOT, H_MAX_DATA = lib.FWA_H_BOARD, lib.FWA_H_WINDOWS, lib.FWA_H_BOOT, lib.FWA_H_MAX_DATA

# HELLO's window flags
WIN_READ, WIN_WRITE = lib.FWA_WIN_READ, lib.FWA_WIN_WRITE

CAPS = {"sei": lib.FWA_CAP_SEI, "sdei": lib.FWA_CAP_SDEI, "irq": lib.FWA_CAP_IRQ,
        "sea": lib.FWA_CAP_SEA, "sdei_state": lib.FWA_CAP_SDEI_STATE, "events": lib.FWA_CAP_EVENTS,
        "status_blob": lib.FWA_CAP_STATUS_BLOB}
STATUS_KEYS = {lib.FWA_S_BOOT: "boot_count", lib.FWA_S_UPTIME_US: "uptime_us",
               lib.FWA_S_RX_FRAMES: "rx_frames", lib.FWA_S_CRC_ERRORS: "crc_errors",
               lib.FWA_S_BAD_FRAMES: "bad_frames", lib.FWA_S_BAD_MESSAGES: "bad_messages",
               lib.FWA_S_DUP_HITS: "dup_hits", lib.FWA_S_NOTIFICATIONS: "notifications",
               lib.FWA_S_EVENTS: "events", lib.FWA_S_WATCHES: "watches", lib.FWA_S_BLOB: "blob"}


class ChannelError(UnreachableError):
    """The line or the agent failed (exit code 5: lab trouble, not a DUT failure)."""


class ChannelTimeout(ChannelError, TimeoutError):
    """No reply after every retry. The request may or may not have executed. `request` is
    the message (type, seq, args) and `waited` the seconds since its first copy was sent."""

    def __init__(self, message: str, request: Message | None = None, waited: float = 0.0):
        super().__init__(message)
        self.request = request
        self.waited = waited


class TargetResetError(ChannelError):
    """The agent restarted while a request with a side effect was in flight: an earlier copy
    may have executed before the reset. `request` names it; `state` is what the host read
    back after resynchronising (filled in by the caller that resyncs)."""

    def __init__(self, message: str, request: str):
        super().__init__(message)
        self.request = request
        self.state: dict[str, Any] = {}


class AgentError(FwemuError):
    """The agent answered with an error code."""

    def __init__(self, request: str, code: int, results: list[Any]):
        self.request, self.code, self.results = request, code, results
        name = CODE_NAMES.get(code, f"code {code}")
        super().__init__(f"{request}: {name}" + (f" {results}" if results else ""))


def describe(msg: Message) -> str:
    """`SDEI#17(pe=0, 5000)`-style text for logs and errors."""
    t = msg[0] if msg else None
    args = ", ".join(f"{a:#x}" if isinstance(a, int) and a > 4096 else
                     (f"<{len(a)} bytes>" if isinstance(a, (bytes, bytearray)) else repr(a))
                     for a in msg[2:])
    return f"{TYPE_NAMES.get(t, t)}#{msg[1] if len(msg) > 1 else '?'}({args})"


def pack(msg: Message) -> bytes:
    data: bytes = msgpack.packb(msg, use_bin_type=True)
    return data


_LIMITS = dict(raw=False, strict_map_key=False, use_list=True, max_bin_len=MAX_PAYLOAD,
               max_str_len=256, max_array_len=64, max_map_len=32, max_ext_len=0)


def unpack(payload: bytes) -> Message | None:
    """A message from one frame's payload, or None when it is not one of ours. msgpack
    limits keep a hostile length field from allocating anything large (an int-keyed map is
    part of the protocol, hence strict_map_key=False; the schema is checked after)."""
    try:
        msg = msgpack.unpackb(payload, **_LIMITS)
    except (msgpack.UnpackException, ValueError, UnicodeDecodeError, TypeError):
        return None
    if not isinstance(msg, list) or len(msg) < 2 or not all(isinstance(x, int) for x in msg[:2]):
        return None
    if not 0 <= msg[0] <= TYPE_MAX or not 0 <= msg[1] <= SEQ_MAX:
        return None
    if msg[0] < EV_FIRST and (len(msg) < 3 or not isinstance(msg[2], int)):
        return None
    return msg


def encode_frame(payload: bytes, lead: bool = True) -> bytes:
    if not 0 < len(payload) <= MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes (1 .. {MAX_PAYLOAD})")
    out = ffi.new("uint8_t[]", MAX_WIRE)
    n = lib.fw_frame_encode(payload, len(payload), out, MAX_WIRE, lib.FW_FRAME_LEAD if lead else 0)
    if n < 0:
        raise ValueError(f"frame encode failed ({n})")
    return bytes(ffi.buffer(out, n))


class Receiver:
    """The C core's incremental receiver: bytes in, good payloads out."""

    def __init__(self) -> None:
        self.rx = ffi.new("fw_frame_rx *")
        lib.fw_frame_rx_init(self.rx)
        self._out = ffi.new("uint8_t[]", MAX_PAYLOAD)
        self._used = ffi.new("size_t *")

    def feed(self, data: bytes) -> list[bytes]:
        frames = []
        view = memoryview(data)
        while len(view):
            k = lib.fw_frame_rx_feed(self.rx, ffi.from_buffer(view), len(view), self._used,
                                     self._out, MAX_PAYLOAD)
            used = self._used[0]
            if k > 0:
                frames.append(bytes(ffi.buffer(self._out, k)))
            view = view[used:]
            if used == 0:
                break
        return frames

    def counters(self) -> dict[str, int]:
        r = self.rx
        return {"frames": r.frames, "crc_errors": r.crc_errors, "cobs_errors": r.cobs_errors,
                "short_frames": r.short_frames, "long_frames": r.long_frames}
