"""A labgrid driver for the fwemu target agent's debug channel.

    targets:
      main:
        resources:
          RemotePlace: {name: board-a}     # its serial port arrives as a NetworkSerialPort
        drivers:
          FwemuAgentDriver: {board: fvp}
    imports: [fwemu.labgrid.driver]

`target.get_driver("FwemuAgentDriver").url` is the pyserial URL fwemu opens
(`rfc2217://host:port?ign_set_control&timeout=T`, `socket://host:port`, or the device path of
a local port); `.run("inject", "memory-ue", "--count", "10")` runs fwemu against the board
and returns its JSON envelope.

The driver never opens the port itself: fwemu opens it in its own process, and a second
opener on one ser2net port would be kicked off or would steal the agent's replies. It does
not implement ConsoleProtocol for the same reason (the agent's channel carries frames, not
a console). Host and port go through labgrid's proxy manager, so LG_PROXY and exporters
that require a proxy work as for labgrid's own SerialDriver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import attr
from labgrid import Target
from labgrid.driver.common import Driver
from labgrid.factory import target_factory
from labgrid.resource import NetworkSerialPort
from labgrid.util.proxy import proxymanager

from ..errors import UnreachableError
from . import channel_url


@dataclass(frozen=True)
class FwemuResult:
    """One fwemu command's outcome: its exit code and its `--json` envelope (None when
    stdout held no JSON object, e.g. fwemu could not start)."""

    returncode: int
    envelope: dict[str, Any] | None

    @property
    def error(self) -> str | None:
        return (self.envelope or {}).get("error")


@target_factory.reg_driver
@attr.s(eq=False)
class FwemuAgentDriver(Driver):
    """Gives fwemu the debug-channel URL of a board's serial port and runs fwemu on it.

    Args:
        board (str): fwemu board name or TOML path of the board behind the port
            (default: fwemu's own default, $FWEMU_BOARD or 'sim')
        timeout (float): RFC 2217 negotiation timeout in seconds, put in the URL
    """

    bindings = {"port": {"SerialPort", "NetworkSerialPort"}}

    board = attr.ib(default="", validator=attr.validators.instance_of(str))
    timeout = attr.ib(default=3.0, validator=attr.validators.instance_of(float))

    def get_url(self) -> str:
        """The pyserial URL of the bound port (bound or active: nothing is opened)."""
        port = self.port
        if not isinstance(port, NetworkSerialPort):
            return str(port.port)       # a local port (RawSerialPort, USBSerialPort): its device
        host, tcp_port = proxymanager.get_host_and_port(port)
        return channel_url(host, int(tcp_port), port.protocol, self.timeout)

    @property
    def url(self) -> str:
        return self.get_url()

    def command(self, *args: str, journal: str | None = None) -> list[str]:
        """The fwemu command line for `args` on this board: `--url`, `--board`, `--json`
        (and `--journal` when given) are appended, so the global options come after the
        subcommand's own."""
        cmd = [sys.executable, "-m", "fwemu", *args, "--url", self.get_url(), "--json"]
        if self.board:
            cmd += ["--board", self.board]
        if journal is not None:
            cmd += ["--journal", journal]
        return cmd

    def run(self, *args: str, journal: str | None = None, timeout: float | None = None) -> FwemuResult:
        """Runs fwemu `args` against the board and returns its exit code and envelope."""
        proc = subprocess.run(self.command(*args, journal=journal), stdout=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=timeout, env=os.environ.copy())
        try:
            envelope = json.loads(proc.stdout.decode("utf-8", "replace").splitlines()[-1])
        except (IndexError, ValueError):
            envelope = None
        return FwemuResult(proc.returncode, envelope if isinstance(envelope, dict) else None)

    @Driver.check_bound
    def get_export_vars(self) -> dict[str, str]:
        return {"url": self.get_url(), "board": self.board}


def url_for(place: str, params: dict[str, Any], board: str = "") -> str:
    """The channel URL of a serial port the coordinator described (a NetworkSerialPort's
    host, port, speed, protocol and extra), built as an environment file would: a target
    with that resource and FwemuAgentDriver bound to it (`fwemu farm run`)."""
    target = Target(place)
    try:
        res = NetworkSerialPort(target, name=None, host=str(params["host"]), port=int(params["port"]),
                                speed=int(params.get("speed", 115200)),
                                protocol=str(params.get("protocol", "rfc2217")))
        res.extra = params.get("extra") or {}      # the exporter's proxy information
        # labgrid's Driver is untyped, so mypy's attrs plugin sees only this class's own fields
        driver_cls: Any = FwemuAgentDriver
        drv = driver_cls(target, name=None, board=board)
        target.activate(drv)
        return str(drv.url)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnreachableError(f"place {place}: its serial resource is not usable ({exc})") from None
    finally:
        target.cleanup()
