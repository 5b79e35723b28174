"""A client of the daemon serving a board: connects after checking the socket is ours,
sends requests, reads streamed frames and the reply, reconnects after the daemon closed an
idle connection."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import msgpack

from ..errors import EXIT_FAILED, UnreachableError, UsageError
from .paths import _lock_holder, _private_socket, socket_path
from .wire import (_HDR, CONNECT_TIMEOUT, IDLE_TIMEOUT, MAX_REPLY, MAX_REQUEST, REQUEST_MARGIN,
                   SHORT_REQUEST_TIMEOUT, _Closed, _recv_exact, remote_error)

class Client:
    """A connection to the daemon serving a board."""

    def __init__(self, sock: socket.socket, path: Path, board_name: str | None = None):
        self.sock: socket.socket | None = sock
        self.path, self.board_name = path, board_name
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
        if self.sock is not None:
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
        if self.sock is None:
            raise UnreachableError("client is closed")
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


