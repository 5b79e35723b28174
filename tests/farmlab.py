"""A labgrid lab on 127.0.0.1 for the farm test and benchmark: a labgrid-coordinator, sim-agent
boards (python -m fwemu.targets.simagent, each serving the C agent on a pty of its own), one
ser2net giving each pty a TCP port on 127.0.0.1 (RFC 2217, raw TCP, or by default RFC 2217
for boards at an even index and raw TCP at an odd one), a labgrid-exporter exporting those ports as NetworkSerialPort resources, and one
place per board (created with labgrid-client: match, tags).

The exporter's RawSerialPort would start ser2net itself, but listening on every interface;
a NetworkSerialPort in front of our own ser2net keeps every server on 127.0.0.1.

    with FarmLab(tmp_path, boards=2) as lab:
        lab.coordinator        # "127.0.0.1:PORT"
        lab.places             # ["fwemu-0", "fwemu-1"], tagged ras=ghes
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BIN = Path(sys.executable).parent


def missing() -> str | None:
    """What this machine lacks for a lab, or None."""
    for tool in ("labgrid-coordinator", "labgrid-exporter", "labgrid-client"):
        if not (BIN / tool).exists() and not shutil.which(tool):
            return f"{tool} not installed (pip install labgrid==26.0.1)"
    if not shutil.which("ser2net") and not os.path.exists("/usr/sbin/ser2net"):
        return "ser2net not installed (scripts/install-system-deps.sh)"
    return None


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else (shutil.which(name) or name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, what: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} not listening on 127.0.0.1:{port} after {timeout:g} s")


class FarmLab:
    def __init__(self, tmp: Path, boards: int = 2, tags: str = "ras=ghes", board: str = "sim-agent",
                 protocol: str = "mixed", prefix: str = "fwemu", chardelay: bool = True):
        self.tmp, self.n, self.tags, self.board = Path(tmp), boards, tags, board
        self.proto, self.prefix = protocol, prefix     # mixed: raw TCP for every board at an odd index
        self.chardelay = chardelay     # ser2net's default: wait >= 1 ms after the last byte before sending
        self.procs: list[subprocess.Popen] = []
        self.ptys: list[str] = []
        self.ports: list[int] = []
        self.places = [f"{prefix}-{i}" for i in range(boards)]
        self.ledgers = [str(self.tmp / f"ledger-{i}.txt") for i in range(boards)]
        self.coordinator = ""

    def _spawn(self, cmd: list[str], log: str, **kw) -> subprocess.Popen:
        with open(self.tmp / log, "ab") as f:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=kw.pop("stdout", f), stderr=f, **kw)
        self.procs.append(p)
        return p

    def client(self, *args: str) -> str:
        r = subprocess.run([_tool("labgrid-client"), "-x", self.coordinator, *args], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"labgrid-client {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
        return r.stdout

    def __enter__(self) -> FarmLab:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        cport = free_port()
        self.coordinator = f"127.0.0.1:{cport}"
        coord = self._spawn([_tool("labgrid-coordinator"), "-l", self.coordinator], "coordinator.log",
                            cwd=self.tmp)
        # the boards: each prints "PTY /dev/pts/N" once its agent serves
        for i in range(self.n):
            p = self._spawn([sys.executable, "-m", "fwemu.targets.simagent", "--board", self.board,
                             "--ledger", self.ledgers[i]], f"simagent-{i}.log", stdout=subprocess.PIPE, text=True)
            line = p.stdout.readline()
            if not line.startswith("PTY "):
                raise RuntimeError(f"sim agent {i} did not start: {line!r}")
            self.ptys.append(line.split()[1])
        self.ports = [free_port() for _ in range(self.n)]
        conf = ["%YAML 1.1", "---"]
        for i, (pty, port) in enumerate(zip(self.ptys, self.ports, strict=True)):
            accepter = (f"tcp,127.0.0.1,{port}" if self.protocol(i) == "raw"
                        else f"telnet(rfc2217),tcp,127.0.0.1,{port}")
            conf += [f"connection: &board{i}", f"    accepter: {accepter}", "    enable: on",
                     f"    connector: serialdev,{pty},115200n81,local", "    options:", "      kickolduser: true"]
            if not self.chardelay:
                conf.append("      chardelay: false")
        (self.tmp / "ser2net.yaml").write_text("\n".join(conf) + "\n")
        s2n = self._spawn([shutil.which("ser2net") or "/usr/sbin/ser2net", "-n", "-d", "-c",
                           str(self.tmp / "ser2net.yaml"), "-P", str(self.tmp / "ser2net.pid")], "ser2net.log")
        _wait_listening(cport, "labgrid-coordinator", coord)
        for port in self.ports:
            _wait_listening(port, "ser2net", s2n)
        exp = []
        for i, port in enumerate(self.ports):
            exp += [f"board-{i}:", "  NetworkSerialPort:", "    host: 127.0.0.1", f"    port: {port}",
                    "    speed: 115200", f"    protocol: {self.protocol(i)}"]
        (self.tmp / "exporter.yaml").write_text("\n".join(exp) + "\n")
        self._spawn([_tool("labgrid-exporter"), "-c", self.coordinator, "-n", "lab1", "--hostname", "127.0.0.1",
                     str(self.tmp / "exporter.yaml")], "exporter.log")

        def place(i: int) -> None:
            name = self.places[i]
            self.client("-p", name, "create")
            self.client("-p", name, "add-match", f"lab1/board-{i}/*")
            self.client("-p", name, "set-tags", *self.tags.split())
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(place, range(self.n)))
        self.wait_resources()

    def protocol(self, i: int) -> str:
        if self.proto == "mixed":
            return "raw" if i % 2 else "rfc2217"
        return self.proto

    def wait_resources(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            out = self.client("resources")
            if all(f"lab1/board-{i}/NetworkSerialPort" in out for i in range(self.n)):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the exporter's resources did not appear: {out!r}")
            time.sleep(0.3)

    def acquired(self) -> list[str]:
        """The places labgrid-client lists as acquired."""
        out = self.client("places", "--acquired")
        return [line.strip() for line in out.splitlines() if line.strip()]

    def close(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
            if p.stdout:
                p.stdout.close()
        self.procs.clear()
