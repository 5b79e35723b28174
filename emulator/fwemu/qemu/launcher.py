"""Start and stop one qemu-virt guest.

A guest lives in a run directory (`$FWEMU_QEMU_RUN`, else `/tmp/fwemu-qemu-<uid>`):

    guest.json   what fwemu needs to attach: pid, QEMU version, RAM file, serial port, QMP
                 socket, whether QMP has inject-ghes-v2-error, the measured boot time
    qemu.pid     QEMU's pid (QEMU writes it)
    qmp.sock     QMP (one client at a time)
    serial.log   everything the guest printed on its console since it started
    qemu.err     QEMU's own stderr while it started

Guest RAM is a shared `memory-backend-file` in /dev/shm, so fwemu maps it; the serial
console is a loopback TCP server (QEMU picks the port; pyserial `socket://127.0.0.1:PORT`).
`-no-reboot` with `panic=-1` makes QEMU exit when the kernel panics. stop() only ever signals
the pid in the pid file, and only after checking that process is this guest's QEMU.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from typing import Any

from ..errors import UnreachableError, UsageError
from .image import GuestImage, find_image
from .qmp import Qmp

READY_MARKER = "FWEMU-GUEST-READY"
RAM_BASE = 0x40000000                 # arm virt: RAM starts at 1 GiB
MACHINE = "virt,ras=on,gic-version=3,acpi=on"
CPU = "max,pauth-impdef=on"           # pauth-impdef: TCG runs pointer auth much faster
APPEND = ("console=ttyAMA0 acpi=force ignore_loglevel panic=-1 "
          "rcupdate.rcu_cpu_stall_suppress=1")


def default_run_dir() -> str:
    return os.environ.get("FWEMU_QEMU_RUN") or f"/tmp/fwemu-qemu-{os.getuid()}"


def parse_size(text: str | int) -> int:
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)i?B?\s*", str(text), re.I)
    if not m:
        raise UsageError("--memory", f"{text!r} is not a size (e.g. 1G, 2048M)")
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[m.group(2).upper()]


def boot_paths(image: GuestImage) -> tuple[str, str, str, str]:
    """The QEMU, firmware, kernel and initrd a command line names. start() boots only an
    image that misses none of them (GuestImage.missing())."""
    if not (image.qemu and image.bios and image.kernel and image.initrd):
        raise UnreachableError("cannot boot the guest: " + "; ".join(image.missing()))
    return image.qemu, image.bios, image.kernel, image.initrd


class Guest:
    """One guest in one run directory."""

    def __init__(self, run_dir: str | None = None, *, ram_size: int = 1 << 30, smp: int = 1,
                 ram_base: int = RAM_BASE, extra_append: str = ""):
        self.run_dir = os.path.abspath(run_dir or default_run_dir())
        self.ram_size, self.smp, self.ram_base = ram_size, smp, ram_base
        self.extra_append = extra_append
        tag = hashlib.sha1(self.run_dir.encode()).hexdigest()[:10]
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else self.run_dir
        self.default_ram_file = os.path.join(shm, f"fwemu-qemu-{os.getuid()}-{tag}.ram")

    # ---- paths and recorded state ------------------------------------------------------
    def path(self, name: str) -> str:
        return os.path.join(self.run_dir, name)

    @property
    def serial_log(self) -> str:
        return self.path("serial.log")

    @property
    def qmp_path(self) -> str:
        return self.path("qmp.sock")

    def info(self) -> dict[str, Any]:
        """guest.json ({} when no guest was started here)."""
        try:
            with open(self.path("guest.json")) as fh:
                info: dict[str, Any] = json.load(fh)
                return info
        except (OSError, ValueError):
            return {}

    def _write_info(self, info: dict[str, Any]) -> None:
        tmp = self.path("guest.json.tmp")
        with open(tmp, "w") as fh:
            json.dump(info, fh, indent=1)
        os.replace(tmp, self.path("guest.json"))

    def pid(self) -> int | None:
        try:
            with open(self.path("qemu.pid")) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return None

    def _is_ours(self, pid: int) -> bool:
        """The process is alive and is the QEMU of this run directory (its command line
        names this directory's QMP socket), so a recycled pid is never signalled."""
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().decode(errors="replace")
        except OSError:
            return False
        return self.qmp_path in cmdline

    def alive(self) -> bool:
        pid = self.pid()
        return pid is not None and self._is_ours(pid)

    # ---- start --------------------------------------------------------------------------
    def image(self) -> GuestImage:
        """What this guest boots (a subclass boots other firmware or another initrd)."""
        return find_image()

    def command(self, image: GuestImage, ram_file: str) -> list[str]:
        mem = f"{self.ram_size >> 20}M"
        qemu, bios, kernel, initrd = boot_paths(image)
        return [
            qemu, "-M", MACHINE, "-cpu", CPU, "-smp", str(self.smp), "-m", mem,
            "-object", f"memory-backend-file,id=ram0,size={mem},mem-path={ram_file},share=on",
            "-machine", "memory-backend=ram0",
            "-bios", bios, "-kernel", kernel, "-initrd", initrd,
            "-append", f"{APPEND} {self.extra_append}".strip(),
            "-nodefaults", "-display", "none", "-no-reboot", "-nic", "none",
            "-chardev", (f"socket,id=ser0,host=127.0.0.1,port=0,server=on,wait=off,nodelay=on,"
                         f"logfile={self.serial_log},logappend=off"),
            "-serial", "chardev:ser0",
            "-qmp", f"unix:{self.qmp_path},server=on,wait=off", "-monitor", "none",
            "-pidfile", self.path("qemu.pid"), "-daemonize",
        ]

    def booted_image(self) -> GuestImage | None:
        """The QEMU, firmware, kernel and initrd the guest in this run directory was booted
        with (guest.json), so a restart boots the same ones whatever the environment names
        now; None when nothing was recorded."""
        info = self.info()
        if not info.get("qemu"):
            return None
        m = re.search(r"(\d+)\.(\d+)\.(\d+)", info.get("qemu_version") or "")
        return GuestImage(qemu=info["qemu"], bios=info.get("bios"), kernel=info.get("kernel"),
                          initrd=info.get("initrd"), kernel_release=info.get("kernel_release"),
                          qemu_version=(int(m[1]), int(m[2]), int(m[3])) if m else None)

    def start(self, timeout: float = 120.0, ram_file: str | None = None,
              image: GuestImage | None = None) -> dict[str, Any]:
        """Boot the guest and wait for the init's ready marker. Returns guest.json.
        `image`: what to boot (default: what the environment names now, `image()`)."""
        if self.alive():
            raise UsageError("qemu", f"a guest is already running in {self.run_dir} (pid {self.pid()}); "
                             "`fwemu qemu down` first")
        image = image or self.image()
        missing = image.missing()
        if missing:
            raise UnreachableError("cannot boot the qemu-virt guest: " + "; ".join(missing))
        os.makedirs(self.run_dir, exist_ok=True)
        ram_file = ram_file or self.default_ram_file
        self._cleanup_files()
        for name in ("qemu.pid", "qmp.sock", "serial.log", "guest.json", "qemu.err"):
            try:
                os.unlink(self.path(name))
            except FileNotFoundError:
                pass
        cmd = self.command(image, ram_file)
        t0 = time.monotonic()
        wall0 = time.time()
        with open(self.path("qemu.err"), "w") as err:
            rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                timeout=60).returncode
        if rc != 0:
            with open(self.path("qemu.err")) as fh:
                why = fh.read().strip()
            raise UnreachableError(f"QEMU failed to start (exit {rc}): {why or 'no message'}")
        pid = self.pid()
        info: dict[str, Any] = {"pid": pid, "run_dir": self.run_dir, "qemu": image.qemu,
                "qemu_version": image.version_text, "kernel": image.kernel,
                "kernel_release": image.kernel_release, "initrd": image.initrd, "bios": image.bios,
                "ram_file": ram_file, "ram_base": self.ram_base, "ram_size": self.ram_size,
                "smp": self.smp, "serial_log": self.serial_log, "qmp": self.qmp_path,
                "started": wall0, "command": cmd}
        with Qmp(self.qmp_path) as q:
            for dev in q.execute("query-chardev"):
                if dev.get("label") == "ser0":
                    m = re.search(r"tcp:127\.0\.0\.1:(\d+)", dev.get("filename", ""))
                    info["serial_port"] = int(m.group(1)) if m else None
            names = {c["name"] for c in q.execute("query-commands")}
            info["qmp_inject"] = "inject-ghes-v2-error" in names
            v = q.execute("query-version")
            info["qemu_package"] = v.get("package", "")
        if not info.get("serial_port"):
            self.stop()
            raise UnreachableError("QEMU did not report its serial port (query-chardev)")
        self._write_info(info)
        try:
            uptime = self.wait_ready(timeout, since=0)
        except Exception:
            tail = self.log_tail(30)
            self.stop()
            raise UnreachableError(f"the guest did not reach its ready marker within {timeout:g} s; "
                                   f"serial log tail:\n{tail}") from None
        info["boot_s"] = round(time.monotonic() - t0, 3)
        info["guest_uptime_at_ready"] = uptime
        self._write_info(info)
        return info

    def wait_ready(self, timeout: float, since: int = 0) -> float | None:
        """Wait for the ready marker in the serial log after byte offset `since`; the guest's
        uptime it printed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.serial_log, "rb") as fh:
                    fh.seek(since)
                    text = fh.read().decode(errors="replace")
            except OSError:
                text = ""
            m = re.search(READY_MARKER + r" uptime=([\d.]+)", text)
            if m:
                return float(m.group(1))
            if not self.alive():
                raise UnreachableError("QEMU exited while the guest was booting")
            time.sleep(0.05)
        raise TimeoutError(f"no {READY_MARKER} within {timeout:g} s")

    def log_tail(self, n: int) -> str:
        try:
            with open(self.serial_log, "rb") as fh:
                lines = fh.read().decode(errors="replace").replace("\r", "").splitlines()
        except OSError:
            return "(no serial log)"
        return "\n".join(lines[-n:])

    # ---- stop ---------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0) -> bool:
        """Stop this run directory's QEMU (by its pid file, after checking it is ours) and
        remove its RAM file. True when a running QEMU was stopped."""
        stopped = False
        pid = self.pid()
        if pid is not None and self._is_ours(pid):
            try:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + timeout
                while self._is_ours(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if self._is_ours(pid):
                    os.kill(pid, signal.SIGKILL)
                    while self._is_ours(pid):
                        time.sleep(0.05)
                stopped = True
            except ProcessLookupError:
                pass
        self._cleanup_files()
        return stopped

    def _cleanup_files(self) -> None:
        info = self.info()
        for f in {info.get("ram_file"), self.default_ram_file}:
            if f and os.path.isfile(f) and not self.alive():
                os.unlink(f)
        for name in ("qemu.pid", "qmp.sock"):
            try:
                os.unlink(self.path(name))
            except FileNotFoundError:
                pass

    def console_client(self) -> str | None:
        """The address of the client holding the serial console, or None (QEMU serves one
        client at a time; a second one connects but sees nothing)."""
        with Qmp(self.qmp_path) as q:
            for dev in q.execute("query-chardev"):
                if dev.get("label") == "ser0" and "<->" in dev.get("filename", ""):
                    holder: str = dev["filename"].split("<->", 1)[1].strip()
                    return holder
        return None

    def console_client_gone(self, holder: str) -> bool:
        """True when the console client QEMU still holds (`holder`, "host:port") has closed
        its end: QEMU's side of that loopback connection is in CLOSE_WAIT. QEMU notices only
        when it next reads the socket or writes to it, i.e. when the guest takes console input
        or prints; a stalled guest does neither, so a dead client keeps the console."""
        port = (self.info() or {}).get("serial_port")
        if not port:
            return False
        return tcp_close_wait(int(port), holder)

    def exit_reason(self) -> str | None:
        """Why the guest is down, from its console (a panic line), or None."""
        try:
            with open(self.serial_log, "rb") as fh:
                text = fh.read().decode(errors="replace")
        except OSError:
            return None
        found = re.findall(r"Kernel panic - not syncing: ([^\r\n]*)", text)
        return found[-1].strip() if found else None   # the last panic


def tcp_close_wait(local_port: int, peer: str) -> bool:
    """Has the client `peer` ("ip:port", as QMP's query-chardev names it) of the loopback
    TCP server on `local_port` closed its end? Yes when the server's end is in CLOSE_WAIT,
    or when the client's end (peer port -> local_port) is no longer ESTABLISHED (closed, or
    reset by the server writing to it)."""
    try:
        _host, pport = peer.rsplit(":", 1)
        peer_port = int(pport)
    except ValueError:
        return False
    server = client = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if len(f) < 4:
                continue
            lport = int(f[1].rsplit(":", 1)[1], 16)
            rport = int(f[2].rsplit(":", 1)[1], 16)
            if lport == local_port and rport == peer_port:
                server = f[3]
            elif lport == peer_port and rport == local_port:
                client = f[3]
    if server == "08":          # TCP_CLOSE_WAIT: the client sent its FIN
        return True
    return client != "01"       # the client's socket is gone or not ESTABLISHED
