"""The daemon: one Session served over the board's control socket (see the package's
docstring for the protocol, threads, limits and shutdown)."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import signal
import socket
import stat
import struct
import threading
import time


from .. import __version__
from ..errors import FwemuError, UnreachableError, UsageError
from ..request import InjectRequest
from .paths import _ensure_private_dir, _lock_path, socket_path
from .wire import (_HDR, BODY_TIMEOUT, CONNECT_TIMEOUT, IDLE_TIMEOUT, MAX_CLIENTS, MAX_REQUEST, BadRequest,
                   _Closed, _plain, _recv_exact, _send_frame, decode_request, error_reply, validate_request)

log = logging.getLogger("fwemu.daemon")

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
        listener = self._listener
        assert listener is not None, "start() first"
        try:
            while not self._stop.is_set():
                try:
                    conn, _ = listener.accept()
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
                idle = fw.idle()
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


