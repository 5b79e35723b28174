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

from .client import Client
from .paths import _private_socket, runtime_dir, socket_path
from .server import Daemon, run
from .wire import (BODY_TIMEOUT, CONNECT_TIMEOUT, IDLE_TIMEOUT, MAX_CLIENTS, MAX_COUNT, MAX_FULL_REPORT,
                   MAX_RECORD, MAX_REPLY, MAX_REQUEST, MAX_TIMEOUT, OPS, BadRequest, decode_request,
                   error_reply, remote_error, validate_request)

__all__ = ["BODY_TIMEOUT", "CONNECT_TIMEOUT", "IDLE_TIMEOUT", "MAX_CLIENTS", "MAX_COUNT", "MAX_FULL_REPORT",
           "MAX_RECORD", "MAX_REPLY", "MAX_REQUEST", "MAX_TIMEOUT", "OPS", "BadRequest", "Client", "Daemon",
           "_private_socket", "decode_request", "error_reply", "remote_error", "run", "runtime_dir",
           "socket_path", "validate_request"]
