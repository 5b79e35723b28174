"""Processor Generic Error Section (UEFI 2.10 N.2.4.1), GUID 9876CCAD-47B4-4BDB-B65E-16F193C4F3DB.

Layout (192 bytes):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 8 | validation bits | |
| 8 | 1 | processor type | 0 |
| 9 | 1 | processor ISA | 1 |
| 10 | 1 | processor error type (bitmap) | 2 |
| 11 | 1 | operation | 3 |
| 12 | 1 | flags | 4 |
| 13 | 1 | level | 5 |
| 14 | 2 | reserved (kept by `reserved`, little endian) | |
| 16 | 8 | CPU version info | 6 |
| 24 | 128 | CPU brand string | 7 |
| 152 | 8 | processor id | 8 |
| 160 | 8 | target address | 9 |
| 168 | 8 | requestor id | 10 |
| 176 | 8 | responder id | 11 |
| 184 | 8 | instruction IP | 12 |

Linux: cper_print_proc_generic() (drivers/firmware/efi/cper.c), alike in every profile;
the brand string is never printed. ghes_do_proc() has no branch for it (the C core's
fw_os_actions() takes no action on it).

One of the older kinds: firmware encodes it through the C core (fw_proc_encode, cper.c);
`encode` here writes the same bytes for records.encode (tests/unit/test_packer.py compares
the two, tests/unit/test_sections_older.py checks the C encoder against FIELDS).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import ClassVar

from .. import model as m
from ..kernel_profile import KernelProfile
from ..printk import FW_WARN, get, name, print_bits

GUID = uuid.UUID("9876CCAD-47B4-4BDB-B65E-16F193C4F3DB")
KIND = "processor-generic"
FIXED = 192
VALID = (0, 8)
FIELDS = (  # (model field, offset, size, validation bit)
    ("proc_type", 8, 1, 0), ("proc_isa", 9, 1, 1), ("proc_error_type", 10, 1, 2),
    ("operation", 11, 1, 3), ("flags", 12, 1, 4), ("level", 13, 1, 5),
    ("cpu_version", 16, 8, 6), ("cpu_brand", 24, 128, 7), ("proc_id", 152, 8, 8),
    ("target_addr", 160, 8, 9), ("requestor_id", 168, 8, 10), ("responder_id", 176, 8, 11),
    ("ip", 184, 8, 12))
BRAND = 128
RESERVED = ((14, 2),)
# the integer fields and their maxima (cpu_brand is bytes)
LIMITS = tuple((n, (1 << 8 * size) - 1) for n, _off, size, _bit in FIELDS if n != "cpu_brand")
_LIMITS = tuple((n, mx, n) for n, mx in LIMITS)
_STRUCT = struct.Struct("<Q6B2sQ128s5Q")
assert _STRUCT.size == FIXED

TYPE_STRS = ("IA32/X64", "IA64", "ARM")
ISA_STRS = ("IA32", "IA64", "X64", "ARM A32/T32", "ARM A64")
ERROR_TYPE_STRS = ("cache error", "TLB error", "bus error", "micro-architectural error")
OP_STRS = ("unknown or generic", "data read", "data write", "instruction execution")
FLAG_STRS = ("restartable", "precise IP", "overflow", "corrected")


@dataclass
class ProcessorGenericSection(m.Section):
    """Processor generic error (192 bytes). `cpu_brand` is up to 128 bytes of text."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    RESERVED_SPANS: ClassVar[tuple[tuple[int, int], ...]] = RESERVED

    proc_type: int | None = None
    proc_isa: int | None = None
    proc_error_type: int | None = None
    operation: int | None = None
    flags: int | None = None
    level: int | None = None
    cpu_version: int | None = None
    cpu_brand: bytes | None = None
    proc_id: int | None = None
    target_addr: int | None = None
    requestor_id: int | None = None
    responder_id: int | None = None
    ip: int | None = None
    explicit_validation_bits: int | None = None
    reserved: int = 0

    def __post_init__(self) -> None:
        m._check_opts(self, _LIMITS)
        if isinstance(self.cpu_brand, str):
            self.cpu_brand = self.cpu_brand.encode()
        if self.cpu_brand is not None:
            self.cpu_brand = m._check_bytes("cpu_brand", self.cpu_brand, maximum=BRAND).ljust(BRAND, b"\0")
        m._common_checks(self, m.U64)

    def derived_validation_bits(self) -> int:
        return sum(1 << bit for n, _off, _size, bit in FIELDS if getattr(self, n) is not None)


Section = ProcessorGenericSection

# Field values read from the instance dict in one C call (dataclass fields all live there;
# getattr would look each name up on the class first, several times the cost).
_GET = itemgetter(*(n for n, *_rest in FIELDS), "reserved")


def encode(s: ProcessorGenericSection) -> bytes:
    """The body bytes, as fw_proc_encode writes them (and the reserved bytes kept)."""
    pt, isa, et, op, fl, lv, ver, brand, pid, ta, req, resp, ip, res = _GET(s.__dict__)
    return _STRUCT.pack(s.validation_bits, pt or 0, isa or 0, et or 0, op or 0, fl or 0, lv or 0,
                        res.to_bytes(2, "little"), ver or 0, brand or b"", pid or 0, ta or 0,
                        req or 0, resp or 0, ip or 0)


def decode(body: bytes) -> ProcessorGenericSection | None:
    """The typed section (None unless the body is the section's 192 bytes). A field is set
    when its bit is, or when its bytes are not zero (kept, so they encode back)."""
    if len(body) != FIXED:
        return None
    valid, *values = _STRUCT.unpack(body)
    res = values.pop(6)                       # the reserved bytes, between level and version
    fields = {n: v if valid >> bit & 1 or (any(v) if n == "cpu_brand" else v) else None
              for (n, _off, _size, bit), v in zip(FIELDS, values, strict=True)}
    sec = ProcessorGenericSection(**fields, reserved=int.from_bytes(res, "little"))
    if sec.validation_bits != valid:
        sec.explicit_validation_bits = valid
    return sec


_U64 = ((0x40, "version_info", 16), (0x100, "processor_id", 152),
        (0x200, "target_address", 160), (0x400, "requestor_id", 168),
        (0x800, "responder_id", 176), (0x1000, "IP", 184))


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile, *,
                  severity: int = 0, dimm_names: Mapping[int, tuple[str, str]] | None = None,
                  ) -> list[str]:
    """cper_estatus_print_section() for this GUID: the section_type line, then
    cper_print_proc_generic() once the length holds the whole section. `severity`,
    `dimm_names`: unused (the PCIe and memory printers' arguments)."""
    out = [f"{npfx}section_type: general processor error"]
    if length < FIXED:
        return out + [FW_WARN + "error section length is too small"]
    vb, ptype, isa, etype, op, flags, level = struct.unpack("<Q6B", get(body, 0, 14))
    if vb & 1:
        out.append(f"{npfx}processor_type: {ptype}, {name(TYPE_STRS, ptype)}")
    if vb & 2:
        out.append(f"{npfx}processor_isa: {isa}, {name(ISA_STRS, isa)}")
    if vb & 4:
        out += [f"{npfx}error_type: 0x{etype:02x}"] + print_bits(npfx, etype, ERROR_TYPE_STRS)
    if vb & 8:
        out.append(f"{npfx}operation: {op}, {name(OP_STRS, op)}")
    if vb & 0x10:
        out += [f"{npfx}flags: 0x{flags:02x}"] + print_bits(npfx, flags, FLAG_STRS)
    if vb & 0x20:
        out.append(f"{npfx}level: {level}")
    for bit, label, off in _U64:  # cpu_brand (bit 7) is never printed
        if vb & bit:
            out.append(f"{npfx}{label}: 0x{int.from_bytes(get(body, off, 8), 'little'):016x}")
    return out
