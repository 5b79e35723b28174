"""ACPI HEST: build one from a board, parse any HEST, and turn one back into a board file.

    from fwemu.hest import build_hest, parse_hest, board_from_hest, board_to_toml
    data = build_hest(load_board("rd-n2"), oem_id="ARMLTD")    # bytes, checksum set
    table = parse_hest(data)              # HestTable: header + entries with their offsets
    skel = board_from_hest(table, "my-board")   # dict in the board-file schema (+ .notes)
    board_from_dict(skel); open("b.toml", "w").write(board_to_toml(skel, skel.notes))

Layouts: shared/reference/cper-layouts.md §11 and ACPICA actbl1.h. Types 9 (GHES) and 10
(GHESv2) are decoded fully; the other structure types (IA-32 MCE/CMC/NMI/deferred MC, PCIe
AER root/device/bridge) are sized and decoded, and a board skeleton skips them with a note.
Bad input raises HestError (a UsageError, exit 2) naming the offset and the field; the
checks Linux applies to a well-formed table live in fwemu.hest_lint.

Pure stdlib (struct): the qemu backend's in-guest discovery uses the same parser.
"""

from __future__ import annotations

import json
import re
import struct
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .board import NOTIFY_TYPES, Board, Gas, Source, board_from_dict
from .errors import BoardError, UsageError

__all__ = ["HestError", "HestTable", "HestEntry", "GhesEntry", "Notify", "TYPE_NAMES",
           "build_hest", "parse_hest", "board_from_hest", "board_to_toml"]

HEADER_LEN = 36
ENTRIES_OFFSET = 40
NOTIFY_LEN = 28
GHES_LEN, GHESV2_LEN = 64, 92
BANK_LEN = 28
# the header fields `fwemu hest build` writes unless told otherwise
OEM_ID, OEM_TABLE_ID, OEM_REVISION = "FWEMU", "FWEMUHST", 1
CREATOR_ID, CREATOR_REVISION = "FWEM", 1
DEFAULT_OEM: dict[str, str | int] = {
    "oem_id": OEM_ID, "oem_table_id": OEM_TABLE_ID, "oem_revision": OEM_REVISION,
    "creator_id": CREATOR_ID, "creator_revision": CREATOR_REVISION}
NOTIFY_NAMES = {v: k for k, v in NOTIFY_TYPES.items()}

TYPE_NAMES = {0: "IA-32 MCE", 1: "IA-32 CMC", 2: "IA-32 NMI", 6: "PCIe root port AER",
              7: "PCIe device AER", 8: "PCIe bridge AER", 9: "GHES", 10: "GHESv2",
              11: "IA-32 deferred MC"}
_FIXED_LEN = {2: 20, 6: 48, 7: 44, 8: 56, 9: GHES_LEN, 10: GHESV2_LEN}
_BANKED = {0: (40, 32), 1: (48, 44), 11: (48, 44)}   # type -> (length before banks, nbanks @)

_HDR = struct.Struct("<4sIBB6s8sI4sI")
_GAS = struct.Struct("<BBBBQ")
_NOTIFY = struct.Struct("<BBHIIIIII")
_GHES_HEAD = struct.Struct("<HHHBBIII")
_BANK = struct.Struct("<BBBBIQIII")
_COMMON = struct.Struct("<HHHBBII")           # type, id, reserved1, flags, enabled, prealloc, sections
_BANK_FIELDS = ("bank_number", "clear_status_on_init", "status_format", "reserved",
                "control_register", "control_data", "status_register", "address_register",
                "misc_register")
_NOTIFY_FIELDS = ("type", "length", "config_write_enable", "poll_interval", "vector",
                  "polling_threshold_value", "polling_threshold_window",
                  "error_threshold_value", "error_threshold_window")
_AER_FIELDS = (("bus", "I", 16), ("device", "H", 20), ("function", "H", 22),
               ("device_control", "H", 24), ("reserved2", "H", 26),
               ("uncorrectable_mask", "I", 28), ("uncorrectable_severity", "I", 32),
               ("correctable_mask", "I", 36), ("advanced_capabilities", "I", 40))
_AER_EXTRA = {6: (("root_error_command", "I", 44),),
              8: (("uncorrectable_mask2", "I", 44), ("uncorrectable_severity2", "I", 48),
                  ("advanced_capabilities2", "I", 52))}


class HestError(UsageError):
    """A byte string is not a HEST fwemu can read: `[file: ]offset 0x..: field: reason`."""

    def __init__(self, offset: int | None, field: str, reason: str, file: str | None = None):
        super().__init__(field, reason)
        self.offset, self.file = offset, file

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        at = f"offset {self.offset:#x}: " if self.offset is not None else ""
        return f"{where}{at}{self.field}: {self.reason}"


# --------------------------------------------------------------------------------------
# The model


@dataclass(frozen=True)
class Notify:
    """Hardware Error Notification Structure (28 bytes)."""

    type: int
    length: int = NOTIFY_LEN
    config_write_enable: int = 0
    poll_interval: int = 0
    vector: int = 0
    polling_threshold_value: int = 0
    polling_threshold_window: int = 0
    error_threshold_value: int = 0
    error_threshold_window: int = 0

    @property
    def name(self) -> str:
        return NOTIFY_NAMES.get(self.type, f"reserved-{self.type}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{k: getattr(self, k) for k in _NOTIFY_FIELDS}}


@dataclass(frozen=True)
class GhesEntry:
    """The fields of a type 9 / 10 entry after its 4-byte header."""

    related_source_id: int
    flags: int
    enabled: int
    records_to_preallocate: int
    max_sections_per_record: int
    max_raw_data_length: int
    esa: Gas
    notify: Notify
    error_block_length: int
    read_ack: Gas | None = None
    read_ack_preserve: int | None = None
    read_ack_write: int | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("related_source_id", "flags", "enabled",
                                           "records_to_preallocate", "max_sections_per_record",
                                           "max_raw_data_length")}
        d["error_status_address"] = _gas_dict(self.esa)
        d["notify"] = self.notify.to_dict()
        d["error_block_length"] = self.error_block_length
        if self.read_ack is not None:
            d.update(read_ack_register=_gas_dict(self.read_ack),
                     read_ack_preserve=self.read_ack_preserve, read_ack_write=self.read_ack_write)
        return d


@dataclass(frozen=True)
class HestEntry:
    index: int
    offset: int          # from the start of the table
    type: int
    length: int
    source_id: int
    enabled: int | None  # None for IA-32 NMI, which has no such field
    fields: Mapping[str, Any] = field(default_factory=dict)   # non-GHES types: decoded fields
    ghes: GhesEntry | None = None

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(self.type, f"type {self.type}")

    @property
    def label(self) -> str:
        return f"entry[{self.index}] ({self.type_name}, source {self.source_id})"

    def to_dict(self) -> dict[str, Any]:
        d = {"index": self.index, "offset": self.offset, "type": self.type,
             "type_name": self.type_name, "length": self.length, "source_id": self.source_id,
             "enabled": self.enabled}
        d.update(self.ghes.to_dict() if self.ghes else self.fields)
        return d


@dataclass(frozen=True)
class HestTable:
    signature: str
    length: int
    revision: int
    checksum: int
    oem_id: str
    oem_table_id: str
    oem_revision: int
    creator_id: str
    creator_revision: int
    error_source_count: int
    entries: tuple[HestEntry, ...]
    data_size: int        # bytes given to the parser (> length: trailing bytes)
    byte_sum: int         # sum of the table's `length` bytes mod 256 (0 when the checksum holds)

    @property
    def checksum_ok(self) -> bool:
        return self.byte_sum == 0

    @property
    def expected_checksum(self) -> int:
        return (self.checksum - self.byte_sum) & 0xFF

    def header_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "signature", "length", "revision", "checksum", "oem_id", "oem_table_id",
            "oem_revision", "creator_id", "creator_revision", "error_source_count")} | {
            "checksum_ok": self.checksum_ok, "data_size": self.data_size}

    def to_dict(self) -> dict[str, Any]:
        return {"header": self.header_dict(), "entries": [e.to_dict() for e in self.entries]}


def _gas_dict(g: Gas) -> dict[str, int]:
    return {"space_id": g.space_id, "bit_width": g.bit_width, "bit_offset": g.bit_offset,
            "access_size": g.access_size, "address": g.address}


# --------------------------------------------------------------------------------------
# Build


def _ascii(value: str | bytes, size: int, opt: str) -> bytes:
    raw = value.encode("latin-1", "replace") if isinstance(value, str) else bytes(value)
    if len(raw) > size or any(not 0x20 <= c < 0x7F for c in raw):
        raise UsageError(opt, f"{value!r}: at most {size} printable ASCII characters")
    return raw.ljust(size, b" ")


def _u(value: int, bits: int, opt: str) -> int:
    if not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise UsageError(opt, f"{value!r} is out of range (0 .. {(1 << bits) - 1:#x})")
    return value


def _pack_gas(g: Gas) -> bytes:
    return _GAS.pack(g.space_id, g.bit_width, g.bit_offset, g.access_size, g.address)


def _pack_source(src: Source) -> bytes:
    head = _GHES_HEAD.pack(src.hest_type, src.id, src.related_source_id, 0, int(src.enabled),
                           src.records_to_preallocate, src.max_sections_per_record,
                           src.max_raw_data_length)
    notify = _NOTIFY.pack(src.notify_value, NOTIFY_LEN, 0, src.poll_interval_ms, src.vector,
                          0, 0, 0, 0)
    out = head + _pack_gas(src.esa_gas) + notify + struct.pack("<I", src.block_length)
    if src.is_v2:
        ra = src.read_ack
        assert ra is not None       # a board's GHESv2 source has one (load_board checks)
        out += _pack_gas(ra.gas) + struct.pack("<QQ", ra.preserve, ra.write)
    return out


def build_hest(board: Board, *, oem_id: str = OEM_ID, oem_table_id: str = OEM_TABLE_ID,
               oem_revision: int = OEM_REVISION, creator_id: str = CREATOR_ID,
               creator_revision: int = CREATOR_REVISION, revision: int = 1) -> bytes:
    """The HEST a board's OS boots with: one GHES / GHESv2 entry per source, in board order."""
    body = b"".join(_pack_source(s) for s in board.sources)
    length = ENTRIES_OFFSET + len(body)
    head = _HDR.pack(b"HEST", length, _u(revision, 8, "--revision"), 0,
                     _ascii(oem_id, 6, "--oem-id"), _ascii(oem_table_id, 8, "--oem-table-id"),
                     _u(oem_revision, 32, "--oem-revision"), _ascii(creator_id, 4, "--creator-id"),
                     _u(creator_revision, 32, "--creator-revision"))
    table = bytearray(head + struct.pack("<I", len(board.sources)) + body)
    table[9] = -sum(table) & 0xFF
    return bytes(table)


# --------------------------------------------------------------------------------------
# Parse


def _entry_length(data: bytes, off: int, end: int, i: int, etype: int) -> int:
    rem = end - off
    if etype in _FIXED_LEN:
        size = _FIXED_LEN[etype]
    elif etype in _BANKED:
        fixed, nb_at = _BANKED[etype]
        if rem <= nb_at:
            raise HestError(off, f"entry[{i}]", f"{TYPE_NAMES[etype]} entry truncated: "
                            f"{rem} bytes left before the table's end ({end:#x}), the fixed "
                            f"part is {fixed}")
        size = fixed + BANK_LEN * data[off + nb_at]
        if size > rem:
            raise HestError(off + nb_at, f"entry[{i}].num_hardware_banks",
                            f"{data[off + nb_at]} banks make the {TYPE_NAMES[etype]} entry "
                            f"{size} bytes, only {rem} are left before the table's end "
                            f"({end:#x})")
        return size
    else:
        kind = "reserved" if etype in (3, 4, 5) else "unknown"
        raise HestError(off, f"entry[{i}].type", f"{kind} HEST structure type {etype}: its "
                        "size is unknown, so nothing after it can be read (Linux: \"Unknown "
                        "or unused hardware error source type\", HEST parsing disabled; known: "
                        + ", ".join(f"{t} {n}" for t, n in TYPE_NAMES.items()) + ")")
    if size > rem:
        raise HestError(off, f"entry[{i}]", f"a {TYPE_NAMES[etype]} entry is {size} bytes, "
                        f"only {rem} are left before the table's end ({end:#x})")
    return size


def _notify(data: bytes, off: int) -> Notify:
    return Notify(*_NOTIFY.unpack_from(data, off))


def _gas(data: bytes, off: int) -> Gas:
    space, width, bit_off, access, addr = _GAS.unpack_from(data, off)
    return Gas(addr, space, width, bit_off, access)


def _decode(data: bytes, off: int, i: int, etype: int, length: int) -> HestEntry:
    sid = struct.unpack_from("<H", data, off + 2)[0]
    if etype in (9, 10):
        _, _, related, flags, enabled, prealloc, sections, max_raw = \
            _GHES_HEAD.unpack_from(data, off)
        ra = pres = wr = None
        if etype == 10:
            ra = _gas(data, off + 64)
            pres, wr = struct.unpack_from("<QQ", data, off + 76)
        g = GhesEntry(related, flags, enabled, prealloc, sections, max_raw, _gas(data, off + 20),
                 _notify(data, off + 32), struct.unpack_from("<I", data, off + 60)[0], ra, pres, wr)
        return HestEntry(i, off, etype, length, sid, enabled, {}, g)
    f: dict[str, Any]
    if etype == 2:
        f = dict(zip(("reserved", "records_to_preallocate", "max_sections_per_record",
                      "max_raw_data_length"), struct.unpack_from("<IIII", data, off + 4), strict=True))
        return HestEntry(i, off, etype, length, sid, None, f)
    _, _, reserved1, flags, enabled, prealloc, sections = _COMMON.unpack_from(data, off)
    f = {"reserved1": reserved1, "flags": flags, "enabled": enabled,
         "records_to_preallocate": prealloc, "max_sections_per_record": sections}
    if etype in _BANKED:
        fixed, nb_at = _BANKED[etype]
        if etype == 0:
            f["global_capability_data"], f["global_control_data"] = \
                struct.unpack_from("<QQ", data, off + 16)
        else:
            f["notify"] = _notify(data, off + 16).to_dict()
        f["num_hardware_banks"] = data[off + nb_at]
        f["banks"] = [dict(zip(_BANK_FIELDS, _BANK.unpack_from(data, off + fixed + BANK_LEN * b), strict=True))
                      for b in range(data[off + nb_at])]
    else:
        for name, fmt, at in _AER_FIELDS + _AER_EXTRA.get(etype, ()):
            f[name] = struct.unpack_from("<" + fmt, data, off + at)[0]
    return HestEntry(i, off, etype, length, sid, enabled, f)


def parse_hest(data: bytes) -> HestTable:
    """Parse a HEST. Structure only (lengths, types, sizes); what Linux would refuse in a
    well-formed table is fwemu.hest_lint's business. Bad input: HestError."""
    data = bytes(data)
    if len(data) < HEADER_LEN:
        raise HestError(0, "header", f"truncated: {len(data)} bytes, an ACPI table header is "
                        f"{HEADER_LEN}")
    sig, length, rev, csum, oem, oem_tid, oem_rev, cid, crev = _HDR.unpack_from(data, 0)
    if sig != b"HEST":
        raise HestError(0, "signature", f"{sig.decode('latin-1')!r} is not 'HEST'")
    if length < ENTRIES_OFFSET:
        raise HestError(4, "length", f"{length} is below {ENTRIES_OFFSET} (36-byte header + "
                        "error_source_count)")
    if length > len(data):
        raise HestError(4, "length", f"the header says {length:#x} bytes but only "
                        f"{len(data):#x} are present (truncated table)")
    count = struct.unpack_from("<I", data, HEADER_LEN)[0]
    entries, off, i = [], ENTRIES_OFFSET, 0
    while off < length:
        if length - off < 4:
            raise HestError(off, f"entry[{i}]", f"truncated: {length - off} bytes left before "
                            f"the table's end ({length:#x}), an entry starts with 4 "
                            "(type, source_id)")
        etype = struct.unpack_from("<H", data, off)[0]
        size = _entry_length(data, off, length, i, etype)
        entries.append(_decode(data, off, i, etype, size))
        off, i = off + size, i + 1
    return HestTable(_text(sig), length, rev, csum, _text(oem), _text(oem_tid), oem_rev,
                     _text(cid), crev, count, tuple(entries), len(data), sum(data[:length]) & 0xFF)


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


# --------------------------------------------------------------------------------------
# HEST -> board skeleton

# Where each board source key lives in a GHES entry (so a board error names the byte).
_KEY_OFFSET = {"id": 2, "type": 0, "related_source_id": 4, "enabled": 7,
               "records_to_preallocate": 8, "max_sections_per_record": 12,
               "max_raw_data_length": 16, "esa": 24, "esa_gas.space_id": 20,
               "esa_gas.bit_width": 21, "esa_gas.bit_offset": 22, "esa_gas.access_size": 23,
               "notify": 32, "poll_interval_ms": 36, "vector": 40, "block_length": 60,
               "read_ack.space_id": 64, "read_ack.width": 65, "read_ack.bit_offset": 66,
               "read_ack.access_size": 67, "read_ack.address": 68, "read_ack": 64,
               "read_ack.preserve": 76, "read_ack.write": 84}
PAGE = 0x1000
U64 = (1 << 64) - 1


class BoardSkeleton(dict[str, Any]):
    """A board dict (board-file schema) plus `notes`: what the import skipped or guessed."""

    notes: list[str]


def _source_dict(e: HestEntry) -> dict[str, Any]:
    g = e.ghes
    assert g is not None        # board_from_hest keeps GHES / GHESv2 entries only
    d: dict[str, Any] = {"id": e.source_id, "type": "ghesv2" if e.type == 10 else "ghes",
                         "notify": g.notify.name}
    if g.notify.poll_interval or g.notify.name == "polled":
        d["poll_interval_ms"] = g.notify.poll_interval
    if g.notify.vector or g.notify.name in ("external", "gsiv", "sdei"):
        d["vector"] = g.notify.vector
    if not g.enabled:
        d["enabled"] = False
    if g.related_source_id != 0xFFFF:
        d["related_source_id"] = g.related_source_id
    for key in ("records_to_preallocate", "max_sections_per_record"):
        if getattr(g, key) != 1:
            d[key] = getattr(g, key)
    if g.max_raw_data_length != g.error_block_length:
        d["max_raw_data_length"] = g.max_raw_data_length
    d["esa"] = g.esa.address
    if (g.esa.space_id, g.esa.bit_width, g.esa.bit_offset, g.esa.access_size) != (0, 64, 0, 4):
        d["esa_gas"] = {"space_id": g.esa.space_id, "bit_width": g.esa.bit_width,
                        "bit_offset": g.esa.bit_offset, "access_size": g.esa.access_size}
    d["block"] = None   # placed by board_from_hest
    d["block_length"] = g.error_block_length
    if g.read_ack is not None:
        ra = {"address": g.read_ack.address, "preserve": g.read_ack_preserve,
              "write": g.read_ack_write}
        for key, val, default in (("bit_offset", g.read_ack.bit_offset, 0),
                                  ("width", g.read_ack.bit_width, 64),
                                  ("space_id", g.read_ack.space_id, 0),
                                  ("access_size", g.read_ack.access_size, 4)):
            if val != default:
                ra[key] = val
        d["read_ack"] = ra
    return d


def _registers(src: Mapping[str, Any]) -> list[tuple[int, int]]:
    regs = [(src["esa"], 8)]
    if "read_ack" in src:
        ra = src["read_ack"]
        gas = Gas(ra["address"], ra.get("space_id", 0), ra.get("width", 64),
                  ra.get("bit_offset", 0), ra.get("access_size", 4))
        regs.append((ra["address"], max(gas.access_bytes, 1)))
    return regs


def _place_blocks(sources: list[dict[str, Any]], given: Mapping[int, int]) -> list[str]:
    """Give each source a block address: `given` (id -> address), else right after its ESA
    register (the edk2 / fwemu slice layout), else after everything placed so far (QEMU's
    layout: all registers, then the blocks). Returns a note listing the guesses."""
    used = [r for s in sources for r in _registers(s)]
    for s in sources:
        if s["id"] in given:
            s["block"] = given[s["id"]]
            used.append((s["block"], s["block_length"]))
    placed = []
    for s in sources:
        if s["block"] is not None:
            continue
        length = min(max(s["block_length"], 1), 65536)
        cand = (s["esa"] + 8 + 7) & ~7
        if any(cand < b + n and b < cand + length for b, n in used) or cand + length > U64:
            cand = (max(b + n for b, n in used) + 7) & ~7
        s["block"] = cand
        used.append((cand, length))
        placed.append(f"source {s['id']} at {cand:#x}")
    if not placed:
        return []
    return ["block addresses guessed (the HEST holds only each source's Error Status Address "
            "register; the OS reads the block address from it at run time; override with "
            "--block ID=ADDR): " + ", ".join(placed)]


def _windows(sources: list[dict[str, Any]], access: str) -> list[dict[str, Any]]:
    spans = []
    for s in sources:
        for start, n in _registers(s) + [(s["block"], min(max(s["block_length"], 1), 65536))]:
            if start:
                spans.append([start & ~(PAGE - 1), min((start + n + PAGE - 1) & ~(PAGE - 1),
                                                       U64 + 1)])
    merged: list[list[int]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [{"name": f"hest{i}", "base": lo, "size": hi - lo, "access": access}
            for i, (lo, hi) in enumerate(merged)]


def board_from_hest(table: HestTable, name: str, *, blocks: Mapping[int, int] | None = None,
                    target: str = "sim", url: str | None = None, pes: int = 1,
                    description: str | None = None) -> BoardSkeleton:
    """A board (dict in the board-file schema) for a HEST's GHES / GHESv2 entries, checked
    with board_from_dict; HestError naming the entry, offset and field if it cannot be one."""
    notes: list[str] = []
    kept: list[HestEntry] = []
    for e in table.entries:
        where = f"entry[{e.index}] at {e.offset:#x}"
        if e.ghes is None:
            notes.append(f"{where}: {e.type_name} source {e.source_id} skipped (a board holds "
                         "GHES / GHESv2 sources only)")
            continue
        n = e.ghes.notify
        if n.type not in NOTIFY_NAMES:
            notes.append(f"{where}: source {e.source_id} skipped: notification type {n.type} "
                         f"is not one the board schema knows ({', '.join(NOTIFY_TYPES)})")
            continue
        lost = [f"{k}={getattr(n, k)}" for k in _NOTIFY_FIELDS[2:]
                if k not in ("poll_interval", "vector") and getattr(n, k)]
        lost += [f"notify.length={n.length}"] if n.length != NOTIFY_LEN else []
        lost += [f"flags={e.ghes.flags:#x}"] if e.ghes.flags else []
        if lost:
            notes.append(f"{where}: source {e.source_id}: {', '.join(lost)} dropped (the board "
                         "schema has no field for it; `fwemu hest build` writes 0 / 28)")
        kept.append(e)
    if not kept:
        raise HestError(ENTRIES_OFFSET, "entries", "no GHES / GHESv2 entry a board can hold ("
                        + (f"{len(notes)} skipped: " + "; ".join(notes) if notes else
                           "the table has no entries") + ")")
    sources = [_source_dict(e) for e in kept]
    notes += _place_blocks(sources, dict(blocks or {}))
    events = sorted({s["vector"] for s in sources if s["notify"] == "sdei" and s.get("vector")})
    if events:
        notes.append("SDEI events " + ", ".join(map(str, events)) + " declared with priority "
                     "\"normal\": the HEST does not say; set priority = \"critical\" where the "
                     "firmware's event is critical")
    target_t = {"kind": target} | ({"url": url} if url else {})
    board = BoardSkeleton(
        name=name,
        description=description or f"imported from HEST (OEM {table.oem_id.strip()!r} "
                                   f"{table.oem_table_id.strip()!r} rev {table.oem_revision})",
        target=target_t, pes={"count": pes},
        window=_windows(sources, "remote" if target == "agent" else "local"),
        source=sources, sdei_event=[{"number": v} for v in events], routes={})
    header = {k: getattr(table, k) for k in DEFAULT_OEM}
    if any(str(header[k]).rstrip() != str(v) for k, v in DEFAULT_OEM.items()):
        notes.append("HEST header: rebuild it with `fwemu hest build " + " ".join(
            f"--{k.replace('_', '-')} " + (repr(v.rstrip()) if isinstance(v, str) else str(v))
            for k, v in header.items()) + "`")
    board.notes = notes
    try:
        board_from_dict(dict(board), file=name)
    except BoardError as exc:
        raise _map_board_error(exc, kept) from None
    return board


def _map_board_error(exc: BoardError, kept: list[HestEntry]) -> HestError:
    hint = " (`fwemu hest lint` lists every problem)"
    m = re.match(r"source\[(\d+)\](?:\.(.*))?$", exc.field)
    if not m:
        return HestError(None, exc.field, f"cannot be a board: {exc.reason}{hint}")
    e, key = kept[int(m.group(1))], m.group(2) or "source"
    off = _KEY_OFFSET.get(key, _KEY_OFFSET.get(key.split(".")[0]))
    if key in ("esa", "read_ack.address") and exc.reason.startswith("0 "):
        reason = "the register address is 0 (Linux refuses it too, apei_check_gar)"
    else:
        reason = exc.reason
    return HestError(e.offset + (off or 0), e.label,
                     f"cannot be a board: board key {key}: {reason}{hint}")


# --------------------------------------------------------------------------------------
# A TOML writer for the board-file schema (stdlib reads TOML only)

_HEX_KEYS = {"base", "size", "offset", "esa", "block", "address", "preserve", "write",
             "mpidr", "related_source_id"}
_SKIP_KEYS = {"file", "shipped"}


def _toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def _toml_value(v: Any, key: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return f"{v:#x}" if key in _HEX_KEYS and v > 9 else str(v)
    if isinstance(v, str):
        # a JSON string is a TOML basic string once DEL is escaped too
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x, key) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x, k)}"
                                for k, x in v.items() if x is not None) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _toml_lines(d: Mapping[str, Any]) -> list[str]:
    return [f"{_toml_key(k)} = {_toml_value(v, k)}" for k, v in d.items()
            if v is not None and k not in _SKIP_KEYS]


def board_to_toml(board: Mapping[str, Any], comments: list[str] | tuple[str, ...] = ()) -> str:
    """A board dict (board_from_hest, Board.to_dict) as a board file: plain keys first,
    [tables], then [[arrays]]; addresses in hex; `comments` as a leading # block."""
    out = [f"# {line}" for c in comments for line in textwrap.wrap(str(c), 92)]
    plain = {k: v for k, v in board.items() if not isinstance(v, (Mapping, list))}
    out += _toml_lines(plain)
    for k, v in board.items():
        if isinstance(v, Mapping) and k not in _SKIP_KEYS:
            out += ["", f"[{_toml_key(k)}]"] + _toml_lines(v)
        elif isinstance(v, list):
            for item in v:
                out += ["", f"[[{_toml_key(k)}]]"] + _toml_lines(item)
    return "\n".join(out) + "\n"
