"""The long-running firmware stand-in: one Session kept alive per board, served over a
Unix control socket.

    fwemu daemon --board sim        (foreground; prints one ready line with the socket path)

Socket: `$XDG_RUNTIME_DIR/fwemu/<board>.sock`, else `~/.local/state/fwemu/run/<board>.sock`
(`$XDG_STATE_HOME` if set; never a fixed name in /tmp, which another user could create
first); the directory is 0700 and owned by the user, the socket 0600. A client checks both
(owner, mode, file type) before it connects, and refuses (exit 5) otherwise. `<board>.pid` beside it holds an
exclusive flock(2) and the daemon's pid for as long as the daemon lives, so two daemons can
never serve one board; a socket file left behind by a dead daemon is removed at start.

Protocol (one request, one reply, any number per connection):

    frame   = 4-byte big-endian length + msgpack payload   (requests at most 1 MiB)
    request = {"op": "inject" | "status" | "reset" | "ping" | "shutdown", "req": {...}}
    reply   = {"ok": true, "result": ...}
            | {"ok": false, "error": "one line", "exit_code": N, "kind": "ClassName"}

`inject`'s req is the dict `Session.inject` takes (record may be bytes; "report":
"summary" asks for counts and percentiles instead of one record per injection).
Everything is checked after decoding: a request that is too big, not msgpack, or not the
schema gets an error reply with exit_code 2 (an oversized one also closes the connection);
no client can crash the daemon. Replies carry FwemuError exit codes (errors.py).

Threads: the main thread accepts; one firmware thread calls `firmware.pump()` (the only
pumper, FirmwareModel's rule); one thread per connection calls the Session, whose inject
submits and then waits on each injection's `done` event (`Session.inject(pump=False)`).

Connections: at most MAX_CLIENTS at once; one more is answered with the daemon's own
"daemon busy" error reply (exit 5) and closed. A connection must deliver each whole
request within IDLE_TIMEOUT (5 s) of connecting or of its previous reply, or it is
closed, so idle or stalled clients cannot hold the daemon's slots. The Client reconnects
by itself before a request when its connection has been idle that long, and reads the
daemon's answer even when the daemon closed first (a busy reply instead of EPIPE).

SIGTERM / SIGINT / a `shutdown` request: stop accepting, stop new submissions, journal
every in-flight injection as `interrupted` (clients waiting on them get their reply),
close the session, remove the socket, exit 0.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import signal
import socket
import stat
import struct
import threading
import time
from pathlib import Path

import msgpack

from . import __version__
from .errors import (EXIT_FAILED, EXIT_REFUSED, EXIT_TIMEOUT, EXIT_UNREACHABLE, EXIT_USAGE,
                     FwemuError, NotConsumedError, RefusedError, UnreachableError, UsageError)
from .request import MAX_FULL_REPORT, MAX_MIX, InjectRequest

log = logging.getLogger("fwemu.daemon")

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


# ---- where the socket lives -------------------------------------------------------------
def _safe_name(board_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", board_name) or "board"


def runtime_dir() -> Path:
    """`$XDG_RUNTIME_DIR/fwemu`, else `${XDG_STATE_HOME:-~/.local/state}/fwemu/run`: never a
    fixed name in a shared directory such as /tmp, which another user could create first."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "fwemu"
    state = os.environ.get("XDG_STATE_HOME")
    if not (state and os.path.isabs(state)):
        state = os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "fwemu" / "run"


def socket_path(board_name: str) -> Path:
    return runtime_dir() / f"{_safe_name(board_name)}.sock"


def _lock_path(board_name: str) -> Path:
    return runtime_dir() / f"{_safe_name(board_name)}.pid"


def _lock_holder(board_name: str) -> str | None:
    """The pid of the daemon holding the board's lock (as the lock file says, "?" when it
    does not say), or None when no daemon holds it."""
    try:
        fd = os.open(_lock_path(board_name), os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _ensure_private_dir(path: Path) -> None:
    """Create `path` 0700, or accept an existing one only if it is a real directory we own
    (in a shared directory someone else may have made it first); tighten its mode if needed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        st = os.lstat(path)
    except OSError as exc:
        for up in (path.parent, *path.parent.parents):
            if os.path.lexists(up):
                if not os.path.isdir(up):
                    raise UnreachableError(f"runtime directory {path}: {up} is not a directory "
                                           "(check XDG_RUNTIME_DIR / XDG_STATE_HOME)") from None
                break
        raise UnreachableError(f"runtime directory {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise UnreachableError(f"{path} exists and is not a directory; not using it for the control socket")
    if st.st_uid != os.getuid():
        raise UnreachableError(f"{path} is owned by uid {st.st_uid}, not by you; not using it")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)


def _private_socket(path: Path) -> bool:
    """Before a client connects: False when there is no socket (no daemon); True when the
    directory is a real directory of ours that nobody else can enter (mode 0700 or
    stricter) and the socket is ours; otherwise UnreachableError, and nothing is sent: a
    socket someone else could have placed may be served by anyone."""
    d = path.parent
    try:
        st = os.lstat(d)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise UnreachableError(f"runtime directory {d}: {exc.strerror}; not looking for a daemon there") from None
    uid = os.getuid()
    why = None
    if not stat.S_ISDIR(st.st_mode):
        why = "is not a directory"
    elif st.st_uid != uid:
        why = f"is owned by uid {st.st_uid}, not by you (uid {uid})"
    elif stat.S_IMODE(st.st_mode) & 0o077:
        why = f"has mode {stat.S_IMODE(st.st_mode):04o}, not 0700: other users can reach it"
    elif not os.access(d, os.R_OK | os.X_OK):
        why = f"has mode {stat.S_IMODE(st.st_mode):04o}: you cannot read it"
    if why:
        raise UnreachableError(f"runtime directory {d} {why}; not talking to a daemon through it "
                               "(remove it, or set XDG_RUNTIME_DIR to a directory of yours)")
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise UnreachableError(f"daemon socket {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(st.st_mode):
        raise UnreachableError(f"daemon socket {path} is not a socket; not connecting")
    if st.st_uid != uid:
        raise UnreachableError(f"daemon socket {path} is owned by uid {st.st_uid}, not by you "
                               f"(uid {uid}); not connecting")
    return True


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


def _check_fields(fields, where: str) -> None:
    if fields is None:
        return
    if not isinstance(fields, dict) or len(fields) > 64:
        raise BadRequest(f"{where}: 'fields' must be a map of field option → text")
    for k, v in fields.items():
        if not (isinstance(k, str) and k.startswith("--") and len(k) <= 64):
            raise BadRequest(f"{where}: field {k!r:.40} is not a field option (--name)")
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


# ---- server ------------------------------------------------------------------------------
class Daemon:
    """Serves one Session. `start()` binds (or raises FwemuError); `serve_forever()` runs
    until SIGTERM/SIGINT/`shutdown`; `stop()` may be called from any thread."""

    def __init__(self, session, board_name: str | None = None):
        self.session = session
        self.board_name = board_name or session.board.name
        self.path = socket_path(self.board_name)
        self.started = time.time()
        self._listener: socket.socket | None = None
        self._lock_fd: int | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pump_thread: threading.Thread | None = None
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        self.requests = 0
        self.bad_requests = 0
        self.busy_refusals = 0
        self.idle_timeout = IDLE_TIMEOUT
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        d = self.path.parent
        _ensure_private_dir(d)
        if len(os.fsencode(self.path)) >= 108:
            raise UsageError("XDG_RUNTIME_DIR", f"socket path {self.path} is too long for a Unix socket")
        self._take_lock()
        try:
            self._clear_stale_socket()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                sock.bind(str(self.path))
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
            sock.listen(16)
            sock.settimeout(0.2)
            self._listener = sock
        except BaseException:
            self._release_lock()
            raise
        self._pump_thread = threading.Thread(target=self._pump_loop, name="fwemu-firmware", daemon=True)
        self._pump_thread.start()
        log.info("board %s: serving on %s (pid %d)", self.board_name, self.path, os.getpid())

    def _take_lock(self) -> None:
        lp = _lock_path(self.board_name)
        fd = os.open(lp, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            try:
                other = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise UsageError("--board", f"a daemon (pid {other}) already serves board "
                             f"{self.board_name!r} on {self.path}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            try:
                os.ftruncate(self._lock_fd, 0)
            except OSError:
                pass
            os.close(self._lock_fd)   # the file stays: unlinking a lock file races a new daemon
            self._lock_fd = None

    def _clear_stale_socket(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise UnreachableError(f"{self.path} exists and is not a socket; not removing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(CONNECT_TIMEOUT)
        try:
            probe.connect(str(self.path))
        except OSError:
            log.info("removing stale socket %s (no daemon listening)", self.path)
            os.unlink(self.path)
            return
        finally:
            probe.close()
        raise UsageError("--board", f"something already listens on {self.path}")

    def serve_forever(self) -> int:
        """Accept until stopped; then shut down cleanly. Returns the exit status (0)."""
        in_main = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError as exc:
                    if self._stop.is_set():
                        break
                    log.warning("accept failed: %s", exc)
                    time.sleep(0.05)
                    continue
                self._admit(conn)
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _on_signal(self, signum, _frame) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        self._stop.set()

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        """Stop accepting, interrupt in-flight injections (journalled), let waiting clients
        have their replies, close the session, remove the socket."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        try:
            if self.path.is_socket():
                os.unlink(self.path)
        except OSError:
            pass
        self.session.stop_accepting()
        n = self.session.firmware.interrupt("daemon stopped")
        if n:
            log.warning("journalled %d in-flight injection(s) as interrupted", n)
        # Handlers waiting on those injections now reply; then their next read sees EOF.
        with self._conns_lock:
            conns = list(self._conns.items())
        for conn, _t in conns:
            try:
                conn.shutdown(socket.SHUT_RD)
            except OSError:
                pass
        deadline = time.monotonic() + 3.0
        for _conn, t in conns:
            t.join(max(0.0, deadline - time.monotonic()))
        self._wake.set()
        if self._pump_thread is not None:
            self._pump_thread.join(2.0)
        self.session.close()
        self._release_lock()
        log.info("board %s: stopped", self.board_name)

    # -- the firmware thread --------------------------------------------------------------
    def _pump_loop(self) -> None:
        fw = self.session.firmware
        while not self._stop.is_set():
            try:
                fw.pump(0.05)
                with fw.lock:
                    idle = not fw.inflight and all(st.current is None for st in fw.sources.values())
            except Exception:
                log.exception("firmware pump failed; continuing")
                idle = True
            if idle:   # pump() does not block when nothing is posted: sleep until a submit
                self._wake.wait(0.05)
                self._wake.clear()

    # -- connections ------------------------------------------------------------------------
    def _admit(self, conn: socket.socket) -> None:
        if not self._peer_is_us(conn):
            conn.close()
            return
        with self._conns_lock:
            full = len(self._conns) >= MAX_CLIENTS
            if not full:
                t = threading.Thread(target=self._serve_conn, args=(conn,), name="fwemu-client", daemon=True)
                self._conns[conn] = t
        if full:
            # The daemon's own answer, sent before the client's request is read: the Client
            # reads it even if its send fails because the daemon has closed (EPIPE).
            self.busy_refusals += 1
            try:
                conn.settimeout(1.0)
                _send_frame(conn, error_reply(UnreachableError(
                    f"daemon busy: {MAX_CLIENTS} clients connected (idle ones are closed after "
                    f"{self.idle_timeout:g} s); try again")))
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            conn.close()
            return
        t.start()

    @staticmethod
    def _peer_is_us(conn: socket.socket) -> bool:
        if not hasattr(socket, "SO_PEERCRED"):
            return True
        try:
            _pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                                  struct.calcsize("3i")))
        except OSError:
            return True
        if uid not in (os.getuid(), 0):
            log.warning("refused a connection from uid %d", uid)
            return False
        return True

    def _serve_conn(self, conn: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                # one deadline for the whole request, header and body: a client that sends
                # nothing, or a byte at a time, is closed after IDLE_TIMEOUT all the same
                deadline = time.monotonic() + self.idle_timeout
                try:
                    hdr = _recv_exact(conn, 4, deadline)
                except (_Closed, OSError):
                    return
                (length,) = _HDR.unpack(hdr)
                if length > MAX_REQUEST:
                    self.bad_requests += 1
                    log.warning("client sent a %d-byte request (limit %d): refused, connection closed",
                                length, MAX_REQUEST)
                    self._reply(conn, error_reply(BadRequest(
                        f"request of {length} bytes is over the {MAX_REQUEST}-byte limit")))
                    return
                try:
                    payload = _recv_exact(conn, length, deadline)
                except (_Closed, OSError):
                    return
                reply, close = self._handle(payload, conn)
                if not self._reply(conn, reply) or close:
                    return
        finally:
            with self._conns_lock:
                self._conns.pop(conn, None)
            try:
                conn.close()
            except OSError:
                pass

    @staticmethod
    def _reply(conn: socket.socket, reply: dict) -> bool:
        try:
            conn.settimeout(BODY_TIMEOUT)
            _send_frame(conn, reply)
            return True
        except (OSError, ValueError, TypeError) as exc:
            log.warning("could not send a reply: %s", exc)
            return False

    def _handle(self, payload: bytes, conn: socket.socket | None = None) -> tuple[dict, bool]:
        """Decode, validate, run. Returns (reply, close the connection afterwards)."""
        self.requests += 1
        try:
            op, req = validate_request(decode_request(payload))
        except BadRequest as exc:
            self.bad_requests += 1
            log.warning("bad request: %s", exc)
            return error_reply(exc), False
        log.debug("request %s", op)
        try:
            return {"ok": True, "result": _plain(self._run(op, req, conn))}, op == "shutdown"
        except FwemuError as exc:
            return error_reply(exc), False
        except Exception as exc:   # a bug of ours: report it, keep serving
            log.exception("request %s failed", op)
            return error_reply(exc), False

    def _run(self, op: str, req: dict, conn: socket.socket | None = None):
        if self._stop.is_set() and op in ("inject", "reset"):
            raise UnreachableError("the daemon is stopping")
        if op == "inject":
            send, lost = None, [0]
            if req.pop("stream", False) and conn is not None:
                send, lost = self._streamer(conn)
            res = self.session.inject(InjectRequest.from_wire(req), pump=False, wake=self._wake.set,
                                      on_final=send)
            if lost[0]:
                res["stream_lost"] = lost[0]
            return res
        if op == "status":
            st = self.session.status()
            st["daemon"] = self.info()
            return st
        if op == "reset":
            res = self.session.reset()
            self._wake.set()
            return res
        if op == "ping":
            return self.info()
        if op == "shutdown":
            log.info("shutdown requested by a client")
            self._stop.set()
            return {"stopping": True, "pid": os.getpid()}
        raise BadRequest(f"unknown op {op!r}")

    def _streamer(self, conn: socket.socket):
        """A streamed inject's per-injection frames, sent as each injection ends (the reply
        comes last, with the summary): the request holds nothing per injection, whatever
        its count. A client that stops reading loses its frames, not the run: every
        injection still ends and is journalled, and the reply says how many were not sent."""
        lost = [0]

        def send(inj) -> None:
            if lost[0] or not self._reply(conn, {"event": "injection", "injection": _plain(inj.to_json())}):
                lost[0] += 1
        return send, lost

    def info(self) -> dict:
        return {"pid": os.getpid(), "board": self.board_name, "socket": str(self.path),
                "version": __version__, "uptime_s": round(time.time() - self.started, 3),
                "clients": len(self._conns), "requests": self.requests, "bad_requests": self.bad_requests,
                "busy_refusals": self.busy_refusals,
                "rss_kib": _rss_kib()}


def _rss_kib() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


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


class Client:
    """A connection to the daemon serving a board."""

    def __init__(self, sock: socket.socket, path: Path, board_name: str | None = None):
        self.sock, self.path, self.board_name = sock, path, board_name
        self._idle_since = time.monotonic()

    @classmethod
    def connect(cls, board_name: str, timeout: float = CONNECT_TIMEOUT) -> Client | None:
        """The daemon for `board_name`, or None when no socket exists (no daemon).

        A socket that exists but does not take the connection is never passed over in
        silence: UnreachableError (exit 5) says whether a daemon still holds the board's
        pid lock (alive but not answering) or the socket was left by one that died. A
        caller that wants to run in-process anyway does not call this (`--no-daemon`)."""
        path = socket_path(board_name)
        if not _private_socket(path):
            return None
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError as exc:
            sock.close()
            why = exc.strerror or type(exc).__name__
            pid = _lock_holder(board_name)
            if pid is None:
                state = (f"it was left by a daemon that is no longer running ({why}); "
                         "`fwemu daemon` removes it when it starts")
            else:
                state = f"the daemon (pid {pid}) holding it does not accept connections ({why})"
            raise UnreachableError(f"daemon socket {path} exists but {state}; not running in-process "
                                   "behind its back (--no-daemon runs in-process anyway)") from None
        return cls(sock, path, board_name)

    def _reconnect(self) -> None:
        """A fresh connection in place of one the daemon has closed as idle (IDLE_TIMEOUT)."""
        if self.board_name is None:
            return
        fresh = Client.connect(self.board_name)
        if fresh is None:
            raise UnreachableError(f"daemon at {self.path} is gone")
        self.sock.close()
        self.sock, self.path = fresh.sock, fresh.path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    @staticmethod
    def _wait_for(op: str, req: dict | None) -> float:
        if op != "inject" or not req:
            return SHORT_REQUEST_TIMEOUT
        count = int(req.get("count") or 1)
        rate = float(req.get("rate") or 0)
        return float(req.get("timeout") or 5.0) * count + (count / rate if rate > 0 else 0) + REQUEST_MARGIN

    def _frame(self, send_error: BaseException | None):
        """One frame from the daemon, decoded."""
        try:
            (length,) = _HDR.unpack(_recv_exact(self.sock, 4))
        except (_Closed, OSError):
            if send_error is not None:
                raise send_error from None
            raise
        if length > MAX_REPLY:
            raise UnreachableError(f"daemon at {self.path} sent a {length}-byte reply (limit {MAX_REPLY})")
        body = _recv_exact(self.sock, length)
        try:
            return msgpack.unpackb(body, raw=False, strict_map_key=True)
        except Exception as exc:
            raise UnreachableError(f"daemon at {self.path} sent an undecodable reply: {exc}") from None

    def request(self, op: str, req: dict | None = None, timeout: float | None = None, on_event=None):
        """Send one request; return its result or raise the FwemuError the daemon reported.
        With on_event, a streamed inject: each injection's frame is handed to on_event as
        it comes, the reply last (the timeout is then per frame)."""
        if self.sock is None:
            raise UnreachableError("client is closed")
        msg = {"op": op, "req": req}
        payload = msgpack.packb(msg, use_bin_type=True)
        if len(payload) > MAX_REQUEST:
            raise UsageError("request", f"{len(payload)} bytes is over the daemon's {MAX_REQUEST}-byte limit")
        if time.monotonic() - self._idle_since > IDLE_TIMEOUT * 0.8:
            self._reconnect()    # the daemon closes connections idle for IDLE_TIMEOUT
        self.sock.settimeout(timeout if timeout is not None else self._wait_for(op, req))
        try:
            try:
                self.sock.sendall(_HDR.pack(len(payload)) + payload)
                send_error = None
            except (BrokenPipeError, ConnectionResetError) as exc:
                # The daemon closed first; its answer (e.g. "daemon busy") may be waiting
                # unread: report that rather than the broken pipe.
                send_error = exc
            while True:
                reply = self._frame(send_error)
                if on_event is None or not isinstance(reply, dict) or "event" not in reply:
                    break
                on_event(reply)
        except TimeoutError:
            raise UnreachableError(f"daemon at {self.path} did not answer {op} in time") from None
        except (_Closed, OSError) as exc:
            raise UnreachableError(f"daemon at {self.path}: {exc}") from None
        finally:
            self._idle_since = time.monotonic()
        if not isinstance(reply, dict) or "ok" not in reply:
            raise UnreachableError(f"daemon at {self.path} sent a malformed reply")
        if reply["ok"]:
            return reply.get("result")
        raise remote_error(str(reply.get("error") or "daemon error"), reply.get("exit_code", EXIT_FAILED))


def run(session, ready=None) -> int:
    """Start a daemon on `session`, call `ready(daemon)` once it listens, serve until stopped."""
    d = Daemon(session)
    try:
        d.start()
    except BaseException:
        session.close()
        raise
    try:
        if ready is not None:
            ready(d)
    except BaseException:
        d.stop()
        raise
    return d.serve_forever()


__all__ = ["Client", "Daemon", "run", "socket_path", "runtime_dir", "validate_request",
           "decode_request", "MAX_REQUEST"]
