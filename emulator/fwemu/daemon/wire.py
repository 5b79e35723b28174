"""The control socket's wire: limits, frames (4-byte big-endian length + msgpack), the
request schema every request is checked against after decoding (no client can crash the
daemon), and error replies mapped to and from FwemuError exit codes."""

from __future__ import annotations

import re
import socket
import struct
import time

import msgpack

from ..errors import (EXIT_FAILED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE,
                      FwemuError, NotConsumedError, RefusedError, UnreachableError, UsageError)
from ..request import MAX_FULL_REPORT, MAX_MIX

MAX_REQUEST = 1 << 20          # bytes of one request payload
MAX_REPLY = 256 << 20          # what a client accepts (a full report of a big count is large)
MAX_CLIENTS = 32               # concurrent connections; more get the "busy" error reply
MAX_COUNT = 1_000_000_000      # injections in one request (a summarised or streamed request holds none of them)
MAX_TIMEOUT = 7 * 86400.0      # seconds one injection may wait
MAX_RECORD = 1 << 16           # bytes of a raw record (a GHES block is far smaller)
MAX_FIELD_TEXT = 1 << 18       # characters of one field option's text
IDLE_TIMEOUT = 5.0             # a whole request must arrive within this of connecting or of the last reply
BODY_TIMEOUT = 10.0            # a reply must be taken by the client within this
CONNECT_TIMEOUT = 1.0
REQUEST_MARGIN = 30.0          # seconds a client waits beyond an inject's own deadline
SHORT_REQUEST_TIMEOUT = 60.0   # status / reset / ping / shutdown
OPS = ("inject", "status", "reset", "ping", "shutdown")
_HDR = struct.Struct(">I")


# ---- framing ----------------------------------------------------------------------------
class _Closed(Exception):
    """The peer closed the connection (cleanly, between frames, or mid-frame)."""


def _recv_exact(sock: socket.socket, n: int, deadline: float | None = None) -> bytes:
    """n bytes; with a deadline (time.monotonic()), TimeoutError once it passes."""
    buf = bytearray()
    while len(buf) < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no whole frame within the deadline ({len(buf)} of {n} bytes)")
            sock.settimeout(left)
        chunk = sock.recv(min(n - len(buf), 1 << 16))
        if not chunk:
            raise _Closed(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _send_frame(sock: socket.socket, obj) -> None:
    payload = msgpack.packb(obj, use_bin_type=True)
    sock.sendall(_HDR.pack(len(payload)) + payload)


def _plain(obj):
    """JSON-shaped data (str keys, lists) so a reply decodes with strict_map_key and prints
    the same as the in-process JSON output."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v) for v in obj]
    return obj


# ---- request schema ---------------------------------------------------------------------
class BadRequest(UsageError):
    """A request the daemon will not act on: malformed, oversized or off-schema (exit 2)."""

    def __init__(self, reason: str):
        super().__init__("request", reason)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_INJECT_KEYS = {"scenario", "fields", "source", "notify", "pe", "count", "rate", "timeout",
                "record", "unique", "report", "seed", "mix", "stream"}
_VARIANT_KEYS = {"scenario", "weight", "fields", "source", "notify", "pe"}


def _pe(v) -> bool:
    """A PE index, or a spec of PEs as text (parsed by the session, naming --pe)."""
    return (_int(v) and 0 <= v < 1 << 16) or (isinstance(v, str) and 0 < len(v) <= 256)


_FIELD = re.compile(r"(--)?[a-z][a-z0-9_-]*")


def _check_fields(fields, where: str) -> None:
    if fields is None:
        return
    if not isinstance(fields, dict) or len(fields) > 64:
        raise BadRequest(f"{where}: 'fields' must be a map of field name → text")
    for k, v in fields.items():
        # a field name (address, error_type), or its option (--address) from an older client
        if not (isinstance(k, str) and len(k) <= 64 and _FIELD.fullmatch(k)):
            raise BadRequest(f"{where}: field {k!r:.40} is not a field name")
        if not (isinstance(v, str) and len(v) <= MAX_FIELD_TEXT):
            raise BadRequest(f"{where}: field {k} must be text")
        if v.startswith("@"):
            raise BadRequest(f"{where}: field {k}: @FILE is read by the client, not the daemon; send hex")


def _check_mix(mix) -> None:
    if not isinstance(mix, list) or len(mix) > MAX_MIX:
        raise BadRequest(f"inject: 'mix' must be a list of at most {MAX_MIX} variants")
    for n, v in enumerate(mix):
        where = f"inject: mix[{n}]"
        if not isinstance(v, dict) or set(v) - _VARIANT_KEYS:
            raise BadRequest(f"{where} must be a map with keys {', '.join(sorted(_VARIANT_KEYS))}")
        if not (isinstance(v.get("scenario"), str) and 0 < len(v["scenario"]) <= 64):
            raise BadRequest(f"{where}: 'scenario' must be a scenario name")
        w = v.get("weight", 1.0)
        if not (_num(w) and 0 < w <= 1e9):
            raise BadRequest(f"{where}: 'weight' must be a number in (0, 1e9]")
        if v.get("source") is not None and not (_int(v["source"]) and 0 <= v["source"] < 1 << 32):
            raise BadRequest(f"{where}: 'source' must be a source id")
        if v.get("notify") is not None and not (isinstance(v["notify"], str) and len(v["notify"]) <= 32):
            raise BadRequest(f"{where}: 'notify' must be a notification type")
        if v.get("pe") is not None and not _pe(v["pe"]):
            raise BadRequest(f"{where}: 'pe' must be a PE index or a spec of PEs")
        _check_fields(v.get("fields"), where)


def validate_request(msg) -> tuple[str, dict]:
    """Schema of a decoded request; returns (op, req) or raises BadRequest."""
    if not isinstance(msg, dict):
        raise BadRequest(f"a request is a map with 'op' and 'req', not {type(msg).__name__}")
    extra = set(msg) - {"op", "req"}
    if extra:
        raise BadRequest(f"unknown request keys: {', '.join(sorted(map(str, extra)))}")
    op = msg.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise BadRequest(f"'op' must be one of {', '.join(OPS)} (got {op!r:.40})")
    req = msg.get("req")
    if req is None:
        req = {}
    if not isinstance(req, dict):
        raise BadRequest(f"'req' must be a map, not {type(req).__name__}")
    if op != "inject":
        if req:
            raise BadRequest(f"{op} takes no arguments")
        return op, req
    unknown = set(req) - _INJECT_KEYS
    if unknown:
        raise BadRequest(f"unknown inject keys: {', '.join(sorted(map(str, unknown)))}")

    def check(key, ok, what, optional=True):
        if key not in req or (optional and req[key] is None):
            if not optional:
                raise BadRequest(f"inject: '{key}' is required")
            return
        if not ok(req[key]):
            raise BadRequest(f"inject: '{key}' must be {what} (got {req[key]!r:.60})")

    check("scenario", lambda v: isinstance(v, str) and 0 < len(v) <= 64, "a scenario name", optional=False)
    check("source", lambda v: _int(v) and 0 <= v < 1 << 32, "a source id")
    check("notify", lambda v: isinstance(v, str) and len(v) <= 32, "a notification type")
    check("pe", _pe, "a PE index or a spec of PEs")
    check("count", lambda v: _int(v) and 1 <= v <= MAX_COUNT, f"an integer 1 .. {MAX_COUNT}")
    check("rate", lambda v: _num(v) and 0 <= v <= 1e9, "a non-negative number")
    check("timeout", lambda v: _num(v) and 0 < v <= MAX_TIMEOUT, f"a number of seconds in (0, {MAX_TIMEOUT:g}]")
    check("record", lambda v: isinstance(v, bytes) and len(v) <= MAX_RECORD, f"bytes (at most {MAX_RECORD})")
    check("unique", lambda v: isinstance(v, bool), "true or false")
    check("report", lambda v: v in ("all", "summary"), "'all' or 'summary'")
    check("seed", lambda v: _int(v) and 0 <= v < 1 << 64, "an integer 0 .. 2^64-1")
    check("stream", lambda v: isinstance(v, bool), "true or false")
    if (req.get("count") or 1) > MAX_FULL_REPORT and req.get("report") != "summary" and not req.get("stream"):
        raise BadRequest(f"inject: a count above {MAX_FULL_REPORT} needs report='summary' (one record "
                         "per injection would make the reply, and the daemon, grow with the count)")
    _check_fields(req.get("fields"), "inject")
    if req.get("mix") is not None:
        _check_mix(req["mix"])
    return op, req


def decode_request(payload: bytes):
    """msgpack → Python, with every size limit set for untrusted input."""
    up = msgpack.Unpacker(raw=False, strict_map_key=True, use_list=True,
                          max_buffer_size=MAX_REQUEST, max_str_len=MAX_REQUEST,
                          max_bin_len=MAX_REQUEST, max_array_len=4096, max_map_len=256,
                          max_ext_len=0)
    try:
        up.feed(payload)
        msg = up.unpack()
    except msgpack.OutOfData:
        raise BadRequest("truncated msgpack payload") from None
    except (ValueError, TypeError, UnicodeDecodeError, msgpack.ExtraData) as exc:
        # FormatError, StackError, BufferFull, bad UTF-8, non-str keys, ext types …
        raise BadRequest(f"not a valid msgpack request ({type(exc).__name__}: {exc})"[:200]) from None
    if up.tell() != len(payload):
        raise BadRequest(f"{len(payload) - up.tell()} trailing bytes after the request")
    return msg


def error_reply(exc: BaseException) -> dict:
    if isinstance(exc, FwemuError):
        return {"ok": False, "error": str(exc), "exit_code": exc.exit_code, "kind": type(exc).__name__}
    return {"ok": False, "error": f"internal error in the daemon: {type(exc).__name__}: {exc}"[:500],
            "exit_code": EXIT_FAILED, "kind": "InternalError"}


# ---- client ------------------------------------------------------------------------------
class _RemoteUsageError(UsageError):
    def __init__(self, message: str):
        super().__init__("daemon", message)
        self.args = (message,)

    def __str__(self) -> str:
        return self.args[0]


_BY_EXIT = {EXIT_USAGE: _RemoteUsageError, EXIT_TIMEOUT: NotConsumedError, EXIT_REFUSED: RefusedError,
            EXIT_UNREACHABLE: UnreachableError}


def remote_error(message: str, exit_code) -> FwemuError:
    cls = _BY_EXIT.get(exit_code, FwemuError)
    exc = cls(message)
    if cls is FwemuError and isinstance(exit_code, int) and exit_code != EXIT_FAILED:
        exc.exit_code = exit_code
    return exc


