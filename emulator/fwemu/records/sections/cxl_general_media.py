"""CXL General Media Event section (UEFI 2.10 N.2.14; CXL 3.1 Table 8-45),
GUID FBCD0A77-C260-417F-85A9-088B1621EBA6. The header and what Linux does with the section
are in _cxl_event.py.

Event data (Linux `struct cxl_event_gen_media`):

| off | size | field |
|---|---|---|
| 64 | 8 | physical address (DPA; bits 2:0 flags: 0 volatile, 1 not repairable) |
| 72 | 1 | memory event descriptor (0 uncorrectable, 1 threshold, 2 poison list overflow) |
| 73 | 1 | memory event type (0 ECC error, 1 invalid address, 2 data path error, ...) |
| 74 | 1 | transaction type (0 unknown, 1 host read, 2 host write, 3 host scan media, 4 host inject poison, 5 internal media scrub, 6 internal media management) |
| 75 | 2 | validity flags (0 channel, 1 rank, 2 device, 3 component id, ...) |
| 77 | 1 | channel |
| 78 | 1 | rank |
| 79 | 3 | device |
| 82 | 16 | component id |
| 98 | 1 | advanced programmable corrected memory error threshold event flags |
| 99 | 3 | corrected memory error count at event |
| 102 | 1 | memory event sub-type |
| 103 | 41 | reserved |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from ..kernel_profile import KernelProfile
from . import _cxl_event as ev
from ._base import F

GUID = uuid.UUID("FBCD0A77-C260-417F-85A9-088B1621EBA6")
KIND = "cxl-general-media"

LAYOUT = ev.layout((
    F("dpa", 64, 8), F("descriptor", 72, 1), F("event_type", 73, 1),
    F("transaction_type", 74, 1), F("validity_flags", 75, 2), F("channel", 77, 1),
    F("rank", 78, 1), F("media_device", 79, 3), F("component_id", 82, 16, raw=True),
    F("cme_threshold_ev_flags", 98, 1), F("cme_count", 99, 3), F("sub_type", 102, 1),
), reserved=((103, 41),))


@dataclass
class CxlGeneralMediaSection(ev.CxlEventSection):
    """CXL general media event. `device`/`function`/`bus`/`segment`/`slot` are the PCIe
    device id of the CPER header (bit 0); the event's own device field is `media_device`."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "CXL General Media Event"
    EVENT: ClassVar[str] = "general media"
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
    media_device: int = 0
    component_id: bytes = bytes(16)
    cme_threshold_ev_flags: int = 0
    cme_count: int = 0
    sub_type: int = 0
    length: int | None = None
    trailing: bytes = b""
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        self._check_common()


Section = CxlGeneralMediaSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return ev.print_section(npfx, body, length, profile)


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return ev.ghes_proc(KIND, GUID, Section.EVENT, body, profile)
