"""A small QMP client (QEMU Machine Protocol over QEMU's unix socket): one connection per
use, since QEMU serves one client per monitor socket."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from ..errors import FwemuError, UnreachableError


class QmpError(FwemuError):
    """QEMU answered a command with an error: `.cls` is its class (GenericError,
    CommandNotFound, …), `.desc` its text."""

    def __init__(self, command: str, cls: str, desc: str):
        super().__init__(f"QMP {command}: {cls}: {desc}")
        self.command, self.cls, self.desc = command, cls, desc


class Qmp:
    def __init__(self, path: str, timeout: float = 10.0):
        self.path = path
        self.events: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(timeout)
                self.sock.connect(path)
                break
            except OSError as exc:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise UnreachableError(f"QMP socket {path}: {exc.strerror or exc}") from None
                time.sleep(0.05)
        self.file = self.sock.makefile("rwb")
        self.greeting = self._read()
        if "QMP" not in self.greeting:
            raise UnreachableError(f"QMP socket {path}: unexpected greeting {self.greeting!r}")
        self.execute("qmp_capabilities")

    def _read(self) -> dict[str, Any]:
        line = self.file.readline()
        if not line:
            raise UnreachableError(f"QMP socket {self.path}: QEMU closed the connection")
        msg: dict[str, Any] = json.loads(line)
        return msg

    def execute(self, command: str, **arguments: Any) -> Any:
        """Run one command; its `return` value, or QmpError."""
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            reply = self._read()
            if "event" in reply:
                self.events.append(reply)
                continue
            if "error" in reply:
                err = reply["error"]
                raise QmpError(command, err.get("class", "?"), err.get("desc", ""))
            return reply.get("return")

    def close(self) -> None:
        try:
            self.file.close()
        finally:
            self.sock.close()

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def qmp_call(path: str, command: str, **arguments: Any) -> Any:
    with Qmp(path) as q:
        return q.execute(command, **arguments)
