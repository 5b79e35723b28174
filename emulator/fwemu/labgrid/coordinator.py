"""Places by tag through a labgrid coordinator (labgrid 24+: gRPC), for `fwemu farm run`.

One labgrid client session (labgrid.remote.client.ClientSession, the one labgrid-client
itself uses) per farm run: the coordinator keeps reservations and acquisitions under the
session's `host/user` name, so `labgrid-client` sees and can undo whatever the farm holds.
Reservation, acquire, release and cancel-reservation are the coordinator's own RPCs; the
place and resource lists come from the session's subscription, refreshed by a sync.

Errors come out as fwemu errors with one line: the coordinator unreachable (exit 5), a
refusal from the coordinator (exit 5, its own words).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import UnreachableError, UsageError

T = TypeVar("T")

CONNECT_TIMEOUT = 10.0     # seconds to reach the coordinator and get its place list
CALL_TIMEOUT = 30.0        # seconds one RPC may take
SERIAL_CLASSES = ("NetworkSerialPort", "RawSerialPort", "USBSerialPort")


@dataclass(frozen=True)
class SerialResource:
    """A place's serial port as the coordinator describes it (exporter/group/cls/name)."""

    path: str
    cls: str
    name: str
    params: dict[str, Any]
    avail: bool


def check_tag(text: str) -> tuple[str, str]:
    """KEY=VALUE as the coordinator accepts it (labgrid's TAG_KEY / TAG_VAL)."""
    from labgrid.remote.common import TAG_KEY, TAG_VAL

    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError("--tag", f"{text!r} is not KEY=VALUE")
    if not TAG_KEY.match(key):
        raise UsageError("--tag", f"key {key!r} is not a labgrid tag key (letters, digits, _ and -)")
    if not TAG_VAL.match(value):
        raise UsageError("--tag", f"value {value!r} is not a labgrid tag value")
    return key, value


class _QuietLabgrid(logging.Filter):
    """labgrid's client logs through the root logger (e.g. 'coordinator is unavailable'):
    fwemu says the same in its one line, so those records are dropped unless -v."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "labgrid" not in record.pathname


class Coordinator:
    """A client session with the coordinator at `address` (HOST[:PORT], port 20408 by
    default; LG_PROXY applies as in labgrid-client)."""

    def __init__(self, address: str, verbose: bool = False):
        try:
            import grpc
            from labgrid.remote.client import ClientSession, ensure_event_loop
            from labgrid.remote.common import Reservation  # noqa: F401 - used by poll()
            from labgrid.remote.generated import labgrid_coordinator_pb2  # noqa: F401 - the RPCs
            from labgrid.util.proxy import proxymanager
        except ImportError as exc:
            raise UsageError("farm", f"this labgrid has no gRPC client session fwemu can use ({exc}); "
                             "fwemu's farm needs labgrid 26 or later") from None

        self._grpc = grpc
        self.address = address
        self._filter = None if verbose else _QuietLabgrid()
        if self._filter is not None:
            logging.getLogger().addFilter(self._filter)
        self.loop = ensure_event_loop()
        try:
            target = proxymanager.get_grpc_address(address, default_port=20408)
        except Exception as exc:  # noqa: BLE001 - ProxyError, an ssh forward that failed
            raise UsageError("--coordinator", f"{address!r}: {exc}") from None
        self.session = ClientSession(target, self.loop)
        try:
            self.loop.run_until_complete(asyncio.wait_for(self.session.start(), CONNECT_TIMEOUT))
        except TimeoutError:
            self._drop()
            raise UnreachableError(f"labgrid coordinator {address}: no answer within "
                                   f"{CONNECT_TIMEOUT:g} s") from None
        except Exception as exc:  # noqa: BLE001 - labgrid's ServerError, grpc's errors
            self._drop()
            raise UnreachableError(f"labgrid coordinator {address}: not reachable ({exc})") from None

    # ---- plumbing ------------------------------------------------------------------------
    def _drop(self) -> None:
        try:
            self.loop.run_until_complete(asyncio.wait_for(self._stop(), 5))
        except Exception:  # noqa: BLE001 - tearing down a session that never worked
            pass
        if self._filter is not None:
            logging.getLogger().removeFilter(self._filter)
            self._filter = None

    async def _stop(self) -> None:
        await self.session.stop()
        await self.session.close()

    def close(self) -> None:
        self._drop()

    def _run(self, coro: Awaitable[T], what: str) -> T:
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coro, CALL_TIMEOUT))
        except TimeoutError:
            raise UnreachableError(f"labgrid coordinator {self.address}: {what}: no answer within "
                                   f"{CALL_TIMEOUT:g} s") from None
        except self._grpc.aio.AioRpcError as exc:
            raise UnreachableError(f"labgrid coordinator {self.address}: {what}: "
                                   f"{exc.details() or exc.code().name}") from None

    def sync(self) -> None:
        """Waits until the coordinator has sent every update up to now."""
        if not self._run(self.session.sync_with_coordinator(), "sync"):
            raise UnreachableError(f"labgrid coordinator {self.address}: the connection was lost")

    # ---- places and reservations ---------------------------------------------------------
    def places(self) -> dict[str, Any]:
        """Place name -> labgrid's Place (tags, acquired, reservation, acquired_resources)."""
        return dict(self.session.places)

    def reserve(self, tags: dict[str, str]) -> str:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        req = pb.CreateReservationRequest(filters={"main": pb.Reservation.Filter(filter=tags)}, prio=0)
        resp = self._run(self.session.stub.CreateReservation(req), "reserve")
        token: str = resp.reservation.token
        return token

    def poll(self, token: str) -> tuple[str, str | None]:
        """(state, place): state is labgrid's (waiting, allocated, acquired, expired,
        invalid); place is the one allocated to the reservation, once there is one."""
        from labgrid.remote.common import Reservation
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        resp = self._run(self.session.stub.PollReservation(pb.PollReservationRequest(token=token)),
                         "poll reservation")
        res = Reservation.from_pb2(resp.reservation)
        place = next((names[0] for names in res.allocations.values() if names), None)
        return res.state.name, place

    def cancel(self, token: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._run(self.session.stub.CancelReservation(pb.CancelReservationRequest(token=token)),
                  "cancel-reservation")

    def acquire(self, place: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._run(self.session.stub.AcquirePlace(pb.AcquirePlaceRequest(placename=place)),
                  f"acquire {place}")
        self.sync()

    def release(self, place: str) -> None:
        from labgrid.remote.generated import labgrid_coordinator_pb2 as pb

        self._run(self.session.stub.ReleasePlace(pb.ReleasePlaceRequest(placename=place)),
                  f"release {place}")

    def serial_resources(self, place: str) -> list[SerialResource]:
        """The serial ports among the resources an acquired place holds, as they stand."""
        found = []
        p = self.session.places.get(place)
        for path in (p.acquired_resources if p is not None else []):
            exporter, group, cls, name = path
            if cls not in SERIAL_CLASSES:
                continue
            entry = self.session.resources.get(exporter, {}).get(group, {}).get(name)
            if entry is None or not entry.data.get("cls"):
                continue
            found.append(SerialResource("/".join(path), entry.cls, name, dict(entry.params), bool(entry.avail)))
        return found

    def wait_serial(self, place: str, resource: str | None, timeout: float) -> SerialResource:
        """The place's serial resource (the one named `resource`, else its only one) once the
        exporter says it is available with a port: an exporter's RawSerialPort gets its
        ser2net port only when the place is acquired."""
        deadline = time.monotonic() + timeout
        while True:
            self.sync()
            ports = self.serial_resources(place)
            if resource is not None:
                ports = [r for r in ports if r.name == resource]
            if not ports:
                what = f"serial resource named {resource!r}" if resource else "serial resource"
                raise UnreachableError(f"place {place}: has no {what} ({' or '.join(SERIAL_CLASSES)}) "
                                       "among the resources it matched")
            if len(ports) > 1:
                raise UsageError("--resource", f"place {place} has {len(ports)} serial resources "
                                 f"({', '.join(r.name for r in ports)}): name one")
            port = ports[0]
            if port.avail and port.params.get("port"):
                return port
            if time.monotonic() >= deadline:
                raise UnreachableError(f"place {place}: serial resource {port.path} is not available "
                                       f"(no port after {timeout:g} s; is its exporter running?)")
            time.sleep(0.2)
