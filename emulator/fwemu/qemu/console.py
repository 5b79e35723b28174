"""The guest's serial console: type commands, read what the guest printed.

The connection is pyserial `socket://127.0.0.1:PORT` (QEMU's loopback TCP chardev). A
thread drains it for as long as it is open: a client that stops reading stalls the guest's
UART while the kernel prints with interrupts off (qemu-linux.md pitfall 2). What the guest
printed is read back from QEMU's serial log file, which holds everything since boot, so
nothing depends on when fwemu connected.

Kernel lines carry the printk timestamp (`[    5.493494] text`); shell output does not.
`kernel_lines()` keeps the former, with the timestamp split off.

QEMU serves one console client at a time: a second client connects but sees nothing until
the first leaves, so `connect()` refuses when QMP says the console is already taken.

Every command is preceded by Ctrl-U (kill the line typed so far, in busybox ash's line
editor and in a canonical tty alike): a partial line left by a client that went away (or
typed while the guest was stalled) is erased instead of being prefixed to the next command.
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from typing import Protocol

from ..errors import UnreachableError

KERNEL_LINE = re.compile(r"\[\s*(\d+\.\d{6})\] (.*)$")
_counter = itertools.count(1)
KILL_LINE = "\x15"        # Ctrl-U: erase whatever is already on the shell's input line


def split_marker(marker: str) -> str:
    """`echo` argument that prints `marker` but whose echoed command line does not contain
    it (the shell joins the quoted halves)."""
    return f"{marker[:4]}''{marker[4:]}"


class _Port(Protocol):
    """What the console uses of a pyserial port (pyserial ships no type information)."""

    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class Console:
    def __init__(self, port: int, log_path: str, *, host: str = "127.0.0.1"):
        self.url = f"socket://{host}:{port}"
        self.log_path = log_path
        self._ser: _Port | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()         # one command at a time on the shell
        self.received = 0                     # bytes drained from the socket
        self.closed_by_peer = False

    # ---- connection -----------------------------------------------------------------------
    def connect(self, timeout: float = 5.0) -> Console:
        import serial  # pyserial

        deadline = time.monotonic() + timeout
        while True:
            try:
                self._ser = serial.serial_for_url(self.url, timeout=0.02, write_timeout=5)
                break
            except (serial.SerialException, OSError) as exc:
                if time.monotonic() > deadline:
                    raise UnreachableError(f"guest console {self.url}: {exc}") from None
                time.sleep(0.05)
        self._thread = threading.Thread(target=self._drain, name="qemu-console-drain", daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        import serial

        while not self._stop.is_set():
            ser = self._ser
            try:
                data = ser.read(65536) if ser is not None else None
            except (serial.SerialException, OSError, TypeError, AttributeError):
                data = None
            if data is None:     # QEMU closed the socket, or close() ran under this thread
                self.closed_by_peer = not self._stop.is_set()
                return
            self.received += len(data)

    @property
    def connected(self) -> bool:
        return self._ser is not None and self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._ser is not None:
            try:
                self._ser.close()
            except Exception:  # noqa: BLE001 - closing a dead socket
                pass
        self._ser, self._thread = None, None

    # ---- writing --------------------------------------------------------------------------
    def send(self, text: str) -> None:
        ser = self._ser
        if ser is None or not self.connected:
            raise UnreachableError(f"guest console {self.url} is not connected"
                                   + (" (QEMU closed it: the guest is down)" if self.closed_by_peer else ""))
        ser.write(text.encode())
        ser.flush()

    # ---- reading the log --------------------------------------------------------------------
    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def read_log(self, since: int = 0) -> tuple[str, int]:
        """Console text after byte offset `since` (CR removed) and the new offset. Only whole
        lines are returned; a partial last line is left for the next call."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(since)
                data = fh.read()
        except OSError:
            return "", since
        cut = data.rfind(b"\n") + 1
        return data[:cut].decode(errors="replace").replace("\r", ""), since + cut

    def wait_for(self, pattern: str | re.Pattern[str], since: int, timeout: float) -> re.Match[str] | None:
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            text, _ = self.read_log(since)
            m = rx.search(text)
            if m or time.monotonic() >= deadline:
                return m
            if not self.connected:
                raise UnreachableError(f"guest console {self.url}: QEMU closed the connection "
                                       "(the guest is down)")
            time.sleep(0.005)

    # ---- commands ---------------------------------------------------------------------------
    def run(self, command: str, timeout: float = 20.0) -> str:
        """Run one shell command on the console; what it printed (between two markers).
        TimeoutError when the end marker does not come back."""
        with self._lock:
            n = next(_counter)
            start, end = f"__FWEMU_S{os.getpid()}_{n}", f"__FWEMU_E{os.getpid()}_{n}"
            pos = self.log_size()
            self.send(f"{KILL_LINE}echo {split_marker(start)}; {command}; echo {split_marker(end)}\n")
            m = self.wait_for(re.compile(re.escape(start) + r"\n(.*?)^" + re.escape(end) + r"$",
                                         re.S | re.M), pos, timeout)
            if not m:
                raise TimeoutError(f"guest console: {command!r} did not finish within {timeout:g} s")
            out: str = m.group(1)        # the group always takes part in the match
            return out

    def start_command(self, command: str) -> tuple[str, int]:
        """Type `command` followed by an end marker and return at once: (marker, log offset)."""
        with self._lock:
            n = next(_counter)
            end = f"__FWEMU_E{os.getpid()}_{n}"
            pos = self.log_size()
            self.send(f"{KILL_LINE}{command}; echo {split_marker(end)}\n")
            return end, pos

    def sync(self, timeout: float = 10.0) -> bool:
        """True once the shell has run everything typed so far (a marker came back)."""
        try:
            self.run(":", timeout)
            return True
        except (TimeoutError, UnreachableError):
            return False


def kernel_lines(text: str) -> list[tuple[float, str]]:
    """(printk timestamp, text) for each kernel line in console text. A kernel line may start
    mid-line after shell output without a newline (a prompt): the timestamp is searched."""
    out: list[tuple[float, str]] = []
    for line in text.split("\n"):
        m = KERNEL_LINE.search(line)
        if m:
            out.append((float(m.group(1)), m.group(2).rstrip()))
    return out
