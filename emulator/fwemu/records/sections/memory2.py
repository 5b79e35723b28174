"""Memory Error Section 2 (UEFI 2.10 N.2.6), GUID 61EC04FC-48E6-D813-25C9-8DAA44750B12
(edk2/libcper `EFI_PLATFORM_MEMORY2_ERROR_DATA`).

The successor of the memory error section (N.2.5): wider device/row/column/rank/bit
position and SMBIOS handle fields, a status byte, no `extended` byte.

Layout (96 bytes):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 8 | validation bits | |
| 8 | 8 | error status (UEFI N.2.5 generic error status) | 0 |
| 16 | 8 | physical address | 1 |
| 24 | 8 | physical address mask | 2 |
| 32 | 2 | node | 3 |
| 34 | 2 | card | 4 |
| 36 | 2 | module | 5 |
| 38 | 2 | bank (bits 7:0 bank address, 15:8 bank group when addressed that way) | 6 (bank), 20 (group), 21 (address) |
| 40 | 4 | device | 7 |
| 44 | 4 | row | 8 |
| 48 | 4 | column | 9 |
| 52 | 4 | rank | 10 |
| 56 | 4 | bit position | 11 |
| 60 | 1 | chip identification | 12 |
| 61 | 1 | memory error type (0 unknown, 1 none, 2 single-bit ECC, 3 multi-bit ECC, ... 15 map-out; N.2.5's table) | 13 |
| 62 | 1 | status (bit 0: 0 corrected, 1 uncorrected) | 14 |
| 63 | 1 | reserved | |
| 64 | 8 | requestor id | 15 |
| 72 | 8 | responder id | 16 |
| 80 | 8 | target id | 17 |
| 88 | 4 | card handle (SMBIOS type 16) | 18 |
| 92 | 4 | module handle (SMBIOS type 17) | 19 |

Linux: no version knows the GUID (include/linux/cper.h has no define for it; cper.c and
ghes.c compare section types only with CPER_SEC_PLATFORM_MEM): `section type: unknown,
<guid>` and a hex dump, and ghes_do_proc() takes the non-standard-section path, so a
memory error reported in this section never reaches memory_failure() or EDAC.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar

from ..kernel_profile import KernelProfile
from . import _base as b
from ._base import F
from .memory import check_bank, wire_bank

GUID = uuid.UUID("61EC04FC-48E6-D813-25C9-8DAA44750B12")
KIND = "memory2"
SIZE = 96
BIT_BANK, BIT_BANK_GROUP, BIT_BANK_ADDRESS = 6, 20, 21
STATUS_UNCORRECTED = 0x01

LAYOUT = b.Layout(SIZE, (
    F("error_status", 8, 8, 0), F("physical_address", 16, 8, 1), F("physical_address_mask", 24, 8, 2),
    F("node", 32, 2, 3), F("card", 34, 2, 4), F("module", 36, 2, 5),
    F("bank_word", 38, 2, computed=True),       # bank, or bank group + bank address
    F("device", 40, 4, 7), F("row", 44, 4, 8), F("column", 48, 4, 9), F("rank", 52, 4, 10),
    F("bit_position", 56, 4, 11), F("chip_id", 60, 1, 12), F("error_type", 61, 1, 13),
    F("status", 62, 1, 14), F("requestor_id", 64, 8, 15), F("responder_id", 72, 8, 16),
    F("target_id", 80, 8, 17), F("card_handle", 88, 4, 18), F("module_handle", 92, 4, 19),
), reserved=((63, 1),))


@dataclass
class Memory2Section(b.LayoutSection):
    """Memory error section 2 (96 bytes). `bank` (bit 6) and `bank_group` (bit 20) /
    `bank_address` (bit 21) share the wire bank field (group in bits 15:8, address in
    7:0): given together they must agree, as in the memory error section."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "Memory Error Section 2"
    LAYOUT: ClassVar[b.Layout] = LAYOUT

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
    rank: int | None = None
    bit_position: int | None = None
    chip_id: int | None = None
    error_type: int | None = None
    status: int | None = None
    requestor_id: int | None = None
    responder_id: int | None = None
    target_id: int | None = None
    card_handle: int | None = None
    module_handle: int | None = None
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        for name, maximum in (("bank", 0xFFFF), ("bank_group", 0xFF), ("bank_address", 0xFF)):
            if getattr(self, name) is not None:
                b.check_int(name, getattr(self, name), maximum)
        check_bank(self.bank, self.bank_group, self.bank_address)
        self._check_layout()

    @property
    def bank_word(self) -> int:
        """The wire bank field."""
        return wire_bank(self.bank, self.bank_group, self.bank_address)

    def derived_validation_bits(self) -> int:
        bits = super().derived_validation_bits()
        for name, bit in (("bank", BIT_BANK), ("bank_group", BIT_BANK_GROUP),
                          ("bank_address", BIT_BANK_ADDRESS)):
            if getattr(self, name) is not None:
                bits |= 1 << bit
        return bits

    def _computed(self) -> dict[str, int]:
        return {"bank_word": self.bank_word}

    @classmethod
    def _fields_from(cls, body: bytes) -> tuple[int, dict[str, Any]]:
        valid_bits, kw = super()._fields_from(body)
        word = int.from_bytes(body[38:40], "little")
        whole = valid_bits >> BIT_BANK & 1
        kw["bank"] = word if whole else None
        # without the bank bit each half is kept when its bit is set or its byte is not 0
        # (the model's rule for bytes under a clear bit), so every word re-encodes
        group, address = word >> 8, word & 0xFF
        kw["bank_group"] = group if valid_bits >> BIT_BANK_GROUP & 1 or (group and not whole) else None
        kw["bank_address"] = address if valid_bits >> BIT_BANK_ADDRESS & 1 or (address and not whole) else None
        return valid_bits, kw


Section = Memory2Section


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return None      # no Linux knows the GUID: an unknown section


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return b.non_standard(KIND, GUID)
