"""CXL DRAM Event section (UEFI 2.10 N.2.14; CXL 3.1 Table 8-46),
GUID 601DCBB3-9C06-4EAB-B8AF-4E9BFB5C9624. The header and what Linux does with the section
are in _cxl_event.py.

Event data (Linux `struct cxl_event_dram`):

| off | size | field |
|---|---|---|
| 64 | 8 | physical address (DPA; bits 2:0 flags) |
| 72 | 1 | memory event descriptor |
| 73 | 1 | memory event type (0 media ECC error, 1 scrub media ECC error, 2 invalid address, 3 data path error, ...) |
| 74 | 1 | transaction type |
| 75 | 2 | validity flags (0 channel, 1 rank, 2 nibble mask, 3 bank group, 4 bank, 5 row, 6 column, 7 correction mask, ...) |
| 77 | 1 | channel |
| 78 | 1 | rank |
| 79 | 3 | nibble mask |
| 82 | 1 | bank group |
| 83 | 1 | bank |
| 84 | 3 | row |
| 87 | 2 | column |
| 89 | 32 | correction mask |
| 121 | 16 | component id |
| 137 | 1 | sub-channel |
| 138 | 1 | advanced programmable corrected memory error threshold event flags |
| 139 | 3 | corrected volatile memory error count at event |
| 142 | 1 | memory event sub-type |
| 143 | 1 | reserved |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from ..kernel_profile import KernelProfile
from . import _cxl_event as ev
from ._base import F

GUID = uuid.UUID("601DCBB3-9C06-4EAB-B8AF-4E9BFB5C9624")
KIND = "cxl-dram"

LAYOUT = ev.layout((
    F("dpa", 64, 8), F("descriptor", 72, 1), F("event_type", 73, 1),
    F("transaction_type", 74, 1), F("validity_flags", 75, 2), F("channel", 77, 1),
    F("rank", 78, 1), F("nibble_mask", 79, 3), F("bank_group", 82, 1), F("bank", 83, 1),
    F("row", 84, 3), F("column", 87, 2), F("correction_mask", 89, 32, raw=True),
    F("component_id", 121, 16, raw=True), F("sub_channel", 137, 1),
    F("cme_threshold_ev_flags", 138, 1), F("cvme_count", 139, 3), F("sub_type", 142, 1),
), reserved=((143, 1),))


@dataclass
class CxlDramSection(ev.CxlEventSection):
    """CXL DRAM event (the PCIe device id of the CPER header is vendor_id .. slot)."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "CXL DRAM Event"
    EVENT: ClassVar[str] = "DRAM"
    LAYOUT: ClassVar = LAYOUT

    vendor_id: int | None = None
    device_id: int | None = None
    segment: int | None = None
    bus: int | None = None
    device: int | None = None
    function: int | None = None
    slot: int | None = None
    serial_number: int | None = None
    record_length: int = ev.DEFAULT_RECORD_LENGTH
    record_flags: int = 0
    handle: int = 0
    related_handle: int = 0
    event_timestamp: int = 0
    maint_op_class: int = 0
    maint_op_subclass: int = 0
    ld_id: int = 0
    head_id: int = 0
    dpa: int = 0
    descriptor: int = 0
    event_type: int = 0
    transaction_type: int = 0
    validity_flags: int = 0
    channel: int = 0
    rank: int = 0
    nibble_mask: int = 0
    bank_group: int = 0
    bank: int = 0
    row: int = 0
    column: int = 0
    correction_mask: bytes = bytes(32)
    component_id: bytes = bytes(16)
    sub_channel: int = 0
    cme_threshold_ev_flags: int = 0
    cvme_count: int = 0
    sub_type: int = 0
    length: int | None = None
    trailing: bytes = b""
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        self._check_common()


Section = CxlDramSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return ev.print_section(npfx, body, length, profile)


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return ev.ghes_proc(KIND, GUID, Section.EVENT, body, profile)
