"""Platform Memory Error Section (UEFI 2.10 N.2.5), GUID A5BC1114-6F64-4EDE-B863-3E83ED7C83B1.

Layout (80 bytes):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 8 | validation bits | |
| 8 | 8 | error status | 0 |
| 16 | 8 | physical address | 1 |
| 24 | 8 | physical address mask | 2 |
| 32 | 2 | node | 3 |
| 34 | 2 | card | 4 |
| 36 | 2 | module | 5 |
| 38 | 2 | bank; or bank address @38 and bank group @39 | 6; 20 and 19 |
| 40 | 2 | device | 7 |
| 42 | 2 | row bits 15:0 | 8 |
| 44 | 2 | column | 9 |
| 46 | 2 | bit position | 10 |
| 48 | 8 | requestor id | 11 |
| 56 | 8 | responder id | 12 |
| 64 | 8 | target id | 13 |
| 72 | 1 | memory error type | 14 |
| 73 | 1 | extended: bits 1:0 row bits 17:16, 4:2 reserved (kept by `reserved`), 7:5 chip id | 18 (ROW_EXT), 21 |
| 74 | 2 | rank | 15 |
| 76 | 2 | card (memory array) SMBIOS handle | 16 |
| 78 | 2 | module (memory device) SMBIOS handle | 17 |

Linux: cper_print_mem() (drivers/firmware/efi/cper.c), alike in every profile; it reads the
UEFI 2.1/2.2 73-byte layout too. ghes_do_proc() hands the physical address to
memory_failure (the C core's fw_os_actions() decides it; the OS model does the page work).

One of the older kinds: firmware encodes it through the C core (fw_mem_encode and the
one-call fw_encode_mem_block / fw_batch_mem, cper.c); `encode` here writes the same bytes
for records.encode (tests/unit/test_packer.py compares the two,
tests/unit/test_sections_older.py checks the C encoder against FIELDS).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import ClassVar

from ...errors import UsageError
from .. import model as m
from ..kernel_profile import KernelProfile
from ..printk import FW_WARN, get, name
from ._base import view

GUID = uuid.UUID("A5BC1114-6F64-4EDE-B863-3E83ED7C83B1")
KIND = "memory"
FIXED = 80
UEFI_2_1 = 73        # the UEFI 2.1/2.2 layout's length: up to the error type
VALID = (0, 8)
FIELDS = (  # (model field, offset, size, validation bit): the fields with bytes of their own
    ("error_status", 8, 8, 0), ("physical_address", 16, 8, 1),
    ("physical_address_mask", 24, 8, 2), ("node", 32, 2, 3), ("card", 34, 2, 4),
    ("module", 36, 2, 5), ("bank", 38, 2, 6), ("device", 40, 2, 7), ("row", 42, 2, 8),
    ("column", 44, 2, 9), ("bit_position", 46, 2, 10), ("requestor_id", 48, 8, 11),
    ("responder_id", 56, 8, 12), ("target_id", 64, 8, 13), ("error_type", 72, 1, 14),
    ("rank", 74, 2, 15), ("card_handle", 76, 2, 16), ("module_handle", 78, 2, 17))
# the bank field's two bytes under bits of their own (UEFI 2.3+); the model keeps both forms
PARTS = (("bank_group", 39, 1, 19), ("bank_address", 38, 1, 20))
EXTENDED = 73        # a byte of bit fields: row[17:16], reserved, chip id
PACKED = ((EXTENDED, 1),)
RESERVED: tuple[tuple[int, int], ...] = ()    # the reserved bits are inside EXTENDED
ROW_EXT_BIT = 18
CHIP_ID_BIT = 21
RESERVED_MAX = 7     # extended bits 4:2
# (model field, validation bit, maximum), in the order the model checks them
LIMITS = tuple((n, bit, (1 << 18) - 1 if n == "row" else (1 << 8 * size) - 1)
               for n, _off, size, bit in FIELDS + PARTS) + (("chip_id", CHIP_ID_BIT, 7),)
_LIMITS = tuple((n, mx, n) for n, _bit, mx in LIMITS)
_STRUCT = struct.Struct("<4Q8H3QBBHHH")
assert _STRUCT.size == FIXED

ERR_TYPE_STRS = (
    "unknown", "no error", "single-bit ECC", "multi-bit ECC", "single-symbol chipkill ECC",
    "multi-symbol chipkill ECC", "master abort", "target abort", "parity error",
    "watchdog timeout", "invalid address", "mirror Broken", "memory sparing",
    "scrub corrected error", "scrub uncorrected error", "physical memory map-out event")
ERR_STATUS_STRS = {  # cper_mem_err_status_str(): keyed by error_status bits 15:8
    1: "Error detected internal to the component", 4: "Storage error in DRAM memory",
    5: "Storage error in TLB", 6: "Storage error in cache",
    7: "Error in one or more functional units", 8: "Component failed self test",
    9: "Overflow or undervalue of internal queue", 16: "Error detected in the bus",
    17: "Virtual address not found on IO-TLB or IO-PDIR", 18: "Improper access error",
    19: "Access to a memory address which is not mapped to any component",
    20: "Loss of Lockstep", 21: "Response not associated with a request",
    22: "Bus parity error - must also set the A, C, or D Bits",
    23: "Detection of a protocol error", 24: "Detection of a PATH_ERROR",
    25: "Bus operation timeout", 26: "A read was issued to data that has been poisoned"}


def check_bank(bank: int | None, group: int | None, address: int | None) -> None:
    """`bank` and `bank_group`/`bank_address` share the wire bank field (bank[15:8] group,
    bank[7:0] address): given together they must agree (memory error sections 1 and 2)."""
    if bank is not None and ((group is not None and group != bank >> 8)
                             or (address is not None and address != bank & 0xFF)):
        raise UsageError("bank", f"{bank:#x} disagrees with bank_group/bank_address "
                         "(they share one field: bank[15:8] group, bank[7:0] address)")


def wire_bank(bank: int | None, group: int | None, address: int | None) -> int:
    """The wire bank field: `bank`, or the group and address (absent: 0)."""
    if bank is not None:
        return bank
    return ((group or 0) << 8) | (address or 0)


@dataclass
class MemorySection(m.Section):
    """Platform memory error (80 bytes). `row` may use 18 bits (ROW_EXT: the `extended`
    byte's bits 1:0); `bank` and `bank_group`/`bank_address` share the wire bank field
    (bank[15:8] group, bank[7:0] address): given together they must agree."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    RESERVED_MAX: ClassVar[int] = RESERVED_MAX

    error_status: int | None = None
    physical_address: int | None = None
    physical_address_mask: int | None = None
    node: int | None = None
    card: int | None = None
    module: int | None = None
    bank: int | None = None
    bank_group: int | None = None
    bank_address: int | None = None
    device: int | None = None
    row: int | None = None
    column: int | None = None
    bit_position: int | None = None
    requestor_id: int | None = None
    responder_id: int | None = None
    target_id: int | None = None
    error_type: int | None = None
    rank: int | None = None
    card_handle: int | None = None
    module_handle: int | None = None
    chip_id: int | None = None
    explicit_validation_bits: int | None = None
    reserved: int = 0

    def __post_init__(self) -> None:
        m._check_opts(self, _LIMITS)
        m._common_checks(self, m.U64)
        check_bank(self.bank, self.bank_group, self.bank_address)

    @property
    def bank_word(self) -> int:
        """The wire bank field."""
        return wire_bank(self.bank, self.bank_group, self.bank_address)

    def derived_validation_bits(self) -> int:
        bits = 0
        for n, bit, _max in LIMITS:
            if getattr(self, n) is not None:
                bits |= 1 << bit
        if self.row is not None and self.row > m.U16:
            bits |= 1 << ROW_EXT_BIT
        return bits


Section = MemorySection

# Field values read from the instance dict in one C call (dataclass fields all live there;
# getattr would look each name up on the class first, several times the cost).
_GET = itemgetter(
    "error_status", "physical_address", "physical_address_mask", "node", "card", "module",
    "bank", "bank_group", "bank_address", "device", "row", "column", "bit_position",
    "requestor_id", "responder_id", "target_id", "error_type", "rank", "card_handle",
    "module_handle", "chip_id", "explicit_validation_bits", "reserved")


def encode(s: MemorySection) -> bytes:
    """The body bytes, as fw_mem_encode writes them (and the reserved bits kept)."""
    (es, pa, pam, node, card, module, bank, bg, ba, dev, row, col, bit, req, resp, tgt, et,
     rank, ch, mh, chip, evb, res) = _GET(s.__dict__)
    if evb is None:    # derived_validation_bits(), written out: one pass, no getattr
        evb = ((es is not None) | (pa is not None) << 1 | (pam is not None) << 2
               | (node is not None) << 3 | (card is not None) << 4 | (module is not None) << 5
               | (bank is not None) << 6 | (dev is not None) << 7 | (row is not None) << 8
               | (col is not None) << 9 | (bit is not None) << 10 | (req is not None) << 11
               | (resp is not None) << 12 | (tgt is not None) << 13 | (et is not None) << 14
               | (rank is not None) << 15 | (ch is not None) << 16 | (mh is not None) << 17
               | (row is not None and row > 0xFFFF) << 18 | (bg is not None) << 19
               | (ba is not None) << 20 | (chip is not None) << 21)
    if bank is None:
        bank = (bg or 0) << 8 | (ba or 0)
    row = row or 0
    return _STRUCT.pack(evb, es or 0, pa or 0, pam or 0, node or 0, card or 0, module or 0, bank,
                        dev or 0, row & 0xFFFF, col or 0, bit or 0, req or 0, resp or 0, tgt or 0,
                        et or 0, row >> 16 | res << 2 | (chip or 0) << 5, rank or 0, ch or 0, mh or 0)


def decode(body: bytes) -> MemorySection | None:
    """The typed section (None unless the body is the section's 80 bytes)."""
    if len(body) != FIXED:
        return None
    (v, status, pa, pa_mask, node, card, module, bank, device, row16, column, bit_pos, req, resp,
     tgt, etype, ext, rank, card_handle, module_handle) = _STRUCT.unpack(body)
    if v >> 6 & 1 or not (v >> 19 & 1 or v >> 20 & 1):   # BANK (or no bank bit at all): the word
        bank_fields = {"bank": view(v, 6, bank), "bank_group": (bank >> 8) if v >> 19 & 1 else None,
                       "bank_address": (bank & 0xFF) if v >> 20 & 1 else None}
    else:                                                 # BANK_GROUP / BANK_ADDRESS: the halves
        bank_fields = {"bank": None, "bank_group": view(v, 19, bank >> 8),
                       "bank_address": view(v, 20, bank & 0xFF)}
    row = row16 | (ext & 3) << 16
    sec = MemorySection(
        error_status=view(v, 0, status), physical_address=view(v, 1, pa),
        physical_address_mask=view(v, 2, pa_mask), node=view(v, 3, node),
        card=view(v, 4, card), module=view(v, 5, module), device=view(v, 7, device),
        row=row if v >> 8 & 1 or v >> ROW_EXT_BIT & 1 or row else None,
        column=view(v, 9, column), bit_position=view(v, 10, bit_pos),
        requestor_id=view(v, 11, req), responder_id=view(v, 12, resp),
        target_id=view(v, 13, tgt), error_type=view(v, 14, etype),
        rank=view(v, 15, rank), card_handle=view(v, 16, card_handle),
        module_handle=view(v, 17, module_handle), chip_id=view(v, CHIP_ID_BIT, ext >> 5),
        reserved=ext >> 2 & 7, **bank_fields)
    if sec.validation_bits != v:
        sec.explicit_validation_bits = v
    return sec


# ---- the kernel's wording -----------------------------------------------------------------

_LOCATION = (  # cper_mem_err_location(): (validation mask, format, value)
    (1 << 3, "node:%d ", "node"), (1 << 4, "card:%d ", "card"), (1 << 5, "module:%d ", "module"),
    (1 << 15, "rank:%d ", "rank"), (1 << 6, "bank:%d ", "bank"),
    (1 << 19, "bank_group:%d ", "bank_group"), (1 << 20, "bank_address:%d ", "bank_address"),
    (1 << 7, "device:%d ", "device"), (1 << 8 | 1 << 18, "row:%d ", "row"),
    (1 << 9, "column:%d ", "column"), (1 << 10, "bit_position:%d ", "bit_pos"),
    (1 << 11, "requestor_id:0x%016x ", "req"), (1 << 12, "responder_id:0x%016x ", "resp"),
    (1 << 13, "target_id:0x%016x ", "tgt"), (1 << 21, "chip_id:%d ", "chip_id"))
_KEYS = ("vb", "status", "pa", "pa_mask", "node", "card", "module", "bank", "device", "row",
         "column", "bit_pos", "req", "resp", "tgt", "etype", "ext", "rank", "card_handle",
         "dev_handle")


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile, *,
                  severity: int = 0, dimm_names: Mapping[int, tuple[str, str]] | None = None,
                  ) -> list[str]:
    """cper_estatus_print_section() for this GUID: the section_type line, then
    cper_print_mem() once the length holds the UEFI 2.1 layout. `dimm_names` maps SMBIOS
    type-17 handles to (bank locator, device locator) for the `DIMM location:` line;
    `severity`: unused (the PCIe printer's)."""
    out = [f"{npfx}section_type: memory error"]
    if length < UEFI_2_1:
        return out + [FW_WARN + "error section length is too small"]
    f = dict(zip(_KEYS, _STRUCT.unpack(get(body, 0, FIXED)), strict=True))
    vb = f["vb"]
    f.update(bank_group=f["bank"] >> 8, bank_address=f["bank"] & 0xFF, chip_id=f["ext"] >> 5,
             row=f["row"] | ((f["ext"] & 3) << 16 if vb >> ROW_EXT_BIT & 1 else 0))
    if length == UEFI_2_1 and vb & ~0x7FFF:  # UEFI 2.1/2.2 layout claiming fields it lacks
        return out + [FW_WARN + "valid bits set for fields beyond structure"]
    if vb & 1:
        status = ERR_STATUS_STRS.get(f["status"] >> 8 & 0xFF, "Reserved")
        out.append(f"{npfx} error_status: {status} (0x{f['status']:016x})")  # sic: extra space
    if vb & 2:
        out.append(f"{npfx}physical_address: 0x{f['pa']:016x}")
    if vb & 4:
        out.append(f"{npfx}physical_address_mask: 0x{f['pa_mask']:016x}")
    loc = "".join(fmt % f[key] for mask, fmt, key in _LOCATION if vb & mask)[:255]
    if loc:
        out.append(npfx + loc)
    if vb & 1 << 14:
        out.append(f"{npfx}error_type: {f['etype']}, {name(ERR_TYPE_STRS, f['etype'])}")
    if vb & 1 << 17:
        h = f["dev_handle"]
        names = dimm_names or {}
        if h in names:
            out.append(f"{npfx}DIMM location: {names[h][0]} {names[h][1]} ")
        else:
            out.append(f"{npfx}DIMM location: not present. DMI handle: 0x{h:04x} ")
    return out
