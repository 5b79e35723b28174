"""A board file's data (a TOML document as a dict) checked field by field into a Board.

Every problem is a BoardError(file, field, reason), printed as
`sim.toml: source[2].block: overlaps source[1].block (0x7c410410 .. 0x7c4107ff)`.
Array entries are numbered from 0 in file order; address ranges are inclusive.

This module is pure stdlib: it must not import fwemu.records (the C core).
"""

from __future__ import annotations

import builtins
import difflib
import re
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Literal, TypeVar, overload

from .board_model import (
    NOTIFY_TYPES, SCENARIO_MIN_BLOCK_LENGTH, SCENARIOS, SOURCE_TYPES, Board, Gas, Pes, ReadAck,
    SdeiEvent, Source, TargetSpec, Window,
)
from .errors import BoardError
from .notification import NEEDS_VECTOR as NOTIFY_NEEDS_VECTOR

__all__ = ["parse_board", "board_from_dict"]

U8, U16, U32, U64 = 0xFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF

BLOCK_LENGTH_MIN = 20        # Linux refuses a shorter error_block_length
BLOCK_LENGTH_MAX = 65536     # and clamps a longer one

TARGET_KINDS = ("sim", "agent", "qemu")
DISCOVER_MODES = ("board", "hest")
WINDOW_ACCESS = ("local", "remote")
SDEI_PRIORITIES = ("normal", "critical")
SDEI_BINDINGS = ("explicit", "interrupt")

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


# --------------------------------------------------------------------------------------
# Parsing: types, ranges, unknown keys


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value:#x})" if value > 9 else f"an integer ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, float):
        return f"a float ({value})"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__


def _hex(v: int) -> str:
    return f"{v:#x}"


def _range(start: int, length: int) -> str:
    return f"{start:#x} .. {start + max(length, 1) - 1:#x}"


class _Required:
    """The default of a key that must be present (None is a default of its own)."""


_REQUIRED = _Required()
_T = TypeVar("_T")


class _Table:
    """One TOML table being read: checks keys up front, types as fields are taken.

    The readers are named after the TOML type they take (t.int, t.str, t.bool), so inside
    this class the builtins are spelled builtins.int and so on."""

    def __init__(self, file: str, path: str, data: object, allowed: tuple[str, ...]):
        self.file, self.path = file, path
        if not isinstance(data, dict):
            raise BoardError(file, path or "board", f"expected a table, got {_describe(data)}")
        # None means "absent" (to_dict writes null for unset optional fields).
        self.data: dict[str, object] = {k: v for k, v in data.items() if v is not None}
        for key in data:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                why = f' (did you mean "{hint[0]}"?)' if hint else \
                    f" (allowed: {', '.join(allowed)})"
                raise BoardError(file, self.field(key), f"unknown key{why}")

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> BoardError:
        return BoardError(self.file, self.field(key), reason)

    def has(self, key: str) -> bool:
        return key in self.data

    def _absent(self, key: str, default: _T | _Required) -> _T:
        """What an absent key reads as: its default, or an error if it has none."""
        if isinstance(default, _Required):
            raise self.error(key, "required")
        return default

    def int(self, key: str, default: _T | _Required = _REQUIRED, lo: int = 0,
            hi: int = U64) -> builtins.int | _T:
        if key not in self.data:
            return self._absent(key, default)
        return _check_int(self, key, self.data[key], lo, hi)

    def bool(self, key: str, default: builtins.bool | _Required = _REQUIRED) -> builtins.bool:
        if key not in self.data:
            return self._absent(key, default)
        value = self.data[key]
        if not isinstance(value, builtins.bool):
            raise self.error(key, f"expected true or false, got {_describe(value)}")
        return value

    def str(self, key: builtins.str, default: _T | _Required = _REQUIRED) -> builtins.str | _T:
        if key not in self.data:
            return self._absent(key, default)
        value = self.data[key]
        if not isinstance(value, builtins.str):
            raise self.error(key, f"expected a string, got {_describe(value)}")
        return value

    def choice(self, key: builtins.str, choices: tuple[builtins.str, ...],
               default: builtins.str | _Required = _REQUIRED) -> builtins.str:
        value = self.str(key, default)
        if value not in choices:
            raise self.error(key, f"{value!r} is not one of {', '.join(choices)}")
        return value

    @overload
    def table(self, key: builtins.str, allowed: tuple[builtins.str, ...],
              required: Literal[True]) -> _Table: ...
    @overload
    def table(self, key: builtins.str, allowed: tuple[builtins.str, ...],
              required: builtins.bool = False) -> _Table | None: ...

    def table(self, key: builtins.str, allowed: tuple[builtins.str, ...],
              required: builtins.bool = False) -> _Table | None:
        if key not in self.data:
            if required:
                raise self.error(key, "required")
            return None
        return _Table(self.file, self.field(key), self.data[key], allowed)

    def tables(self, key: builtins.str) -> list[object]:
        """The [[key]] entries, each a table (read each with _Table)."""
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.error(key, f"expected an array of tables ([[{key}]]), got {_describe(value)}")
        return value


def _check_int(t: _Table, key: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = ""
        if isinstance(value, str) and re.fullmatch(r"\s*(0x[0-9a-fA-F_]+|\d+)\s*", value):
            hint = f" (write {value.strip()} without quotes)"
        raise t.error(key, f"expected an integer, got {_describe(value)}{hint}")
    if not lo <= value <= hi:
        if hi == U64 and value > hi:
            raise t.error(key, f"{_hex(value)} does not fit in 64 bits")
        bound = f"{lo} .. {_hex(hi) if hi in (U8, U16, U32, U64) else hi}"
        raise t.error(key, f"{value} is out of range ({bound})")
    return value


# --------------------------------------------------------------------------------------
# Parsing: the board


_TOP_KEYS = ("name", "description", "target", "pes", "window", "source", "sdei_event", "routes")
_TARGET_KEYS = ("kind", "url", "discover", "console", "notes", "hint")
_PES_KEYS = ("count", "mpidr")
_WINDOW_KEYS = ("name", "base", "size", "access", "path", "offset")
_SOURCE_KEYS = ("id", "type", "notify", "poll_interval_ms", "vector", "enabled",
                "related_source_id", "records_to_preallocate", "max_sections_per_record",
                "max_raw_data_length", "esa", "esa_gas", "block", "block_length", "read_ack",
                "queue_depth")
_GAS_KEYS = ("space_id", "bit_width", "bit_offset", "access_size")
_READ_ACK_KEYS = ("address", "preserve", "write", "bit_offset", "width", "space_id", "access_size")
_SDEI_KEYS = ("number", "shared", "priority", "binding", "interrupt")


def parse_board(data: Mapping[str, object], file: str = "<dict>", shipped: bool = False) -> Board:
    """Validate a decoded board (a TOML document as a dict) and build the Board."""
    top = _Table(file, "", dict(data), _TOP_KEYS)
    name = top.str("name")
    if not _NAME_RE.match(name):
        raise top.error("name", f"{name!r} is not a board name (letters, digits, '.', '_', '-')")
    description = top.str("description", "")

    target = _parse_target(top.table("target", _TARGET_KEYS, required=True))
    pes = _parse_pes(top.table("pes", _PES_KEYS, required=True))
    windows = tuple(_parse_window(_Table(file, f"window[{i}]", w, _WINDOW_KEYS))
                    for i, w in enumerate(top.tables("window")))
    sources = tuple(_parse_source(_Table(file, f"source[{i}]", s, _SOURCE_KEYS))
                    for i, s in enumerate(top.tables("source")))
    events = tuple(_parse_sdei(_Table(file, f"sdei_event[{i}]", e, _SDEI_KEYS))
                   for i, e in enumerate(top.tables("sdei_event")))
    routes_t = top.table("routes", SCENARIOS)
    routes: dict[str, int] = {}
    if routes_t is not None:
        for scenario in SCENARIOS:
            if routes_t.has(scenario):
                routes[scenario] = routes_t.int(scenario, hi=U16)

    if not sources and target.discover != "hest":
        raise top.error("source", 'no [[source]] entries (only a board with target.discover = '
                        '"hest" may leave sources to be read from the target)')

    _check_windows(file, windows)
    _check_sources(file, sources, windows)
    _check_sdei(file, sources, events)
    _check_routes(file, sources, routes, target)

    return Board(name=name, description=description, target=target, pes=pes, windows=windows,
                 sources=sources, sdei_events=events, routes=MappingProxyType(routes),
                 file=file, shipped=shipped)


def board_from_dict(data: Mapping[str, object], file: str | None = None) -> Board:
    """The Board a `Board.to_dict()` describes: `board_from_dict(b.to_dict()) == b`.

    to_dict adds `file` and `shipped`, which a board file may not hold; they are taken
    out here, so parse_board keeps refusing them in a file."""
    rest = dict(data)
    named = rest.pop("file", None)
    shipped = bool(rest.pop("shipped", False))
    return parse_board(rest, file or (str(named) if named else "<dict>"), shipped=shipped)


def _parse_target(t: _Table) -> TargetSpec:
    kind = t.str("kind")
    if kind not in TARGET_KINDS:
        raise t.error("kind", f"unknown target kind {kind!r} (one of {', '.join(TARGET_KINDS)})")
    url = t.str("url", None)
    if kind == "agent" and not url:
        raise t.error("url", 'required for target kind "agent" (a pyserial URL, e.g. '
                      '"socket://127.0.0.1:5002" or "/dev/ttyUSB0")')
    if url is not None and not url:
        raise t.error("url", "empty")
    discover = t.choice("discover", DISCOVER_MODES, "board")
    if discover == "hest" and kind != "qemu":
        raise t.error("discover", f'"hest" needs target kind "qemu" (this is {kind!r})')
    console = t.str("console", None)
    if console is not None and kind != "agent":
        raise t.error("console", f'only an "agent" target reads its OS console from a file (this is {kind!r})')
    if console is not None and not console:
        raise t.error("console", "empty")
    notes = t.str("notes", "")
    hint = t.str("hint", "")
    return TargetSpec(kind=kind, url=url, discover=discover, console=console, notes=notes, hint=hint)


def _parse_pes(t: _Table) -> Pes:
    count = t.int("count", lo=1, hi=65536)
    if t.has("mpidr"):
        raw = t.data["mpidr"]
        if not isinstance(raw, list):
            raise t.error("mpidr", f"expected an array of integers, got {_describe(raw)}")
        if len(raw) != count:
            raise t.error("mpidr", f"has {len(raw)} entries but pes.count is {count}")
        mpidr = tuple(_check_int(t, f"mpidr[{i}]", v, 0, U64) for i, v in enumerate(raw))
        seen: dict[int, int] = {}
        for i, v in enumerate(mpidr):
            if v in seen:
                raise t.error(f"mpidr[{i}]", f"duplicate MPIDR {_hex(v)} (also mpidr[{seen[v]}])")
            seen[v] = i
    else:
        mpidr = tuple(range(count))
    return Pes(count=count, mpidr=mpidr)


def _parse_window(t: _Table) -> Window:
    name = t.str("name")
    base = t.int("base")
    size = t.int("size", lo=1)
    if base + size - 1 > U64:
        raise t.error("size", f"{_hex(base)} + {_hex(size)} runs past the 64-bit address space")
    access = t.choice("access", WINDOW_ACCESS)
    path = t.str("path", None)
    offset = t.int("offset", 0)
    if access == "remote" and (path is not None or offset != 0):
        key = "path" if path is not None else "offset"
        raise t.error(key, 'only a "local" window maps a file (a "remote" window\'s accesses '
                      "travel to the target agent)")
    return Window(name=name, base=base, size=size, access=access, path=path, offset=offset)


def _parse_gas_fields(t: _Table, width_key: str, default_width: int) -> tuple[int, int, int, int]:
    return (t.int("space_id", 0, hi=U8), t.int(width_key, default_width, hi=U8),
            t.int("bit_offset", 0, hi=U8), t.int("access_size", 4, hi=U8))


def _check_gar(t: _Table, gas: Gas, width_key: str) -> None:
    """Linux apei_check_gar, so the OS can map the register (else GHES probe fails)."""
    if gas.space_id != 0:
        raise t.error("space_id", f"{gas.space_id}: fwemu reaches registers through memory "
                      "windows, so only SystemMemory (0) is supported")
    if not 1 <= gas.access_size <= 4:
        raise t.error("access_size", f"{gas.access_size}: Linux requires 1 (byte) .. 4 (qword)")
    if not 1 <= gas.bit_width <= 64:
        raise t.error(width_key, f"{gas.bit_width} is out of range (1 .. 64)")
    if gas.bit_width + gas.bit_offset > gas.access_bits:
        raise t.error(width_key, f"{gas.bit_width} + bit_offset {gas.bit_offset} exceeds the "
                      f"{gas.access_bits}-bit access (Linux apei_check_gar refuses the register)")


def _check_aligned(t: _Table, key: str, gas: Gas) -> None:
    if gas.address % gas.access_bytes:
        raise t.error(key, f"{_hex(gas.address)} is not aligned to its {gas.access_bytes}-byte "
                      "access (an unaligned device access faults on arm64)")


def _parse_source(t: _Table) -> Source:
    sid = t.int("id", hi=U16)
    stype = t.choice("type", tuple(SOURCE_TYPES))
    notify = t.str("notify")
    if notify not in NOTIFY_TYPES:
        raise t.error("notify", f"{notify!r} is not one of {', '.join(NOTIFY_TYPES)}")
    poll = t.int("poll_interval_ms", 0, hi=U32)
    if notify == "polled" and poll == 0:
        raise t.error("poll_interval_ms", 'must be > 0 for notify "polled" (Linux never polls a '
                      "source whose interval is 0)")
    if notify in NOTIFY_NEEDS_VECTOR and not t.has("vector"):
        what = "an SDEI event number" if notify == "sdei" else "a GSI"
        raise t.error("vector", f'required for notify "{notify}" ({what})')
    vector = t.int("vector", 0, hi=U32)
    if notify == "sdei" and vector == 0:
        raise t.error("vector", "SDEI event 0 is reserved for SDEI_EVENT_SIGNAL and is never a "
                      "GHES event (Linux: -EINVAL)")
    enabled = t.bool("enabled", True)
    related = t.int("related_source_id", 0xFFFF, hi=U16)
    prealloc = t.int("records_to_preallocate", 1, hi=U32)
    max_sections = t.int("max_sections_per_record", 1, hi=U32)

    block_length = t.int("block_length", hi=U32)
    if not BLOCK_LENGTH_MIN <= block_length <= BLOCK_LENGTH_MAX:
        raise t.error("block_length", f"{block_length} is outside {BLOCK_LENGTH_MIN} .. "
                      f"{BLOCK_LENGTH_MAX} (Linux refuses < 20 and clamps > 64 KiB)")
    max_raw = t.int("max_raw_data_length", block_length, hi=U32)
    block = t.int("block", lo=1)
    if block + block_length - 1 > U64:
        raise t.error("block_length", "runs past the 64-bit address space")

    esa = t.int("esa", lo=1)
    gas_t = t.table("esa_gas", _GAS_KEYS)
    if gas_t is not None:
        space, width, offset, access = _parse_gas_fields(gas_t, "bit_width", 64)
    else:
        space, width, offset, access = 0, 64, 0, 4
    esa_gas = Gas(esa, space, width, offset, access)
    if gas_t is not None:
        _check_gar(gas_t, esa_gas, "bit_width")
        if esa_gas.bit_width != 64:
            raise gas_t.error("bit_width", f"{esa_gas.bit_width}: the Error Status Address "
                              "register holds a 64-bit physical address")
    _check_aligned(t, "esa", esa_gas)

    read_ack = None
    ra_t = t.table("read_ack", _READ_ACK_KEYS)
    if stype == "ghesv2" and ra_t is None:
        raise t.error("read_ack", 'required for type "ghesv2" (address, preserve, write)')
    if stype == "ghes" and ra_t is not None:
        raise t.error("read_ack", 'only a "ghesv2" source has a Read Ack register')
    if ra_t is not None:
        address = ra_t.int("address", lo=1)
        preserve = ra_t.int("preserve")
        write = ra_t.int("write")
        space, rwidth, roffset, raccess = _parse_gas_fields(ra_t, "width", 64)
        read_ack = ReadAck(address, preserve, write, roffset, rwidth, space, raccess)
        _check_gar(ra_t, read_ack.gas, "width")
        _check_aligned(ra_t, "address", read_ack.gas)
        mask = (1 << rwidth) - 1
        if preserve & mask == mask and write & mask == 0:
            raise ra_t.error("preserve", f"{_hex(preserve)} keeps every bit of the {rwidth}-bit "
                             "register and write sets none: the OS's ack would leave the "
                             "register unchanged, so consumption could never be observed")

    queue_depth = t.int("queue_depth", 16, hi=U32)
    return Source(id=sid, type=stype, notify=notify, esa=esa, block=block,
                  block_length=block_length, poll_interval_ms=poll, vector=vector,
                  enabled=enabled, related_source_id=related, records_to_preallocate=prealloc,
                  max_sections_per_record=max_sections, max_raw_data_length=max_raw,
                  esa_gas=esa_gas, read_ack=read_ack, queue_depth=queue_depth)


def _parse_sdei(t: _Table) -> SdeiEvent:
    number = t.int("number", hi=U32)
    if number == 0:
        raise t.error("number", "SDEI event 0 is the SDEI_EVENT_SIGNAL event every TF-A "
                      "platform defines on a secure SGI; it is never a GHES event, do not "
                      "declare it")
    shared = t.bool("shared", False)
    priority = t.choice("priority", SDEI_PRIORITIES, "normal")
    binding = t.choice("binding", SDEI_BINDINGS, "explicit")
    interrupt = t.int("interrupt", None, hi=U32)
    if binding == "explicit":
        if interrupt is not None:
            raise t.error("interrupt", 'only an event with binding = "interrupt" has one')
        if shared:
            raise t.error("shared", "an explicit event must be private (TF-A: explicit events "
                          "only in the private array; sdei_dispatch_event targets this PE)")
    else:
        if interrupt is None:
            raise t.error("interrupt", 'required for binding = "interrupt"')
        if shared and not (32 <= interrupt <= 1019 or 4096 <= interrupt <= 5119):
            raise t.error("interrupt", f"{interrupt}: a shared event is bound to an SPI "
                          "(32 .. 1019, or extended 4096 .. 5119)")
        if not shared and not (16 <= interrupt <= 31 or 1056 <= interrupt <= 1119):
            raise t.error("interrupt", f"{interrupt}: a private event is bound to a PPI "
                          "(16 .. 31, or extended 1056 .. 1119)")
    return SdeiEvent(number=number, shared=shared, priority=priority, binding=binding,
                     interrupt=interrupt)


# --------------------------------------------------------------------------------------
# Cross-field rules


def _check_windows(file: str, windows: tuple[Window, ...]) -> None:
    for j, win in enumerate(windows):
        for i in range(j):
            other = windows[i]
            if other.name == win.name:
                raise BoardError(file, f"window[{j}].name",
                                 f"duplicate window name {win.name!r} (also window[{i}])")
            if win.base < other.end and other.base < win.end:
                raise BoardError(file, f"window[{j}]",
                                 f"overlaps window[{i}] {other.name!r} "
                                 f"({_range(other.base, other.size)})")


def _regions(src: Source, i: int) -> Iterator[tuple[str, int, int]]:
    yield f"source[{i}].block", src.block, src.block_length
    yield f"source[{i}].esa", src.esa, src.esa_gas.access_bytes
    if src.read_ack is not None:
        yield f"source[{i}].read_ack", src.read_ack.address, src.read_ack.gas.access_bytes


def _check_sources(file: str, sources: tuple[Source, ...], windows: tuple[Window, ...]) -> None:
    ids: dict[int, int] = {}
    for i, src in enumerate(sources):
        if src.id in ids:
            raise BoardError(file, f"source[{i}].id", f"duplicate source id {src.id} (also "
                             f"source[{ids[src.id]}]; Linux then disables every GHES)")
        ids[src.id] = i

    placed: list[tuple[str, int, int]] = []
    for i, src in enumerate(sources):
        for label, start, length in _regions(src, i):
            if not any(w.contains(start, length) for w in windows):
                wins = ", ".join(f"{w.name} {_range(w.base, w.size)}" for w in windows) or "none"
                raise BoardError(file, label, f"{_range(start, length)} is outside every "
                                 f"window (windows: {wins})")
            for olabel, ostart, olength in placed:
                if start < ostart + olength and ostart < start + length:
                    raise BoardError(file, label,
                                     f"overlaps {olabel} ({_range(ostart, olength)})")
            placed.append((label, start, length))


def _check_sdei(file: str, sources: tuple[Source, ...], events: tuple[SdeiEvent, ...]) -> None:
    numbers: dict[int, int] = {}
    for j, ev in enumerate(events):
        if ev.number in numbers:
            raise BoardError(file, f"sdei_event[{j}].number", f"duplicate SDEI event "
                             f"{ev.number} (also sdei_event[{numbers[ev.number]}])")
        numbers[ev.number] = j
    users: dict[int, int] = {}
    for i, src in enumerate(sources):
        if src.notify != "sdei":
            continue
        if src.vector not in numbers:
            declared = ", ".join(str(n) for n in numbers) or "none"
            raise BoardError(file, f"source[{i}].vector", f"SDEI event {src.vector} is not a "
                             f"declared [[sdei_event]] (declared: {declared})")
        if src.vector in users:
            raise BoardError(file, f"source[{i}].vector", f"SDEI event {src.vector} is already "
                             f"used by source[{users[src.vector]}] (one event per GHES; "
                             "Linux: -EBUSY)")
        users[src.vector] = i


def _check_routes(file: str, sources: tuple[Source, ...], routes: dict[str, int], target: TargetSpec) -> None:
    if not sources and target.discover == "hest":
        return  # checked against the guest's HEST at run time
    by_id = {s.id: s for s in sources}
    for scenario, sid in routes.items():
        fld = f"routes.{scenario}"
        if sid not in by_id:
            known = ", ".join(str(k) for k in by_id)
            raise BoardError(file, fld, f"no source with id {sid} (sources: {known})")
        src = by_id[sid]
        need = SCENARIO_MIN_BLOCK_LENGTH[scenario]
        if src.block_length < need:
            raise BoardError(file, fld, f"source {sid} has block_length {src.block_length}, "
                             f"below the {need} bytes a {scenario} record needs")
        if not src.enabled:
            raise BoardError(file, fld, f"source {sid} is disabled (enabled = false): the OS "
                             "never reads it")
