"""A board's typed data: the target, PEs, memory windows, GHES sources and SDEI events.

A Board is built by board_parse.parse_board from a board file (schema in docs/boards.md)
and reached through board.load_board; this module holds only the types and the tables
they are read against, so everything that takes a Board can name it without the parser.

This module is pure stdlib: it must not import fwemu.records (the C core).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .errors import UsageError
from .notification import HEST_TYPES

__all__ = [
    "Board", "Gas", "Pes", "ReadAck", "SdeiEvent", "Source", "TargetSpec", "Window",
    "NOTIFY_TYPES", "SOURCE_TYPES", "SCENARIOS", "SCENARIO_MIN_BLOCK_LENGTH",
]

# HEST Hardware Error Notification types (ACPI 6.x, cper-layouts.md §11): notification.py's table
NOTIFY_TYPES: Mapping[str, int] = HEST_TYPES

# HEST entry types.
SOURCE_TYPES: Mapping[str, int] = MappingProxyType({"ghes": 9, "ghesv2": 10})

GHES_HEADER = 20      # Generic Error Status Block header
GDE_HEADER = 72       # Generic Error Data Entry, revision >= 0x300

# The smallest error_block_length each scenario's record fits in: GESB header + one GDE +
# the section (memory 80, ARM 40 + one 32-byte error info, PCIe 208, generic CPU 192; raw
# is one GDE with an empty payload).
SCENARIO_MIN_BLOCK_LENGTH: Mapping[str, int] = MappingProxyType({
    "memory-ue": GHES_HEADER + GDE_HEADER + 80,
    "memory-ce": GHES_HEADER + GDE_HEADER + 80,
    "memory-fatal": GHES_HEADER + GDE_HEADER + 80,
    "arm-cache-ue": GHES_HEADER + GDE_HEADER + 40 + 32,
    "arm-tlb": GHES_HEADER + GDE_HEADER + 40 + 32,
    "pcie-ue": GHES_HEADER + GDE_HEADER + 208,
    "pcie-ce": GHES_HEADER + GDE_HEADER + 208,
    "generic-cpu": GHES_HEADER + GDE_HEADER + 192,
    "firmware-ref": GHES_HEADER + GDE_HEADER + 32,     # the reference, no trailing bytes
    "raw": GHES_HEADER + GDE_HEADER,
    # records/sections/: CXL protocol 116 + the 88-byte RAS capability error log; CXL
    # component events 144; PCI bus 72; PCI device 40 (no register pairs); IA32/X64 64 +
    # one 64-byte error-information structure; NVIDIA 32 (no registers)
    "cxl-protocol": GHES_HEADER + GDE_HEADER + 116 + 88,
    "cxl-general-media": GHES_HEADER + GDE_HEADER + 144,
    "cxl-dram": GHES_HEADER + GDE_HEADER + 144,
    "cxl-memory-module": GHES_HEADER + GDE_HEADER + 144,
    "pci-bus": GHES_HEADER + GDE_HEADER + 72,
    "pci-device": GHES_HEADER + GDE_HEADER + 40,
    "x86-proc": GHES_HEADER + GDE_HEADER + 64 + 64,
    "nvidia": GHES_HEADER + GDE_HEADER + 32,
    # memory error section 2: 96; Arm RAS node: the 80-byte header + one 72-byte record
    "memory2": GHES_HEADER + GDE_HEADER + 96,
    "arm-ras": GHES_HEADER + GDE_HEADER + 80 + 72,
})
SCENARIOS = tuple(SCENARIO_MIN_BLOCK_LENGTH)


@dataclass(frozen=True)
class Gas:
    """An ACPI Generic Address Structure (HEST ESA or Read Ack register)."""

    address: int
    space_id: int = 0
    bit_width: int = 64
    bit_offset: int = 0
    access_size: int = 4

    @property
    def access_bits(self) -> int:
        """Bits Linux's apei_read/apei_write touch (apei_check_gar, with its BIOS-bug fixup)."""
        bits = 1 << (self.access_size + 2) if 1 <= self.access_size <= 4 else 0
        if self.bit_offset == 0:
            if self.bit_width == 32 and self.address % 4 == 0 and bits < 32:
                bits = 32
            elif self.bit_width == 64 and self.address % 8 == 0 and bits < 64:
                bits = 64
        return bits

    @property
    def access_bytes(self) -> int:
        return self.access_bits // 8


@dataclass(frozen=True)
class ReadAck:
    """GHESv2 Read Ack register: the OS writes `(v & preserve << off) | write << off`."""

    address: int
    preserve: int
    write: int
    bit_offset: int = 0
    width: int = 64
    space_id: int = 0
    access_size: int = 4

    @property
    def gas(self) -> Gas:
        return Gas(self.address, self.space_id, self.width, self.bit_offset, self.access_size)

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "preserve": self.preserve, "write": self.write,
                "bit_offset": self.bit_offset, "width": self.width,
                "space_id": self.space_id, "access_size": self.access_size}


@dataclass(frozen=True)
class TargetSpec:
    kind: str
    url: str | None = None
    discover: str = "board"
    console: str | None = None    # agent: a file the OS console is logged to ({uid} = uid)
    notes: str = ""
    hint: str = ""                # shown when the target cannot be reached (how to bring it up)

    @property
    def console_path(self) -> str | None:
        return self.console.replace("{uid}", str(os.getuid())) if self.console else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "url": self.url, "discover": self.discover, "notes": self.notes}
        if self.hint:
            d["hint"] = self.hint
        if self.console:
            d["console"] = self.console
        return d


@dataclass(frozen=True)
class Pes:
    count: int
    mpidr: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mpidr": list(self.mpidr)}


@dataclass(frozen=True)
class Window:
    """A physical address range fwemu may access: `local` (the host maps `path`, or the
    target provides the mapping) or `remote` (accesses travel to the target agent)."""

    name: str
    base: int
    size: int
    access: str
    path: str | None = None
    offset: int = 0

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.base + self.size

    def contains(self, addr: int, length: int = 1) -> bool:
        return length >= 0 and self.base <= addr and addr + length <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "base": self.base, "size": self.size, "access": self.access,
                "path": self.path, "offset": self.offset}


@dataclass(frozen=True)
class Source:
    """One HEST GHES / GHESv2 entry plus fwemu's per-source settings (queue_depth)."""

    id: int
    type: str
    notify: str
    esa: int
    block: int
    block_length: int
    poll_interval_ms: int = 0
    vector: int = 0
    enabled: bool = True
    related_source_id: int = 0xFFFF
    records_to_preallocate: int = 1
    max_sections_per_record: int = 1
    max_raw_data_length: int = 0
    esa_gas: Gas = field(default_factory=lambda: Gas(0))
    read_ack: ReadAck | None = None
    queue_depth: int = 16

    @property
    def is_v2(self) -> bool:
        return self.type == "ghesv2"

    @property
    def hest_type(self) -> int:
        return SOURCE_TYPES[self.type]

    @property
    def notify_value(self) -> int:
        return NOTIFY_TYPES[self.notify]

    def to_dict(self) -> dict[str, Any]:
        gas = self.esa_gas
        return {
            "id": self.id, "type": self.type, "notify": self.notify,
            "poll_interval_ms": self.poll_interval_ms, "vector": self.vector,
            "enabled": self.enabled, "related_source_id": self.related_source_id,
            "records_to_preallocate": self.records_to_preallocate,
            "max_sections_per_record": self.max_sections_per_record,
            "max_raw_data_length": self.max_raw_data_length,
            "esa": self.esa,
            "esa_gas": {"space_id": gas.space_id, "bit_width": gas.bit_width,
                        "bit_offset": gas.bit_offset, "access_size": gas.access_size},
            "block": self.block, "block_length": self.block_length,
            "read_ack": self.read_ack.to_dict() if self.read_ack else None,
            "queue_depth": self.queue_depth,
        }


@dataclass(frozen=True)
class SdeiEvent:
    number: int
    shared: bool = False
    priority: str = "normal"
    binding: str = "explicit"
    interrupt: int | None = None

    @property
    def critical(self) -> bool:
        return self.priority == "critical"

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "shared": self.shared, "priority": self.priority,
                "binding": self.binding, "interrupt": self.interrupt}


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    target: TargetSpec
    pes: Pes
    windows: tuple[Window, ...]
    sources: tuple[Source, ...]
    sdei_events: tuple[SdeiEvent, ...]
    routes: Mapping[str, int] = field(hash=False)
    file: str = "<dict>"
    shipped: bool = False

    # -- queries ------------------------------------------------------------------------
    def source(self, id: int) -> Source:  # noqa: A002 - the HEST field is called id
        for src in self.sources:
            if src.id == id:
                return src
        known = ", ".join(str(s.id) for s in self.sources) or "none"
        raise UsageError("source", f"board {self.name!r} has no source {id} (sources: {known})")

    def route(self, scenario: str) -> Source:
        """The default source for a scenario."""
        if scenario not in self.routes:
            routed = ", ".join(self.routes) or "none"
            raise UsageError("scenario", f"board {self.name!r} routes no source for "
                             f"{scenario!r} (routed: {routed}); pass a source explicitly")
        return self.source(self.routes[scenario])

    def pick_source(self, scenario: str, source_id: int | None = None, notify: str | None = None) -> Source:
        """The source an injection goes to: the one named, else the first enabled source
        with the notification asked for, else the scenario's route."""
        if source_id is not None:
            src = self.source(source_id)
            if notify and src.notify != notify:
                raise UsageError("--notify", f"source {src.id} is notified by {src.notify}, not {notify}")
            return src
        if notify:
            for src in self.sources:
                if src.notify == notify and src.enabled:
                    return src
            kinds = sorted({s.notify for s in self.sources})
            raise UsageError("--notify", f"board {self.name!r} has no {notify} source "
                             f"(it has: {', '.join(kinds)})")
        return self.route(scenario)

    def sdei_event(self, number: int) -> SdeiEvent | None:
        for ev in self.sdei_events:
            if ev.number == number:
                return ev
        return None

    def window_for(self, addr: int, length: int) -> Window | None:
        """The window holding all of [addr, addr + length), or None."""
        for win in self.windows:
            if win.contains(addr, length):
                return win
        return None

    # -- conversion ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Fully resolved (defaults filled), JSON-safe, and in the board-file schema, so
        `board_from_dict(b.to_dict()) == b` (board_parse.py)."""
        return {
            "name": self.name, "description": self.description,
            "file": self.file, "shipped": self.shipped,
            "target": self.target.to_dict(),
            "pes": self.pes.to_dict(),
            "window": [w.to_dict() for w in self.windows],
            "source": [s.to_dict() for s in self.sources],
            "sdei_event": [e.to_dict() for e in self.sdei_events],
            "routes": dict(self.routes),
        }
