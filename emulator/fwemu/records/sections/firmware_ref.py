"""Firmware Error Record Reference (UEFI 2.10 N.2.10), GUID 81212A96-09ED-4996-9471-8D729C8E69ED.

Layout (32 bytes + trailing bytes; no validation bits):

| off | size | field |
|---|---|---|
| 0 | 1 | record type (0 IPF SAL, 1 SOC type 1, 2 SOC type 2) |
| 1 | 1 | revision |
| 2 | 6 | reserved (kept by `reserved`, little endian) |
| 8 | 8 | record identifier |
| 16 | 16 | record identifier GUID (revision 2) |
| 32 | any | trailing bytes: the referenced record, or whatever firmware put there |

Linux: cper_print_fw_err() (drivers/firmware/efi/cper.c) names the type, prints the
revision and the identifier (u64 for revision 0, the GUID for revision 2) and hex-dumps
what follows it. ghes_do_proc() has no branch for it (the C core's fw_os_actions() takes
no action on it).

One of the older kinds: firmware encodes it through the C core (fw_fwref_encode, cper.c);
`encode` here writes the same bytes for records.encode (tests/unit/test_packer.py compares
the two, tests/unit/test_sections_older.py checks the C encoder against FIELDS).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from .. import model as m
from ..kernel_profile import KernelProfile
from ..printk import FW_WARN, get, hexdump, name
from . import _base as b

GUID = uuid.UUID("81212A96-09ED-4996-9471-8D729C8E69ED")
KIND = "firmware-ref"
FIXED = 32
FIELDS = (  # (model field, offset, size): every field is always present
    ("record_type", 0, 1), ("revision", 1, 1), ("record_identifier", 8, 8),
    ("record_identifier_guid", 16, 16))
RESERVED = ((2, 6),)
RESERVED_MAX = (1 << 48) - 1
_STRUCT = struct.Struct("<BB6sQ16s")
assert _STRUCT.size == FIXED

REC_TYPE_STRS = ("IPF SAL Error Record",
                 "SOC Firmware Error Record Type1 (Legacy CrashLog Support)",
                 "SOC Firmware Error Record Type2")


@dataclass
class FirmwareRefSection(m.Section):
    """Firmware error record reference (32 bytes + trailing data)."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    RESERVED_SPANS: ClassVar[tuple[tuple[int, int], ...]] = RESERVED

    record_type: int = 0
    revision: int = 0
    record_identifier: int = 0
    record_identifier_guid: uuid.UUID = uuid.UUID(int=0)
    trailing: bytes = b""
    reserved: int = 0

    def __post_init__(self) -> None:
        m._check_range("record_type", self.record_type, m.U8)
        m._check_range("revision", self.revision, m.U8)
        m._check_range("record_identifier", self.record_identifier, m.U64)
        if not isinstance(self.record_identifier_guid, uuid.UUID):
            self.record_identifier_guid = m.parse_guid("record_identifier_guid", self.record_identifier_guid)
        self.trailing = m._check_bytes("trailing", self.trailing, maximum=m.U16)
        m._check_range("reserved", self.reserved, RESERVED_MAX)

    @property
    def validation_bits(self) -> int:   # the section has none
        return 0


Section = FirmwareRefSection


def encode(s: FirmwareRefSection) -> bytes:
    """The body bytes, as fw_fwref_encode writes them (and the reserved bytes kept)."""
    body = _STRUCT.pack(s.record_type, s.revision, s.reserved.to_bytes(6, "little"),
                        s.record_identifier, s.record_identifier_guid.bytes_le) + s.trailing
    if len(body) > b.MAX_BODY:
        b.too_big(KIND, len(body))
    return body


def decode(body: bytes) -> FirmwareRefSection | None:
    """The typed section (None when the body is shorter than the reference)."""
    if len(body) < FIXED:
        return None
    rtype, rev, res, rid, guid = _STRUCT.unpack_from(body)
    return FirmwareRefSection(record_type=rtype, revision=rev, record_identifier=rid,
                              record_identifier_guid=uuid.UUID(bytes_le=guid),
                              trailing=bytes(body[FIXED:]), reserved=int.from_bytes(res, "little"))


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile, *,
                  severity: int = 0, dimm_names: Mapping[int, tuple[str, str]] | None = None,
                  ) -> list[str]:
    """cper_estatus_print_section() for this GUID (every profile's kernel prints it alike):
    the section_type line, then cper_print_fw_err() once the length holds its 16 bytes.
    `severity`, `dimm_names`: unused (the PCIe and memory printers' arguments)."""
    out = [f"{npfx}section_type: Firmware Error Record Reference"]
    if length < 16:
        return out + [FW_WARN + "error section length is too small"]
    rtype, rev, rid = struct.unpack("<BB6xQ", get(body, 0, 16))
    out += [f"{npfx}Firmware Error Record Type: {name(REC_TYPE_STRS, rtype)}",
            f"{npfx}Revision: {rev}"]
    if rev == 0:
        out.append(f"{npfx}Record Identifier: {rid:08x}")
    elif rev == 2:
        out.append(f"{npfx}Record Identifier: {uuid.UUID(bytes_le=get(body, 16, 16))}")
    skip = 16 if rev == 0 else 8 if rev == 1 else 32
    # The kernel's u32 `length - skip` wraps when length < skip; we print nothing then.
    return out + hexdump(npfx, get(body, skip, length - skip), ascii=True)
