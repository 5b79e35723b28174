"""Find the guest's error sources in its own memory: RSDP -> XSDT -> HEST -> GHESv2 entries
-> each Error Status Address register -> the block it points to, and each Read Ack register.

Guest RAM is QEMU's memory-backend-file: guest physical address PA is at file offset
PA - ram_base (0x40000000 on virt). The RSDP's address comes from the kernel's boot line
`ACPI: RSDP 0x…` when the console log has it (the copy the kernel used); without it, RAM is
scanned for the "RSD PTR " signature (data extents only: SEEK_DATA skips never-touched
pages). Every table is checksummed (RSDP 20-byte and extended, XSDT, HEST); a bad checksum
is an error, never a guess. When several RSDP copies are valid (edk2 leaves QEMU's
fw_cfg copies in freed memory), they must lead to the same HEST bytes, else discovery
refuses and says so.

The HEST itself is parsed by fwemu.hest (the parser `fwemu hest` uses), and the board is
built with its board_from_hest(): one parser for imported tables and for live guests.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..board import Board, board_from_dict
from ..errors import UnreachableError

if TYPE_CHECKING:       # for annotations only: parse_hest_table is where discovery uses fwemu.hest
    from ..hest import HestTable

RSDP_SIG = b"RSD PTR "
HEADER = struct.Struct("<4sIBB6s8sI4sI")    # ACPI table header, 36 bytes
PAGE = 0x1000


class DiscoveryError(UnreachableError):
    """The guest's ACPI tables could not be found or do not check out."""


def parse_hest_table(data: bytes) -> HestTable:
    """The one HEST parser (fwemu.hest); kept behind this call so discovery has a single
    place that depends on it."""
    from ..hest import parse_hest
    return parse_hest(data)


class GuestRam:
    """Read-only view of guest RAM through the memory-backend-file."""

    def __init__(self, path: str, base: int, size: int):
        self.path, self.base = path, base
        try:
            self.fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise DiscoveryError(f"guest RAM file {path}: {exc.strerror}") from None
        self.size = min(size, os.fstat(self.fd).st_size)
        self.mm = mmap.mmap(self.fd, self.size, prot=mmap.PROT_READ)

    def close(self) -> None:
        self.mm.close()
        os.close(self.fd)

    def __enter__(self) -> GuestRam:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def contains(self, pa: int, n: int) -> bool:
        return self.base <= pa and pa + n <= self.base + self.size

    def read(self, pa: int, n: int) -> bytes:
        if not self.contains(pa, n):
            raise DiscoveryError(f"{pa:#x} +{n:#x} is outside guest RAM "
                                 f"({self.base:#x} .. {self.base + self.size - 1:#x})")
        off = pa - self.base
        return self.mm[off:off + n]

    def u64(self, pa: int) -> int:
        value: int = struct.unpack("<Q", self.read(pa, 8))[0]
        return value

    def data_extents(self) -> Iterator[tuple[int, int]]:
        """(start, end) file offsets holding data (tmpfs holes are never-touched RAM)."""
        off = 0
        while off < self.size:
            try:
                start = os.lseek(self.fd, off, os.SEEK_DATA)
            except OSError:          # ENXIO: no data after off
                return
            end = os.lseek(self.fd, start, os.SEEK_HOLE)
            yield start, min(end, self.size)
            off = end

    def find_all(self, needle: bytes) -> Iterator[int]:
        for start, end in self.data_extents():
            pos = self.mm.find(needle, start, end)
            while pos != -1:
                yield self.base + pos
                pos = self.mm.find(needle, pos + 1, end)


def _sum8(b: bytes) -> int:
    return sum(b) & 0xFF


@dataclass
class Table:
    signature: str
    address: int
    data: bytes
    oem_id: str
    oem_table_id: str

    @property
    def length(self) -> int:
        return len(self.data)


def read_table(ram: GuestRam, pa: int, signature: str | None = None) -> Table:
    head = ram.read(pa, HEADER.size)
    sig, length, _rev, _cs, oem, oem_tid, *_ = HEADER.unpack(head)
    name = sig.decode("latin-1")
    if signature and name != signature:
        raise DiscoveryError(f"table at {pa:#x}: signature {name!r}, expected {signature!r}")
    if not HEADER.size <= length <= 1 << 20:
        raise DiscoveryError(f"{name} at {pa:#x}: implausible length {length}")
    data = ram.read(pa, length)
    if _sum8(data):
        raise DiscoveryError(f"{name} at {pa:#x}: checksum does not hold (bytes sum to "
                             f"{_sum8(data):#04x}, not 0)")
    return Table(name, pa, data, oem.decode("latin-1").strip(), oem_tid.decode("latin-1").strip())


@dataclass
class Rsdp:
    address: int
    revision: int
    oem_id: str
    xsdt: int


def check_rsdp(ram: GuestRam, pa: int) -> Rsdp:
    raw = ram.read(pa, 36)
    if raw[:8] != RSDP_SIG:
        raise DiscoveryError(f"no RSDP signature at {pa:#x}")
    if _sum8(raw[:20]):
        raise DiscoveryError(f"RSDP at {pa:#x}: checksum (first 20 bytes) does not hold")
    revision = raw[15]
    if revision < 2:
        raise DiscoveryError(f"RSDP at {pa:#x}: revision {revision} has no XSDT")
    length, xsdt = struct.unpack_from("<IQ", raw, 20)
    if length < 36 or _sum8(ram.read(pa, length)):
        raise DiscoveryError(f"RSDP at {pa:#x}: extended checksum does not hold")
    return Rsdp(pa, revision, raw[9:15].decode("latin-1").strip(), xsdt)


def walk_xsdt(ram: GuestRam, rsdp: Rsdp) -> tuple[Table, dict[str, int]]:
    xsdt = read_table(ram, rsdp.xsdt, "XSDT")
    body = xsdt.data[HEADER.size:]
    tables: dict[str, int] = {}
    for (addr,) in struct.iter_unpack("<Q", body[: len(body) // 8 * 8]):
        if ram.contains(addr, 4):
            tables.setdefault(ram.read(addr, 4).decode("latin-1"), addr)
    return xsdt, tables


@dataclass
class SourceInfo:
    """One GHES / GHESv2 entry followed through guest memory."""

    id: int
    type: str
    notify: str
    esa: int
    block: int
    block_length: int
    block_status: int
    read_ack: int | None = None
    read_ack_value: int | None = None
    preserve: int | None = None
    write: int | None = None

    def describe(self) -> str:
        s = (f"source {self.id}: {self.type}, notify {self.notify}, Error Status Address "
             f"{self.esa:#x} -> block {self.block:#x} ({self.block_length} bytes, block_status "
             f"{self.block_status:#x})")
        if self.read_ack is not None:
            s += (f", Read Ack {self.read_ack:#x} = {self.read_ack_value:#x} (preserve "
                  f"{self.preserve:#x}, write {self.write:#x})")
        return s


@dataclass
class Discovery:
    rsdp: Rsdp
    how: str                   # how the RSDP was found
    xsdt: Table
    hest: Table
    table: HestTable
    sources: list[SourceInfo]
    kernel_hest: int | None    # the HEST address the kernel logged, if it did
    notes: list[str] = field(default_factory=list)

    @property
    def blocks(self) -> dict[int, int]:
        return {s.id: s.block for s in self.sources}

    def to_dict(self) -> dict[str, Any]:
        return {"rsdp": self.rsdp.address, "rsdp_found_by": self.how, "xsdt": self.xsdt.address,
                "hest": self.hest.address, "hest_length": self.hest.length,
                "hest_oem": f"{self.hest.oem_id} {self.hest.oem_table_id}",
                "kernel_hest": self.kernel_hest,
                "sources": [s.__dict__.copy() for s in self.sources], "notes": self.notes}


def _hest_from(ram: GuestRam, rsdp: Rsdp) -> tuple[Table, Table]:
    xsdt, tables = walk_xsdt(ram, rsdp)
    if "HEST" not in tables:
        raise DiscoveryError(f"the XSDT at {xsdt.address:#x} lists no HEST (tables: "
                             f"{', '.join(sorted(tables)) or 'none'}): was QEMU started with ras=on?")
    return xsdt, read_table(ram, tables["HEST"], "HEST")


def discover(ram: GuestRam, boot_log: str = "") -> Discovery:
    notes: list[str] = []
    m = re.search(r"ACPI: RSDP 0x([0-9A-Fa-f]+)", boot_log)
    hinted = int(m.group(1), 16) if m else None
    mk = re.search(r"ACPI: HEST 0x([0-9A-Fa-f]+)", boot_log)
    kernel_hest = int(mk.group(1), 16) if mk else None

    rsdp: Rsdp | None = None
    how = ""
    if hinted is not None:
        try:
            rsdp = check_rsdp(ram, hinted)
            how = "the kernel's boot line 'ACPI: RSDP', checksums verified"
        except DiscoveryError as exc:
            notes.append(f"the RSDP the kernel logged did not check out ({exc}); scanning RAM")
    if rsdp is None:
        found: dict[str, tuple[Rsdp, Table, Table]] = {}
        bad = 0
        for pa in ram.find_all(RSDP_SIG):
            try:
                cand = check_rsdp(ram, pa)
                xsdt, hest = _hest_from(ram, cand)
            except DiscoveryError:
                bad += 1
                continue
            found.setdefault(hashlib.sha256(hest.data).hexdigest(), (cand, xsdt, hest))
        if not found:
            raise DiscoveryError("no RSDP with valid checksums leading to a HEST in guest RAM"
                                 + (f" ({bad} signature hits did not check out)" if bad else ""))
        if len(found) > 1:
            raise DiscoveryError("guest RAM holds RSDPs leading to different HEST tables at " +
                                 ", ".join(f"{h.address:#x}" for _r, _x, h in found.values()) +
                                 "; the console log has no 'ACPI: RSDP' line to tell which the "
                                 "kernel uses")
        rsdp = next(iter(found.values()))[0]
        how = "a scan of guest RAM for 'RSD PTR ' (checksums verified" + (
            f"; {bad} other hits did not check out)" if bad else ")")
    xsdt, hest = _hest_from(ram, rsdp)
    if kernel_hest is not None and kernel_hest != hest.address:
        notes.append(f"the kernel logged HEST at {kernel_hest:#x}, the XSDT walk found "
                     f"{hest.address:#x} (same bytes expected: a copy)")
    table = parse_hest_table(hest.data)
    sources: list[SourceInfo] = []
    for e in table.entries:
        g = e.ghes
        if g is None:
            notes.append(f"HEST entry {e.index} ({e.type_name}) is not a GHES source: skipped")
            continue
        if g.esa.space_id != 0:
            raise DiscoveryError(f"source {e.source_id}: Error Status Address is in address "
                                 f"space {g.esa.space_id}, not system memory")
        if not ram.contains(g.esa.address, 8):
            raise DiscoveryError(f"source {e.source_id}: Error Status Address register "
                                 f"{g.esa.address:#x} is outside guest RAM")
        block = ram.u64(g.esa.address)
        if not ram.contains(block, max(g.error_block_length, 20)):
            raise DiscoveryError(f"source {e.source_id}: its Error Status Address register "
                                 f"{g.esa.address:#x} points to {block:#x}, outside guest RAM "
                                 "(has the firmware set it up?)")
        info = SourceInfo(id=e.source_id, type="ghesv2" if e.type == 10 else "ghes",
                          notify=g.notify.name, esa=g.esa.address, block=block,
                          block_length=g.error_block_length,
                          block_status=struct.unpack("<I", ram.read(block, 4))[0])
        if g.read_ack is not None:
            if not ram.contains(g.read_ack.address, 8):
                raise DiscoveryError(f"source {e.source_id}: Read Ack register "
                                     f"{g.read_ack.address:#x} is outside guest RAM")
            info.read_ack, info.preserve, info.write = (g.read_ack.address, g.read_ack_preserve,
                                                        g.read_ack_write)
            info.read_ack_value = ram.u64(g.read_ack.address)
        sources.append(info)
    if not sources:
        raise DiscoveryError(f"the HEST at {hest.address:#x} has no GHES / GHESv2 source")
    return Discovery(rsdp, how, xsdt, hest, table, sources, kernel_hest, notes)


def board_for(template: Board, disc: Discovery, ram_file: str, ram_base: int, ram_size: int) -> Board:
    """The template board (qemu-virt.toml) with the discovered sources, and windows covering
    only their registers and blocks, mapped from the RAM file."""
    from ..hest import board_from_hest

    skel = board_from_hest(disc.table, template.name, blocks=disc.blocks, target="qemu",
                           pes=template.pes.count, description=template.description)
    d = dict(skel)
    d["target"] = {"kind": "qemu", "discover": "hest", "url": template.target.url,
                   "notes": template.target.notes}
    d["pes"] = template.pes.to_dict()
    for i, w in enumerate(d["window"]):
        if not (ram_base <= w["base"] and w["base"] + w["size"] <= ram_base + ram_size):
            raise DiscoveryError(f"GHES registers/blocks {w['base']:#x} +{w['size']:#x} are not "
                                 "in guest RAM: fwemu can only reach guest RAM")
        w.update(name=f"ghes{i}", access="local", path=ram_file, offset=w["base"] - ram_base)
    ids = {s["id"]: s for s in d["source"]}
    from ..board import SCENARIO_MIN_BLOCK_LENGTH
    routes: dict[str, int] = {}
    for scenario, sid in template.routes.items():
        if sid in ids and ids[sid]["block_length"] >= SCENARIO_MIN_BLOCK_LENGTH[scenario]:
            routes[scenario] = sid
        else:
            disc.notes.append(f"route {scenario} -> source {sid} dropped: the guest's HEST has "
                              "no such source (or its block is too small)")
    d["routes"] = routes
    disc.notes.extend(getattr(skel, "notes", []))
    return board_from_dict(d, file=f"{template.file} + the guest's HEST")
