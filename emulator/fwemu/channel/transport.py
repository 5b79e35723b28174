"""A byte transport over any pyserial URL, with the pitfalls of each handler dealt with
(shared/reference/ecosystem.md §1):

* `socket://` — `read(n)` blocks until n bytes or the whole timeout: we read
  `in_waiting or 1` bytes, so a reply is seen as soon as its bytes arrive;
* `rfc2217://` — every `timeout` assignment renegotiates with the server (0.15 s each on
  stock pyserial): the read timeout is given once, at open, and never assigned again;
  `write_timeout` is not implemented there, so it is never set; against ser2net on a pty
  the URL needs `?ign_set_control` (we say so when the open fails without it);
* `loop://` — in-process loopback for unit tests;
* a device path (`/dev/ttyUSB0`, `/dev/pts/N`) — a native port at `baudrate`.

A connection that drops (socket closed, USB unplugged) is reopened on the next write with
a short backoff; reads on a broken connection return b"" until then.
"""

from __future__ import annotations

import logging
import threading
import time

import serial

from .protocol import ChannelError

log = logging.getLogger("fwemu.channel")

READ_TIMEOUT = 0.02   # the reader thread's poll period; set once at open


def url_kind(url: str) -> str:
    """'socket', 'rfc2217', 'loop', 'spy', … or 'device' for a path."""
    if "://" in url:
        return url.split("://", 1)[0].lower()
    return "device"


class SerialTransport:
    """One pyserial port, opened once (and again after a disconnect)."""

    def __init__(self, url: str, baudrate: int = 115200, reconnect: bool = True):
        self.url, self.baudrate, self.reconnect = url, baudrate, reconnect
        self.kind = url_kind(url)
        self._ser: serial.SerialBase | None = None
        self._wlock = threading.Lock()
        self._broken_since: float | None = None
        self.reconnects = 0
        self.bytes_out = 0
        self.bytes_in = 0
        self._open()

    def _open(self) -> None:
        try:
            # timeout is a constructor argument: assigned before the port opens, so rfc2217
            # does not renegotiate; it is never assigned again.
            self._ser = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=READ_TIMEOUT)
        except (serial.SerialException, OSError, ValueError) as exc:
            hint = ""
            if self.kind == "rfc2217" and "ign_set_control" not in self.url and "control" in str(exc):
                hint = " (against ser2net on a pty add ?ign_set_control to the URL)"
            raise ChannelError(f"cannot open {self.url}: {exc}{hint}") from None
        self._broken_since = None

    @property
    def is_open(self) -> bool:
        return self._ser is not None and self._broken_since is None

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # noqa: BLE001 - closing a dead port
                pass

    def _broken(self, exc: Exception) -> None:
        if self._broken_since is None:
            log.warning("channel %s: connection lost (%s); will reopen", self.url, exc)
            self._broken_since = time.monotonic()
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except Exception:  # noqa: BLE001
                pass

    def _revive(self) -> bool:
        if self._ser is not None:
            return True
        if not self.reconnect:
            return False
        try:
            self._open()
        except ChannelError as exc:
            log.debug("reopen %s failed: %s", self.url, exc)
            return False
        self.reconnects += 1
        log.warning("channel %s: reopened", self.url)
        return True

    def write(self, data: bytes) -> bool:
        """Sends all of `data`; False when the port is down (the caller's retry covers it)."""
        with self._wlock:
            if not self._revive():
                return False
            ser = self._ser
            assert ser is not None    # _revive() opened it
            try:
                ser.write(data)
                ser.flush() if self.kind == "device" else None
            except (serial.SerialException, OSError) as exc:
                self._broken(exc)
                return False
            self.bytes_out += len(data)
            return True

    def read(self) -> bytes:
        """What has arrived, waiting at most READ_TIMEOUT (b"" when nothing)."""
        ser = self._ser
        if ser is None:
            time.sleep(READ_TIMEOUT)
            return b""
        try:
            n = ser.in_waiting
            data: bytes = ser.read(n or 1)
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # TypeError/AttributeError: pyserial's own handlers when the port closes under them
            if self._ser is ser:
                self._broken(exc)
            return b""
        self.bytes_in += len(data)
        return data
