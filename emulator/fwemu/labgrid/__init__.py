"""fwemu in a labgrid lab. fwemu's core never imports labgrid; only this package does, and
only in the modules that need it (`driver`, `coordinator`), so `import fwemu.labgrid` works
without labgrid installed.

* `driver.FwemuAgentDriver`: a labgrid driver, registered with labgrid's target_factory,
  bound to a `NetworkSerialPort` (an exporter's `RawSerialPort`/`USBSerialPort` on the
  client side, or a ser2net port exported as such) or a local serial port; it gives fwemu
  the debug channel's URL for it and runs fwemu commands against it. Environment YAML:
  `imports: [fwemu.labgrid.driver]` (examples/labgrid/).
* `coordinator.Coordinator`: reserve, acquire, release places by tag through a labgrid
  coordinator (labgrid's gRPC client session), and find a place's serial resource.
  `fwemu farm run` (commands/farm.py) is built on both.
"""

from __future__ import annotations

from ..errors import UsageError

PROTOCOLS = ("rfc2217", "raw")


def channel_url(host: str, port: int, protocol: str = "rfc2217", timeout: float | None = None) -> str:
    """The pyserial URL fwemu's channel opens for a network serial port.

    rfc2217 carries `ign_set_control`: ser2net on a pty never acknowledges the modem-line
    SET-CONTROL, and without it the open fails (shared/reference/ecosystem.md §1). `timeout`
    is the RFC 2217 negotiation timeout, given once in the URL: assigning pyserial's
    `timeout` later renegotiates with the server each time. `raw` is plain TCP."""
    if protocol not in PROTOCOLS:
        raise UsageError("protocol", f"{protocol!r} is not a serial protocol fwemu can open "
                                     f"(one of: {', '.join(PROTOCOLS)})")
    if not 0 < port < 65536:
        raise UsageError("port", f"{port} is not a TCP port")
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if protocol == "raw":
        return f"socket://{netloc}"
    url = f"rfc2217://{netloc}?ign_set_control"
    return url + (f"&timeout={timeout:g}" if timeout is not None else "")


def missing_labgrid() -> str | None:
    """Why labgrid cannot be used here (one line), or None when it can."""
    try:
        import labgrid  # noqa: F401
    except ImportError as exc:
        return f"labgrid is not installed ({exc}); pip install 'fwemu[labgrid]'"
    return None
