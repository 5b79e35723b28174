"""CXL Memory Module Event section (UEFI 2.10 N.2.14; CXL 3.1 Table 8-47),
GUID FE927475-DD59-4339-A586-79BAB113B774. The header and what Linux does with the section
are in _cxl_event.py.

Event data (Linux `struct cxl_event_mem_module`; the health information is the Get Health
Info output, CXL 3.1 Table 8-133):

| off | size | field |
|---|---|---|
| 64 | 1 | device event type (0 health status change, 1 media status change, 2 life used change, 3 temperature change, 4 data path error, 5 LSA error, ...) |
| 65 | 1 | health status |
| 66 | 1 | media status |
| 67 | 1 | additional status |
| 68 | 1 | life used |
| 69 | 2 | device temperature (two's complement, degrees C) |
| 71 | 4 | dirty shutdown count |
| 75 | 4 | corrected volatile error count |
| 79 | 4 | corrected persistent error count |
| 83 | 2 | validity flags |
| 85 | 16 | component id |
| 101 | 1 | event sub-type |
| 102 | 42 | reserved |
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from ..kernel_profile import KernelProfile
from . import _cxl_event as ev
from ._base import F

GUID = uuid.UUID("FE927475-DD59-4339-A586-79BAB113B774")
KIND = "cxl-memory-module"

LAYOUT = ev.layout((
    F("event_type", 64, 1), F("health_status", 65, 1), F("media_status", 66, 1),
    F("add_status", 67, 1), F("life_used", 68, 1), F("device_temp", 69, 2),
    F("dirty_shutdown_count", 71, 4), F("cor_vol_err_count", 75, 4),
    F("cor_per_err_count", 79, 4), F("validity_flags", 83, 2),
    F("component_id", 85, 16, raw=True), F("event_sub_type", 101, 1),
), reserved=((102, 42),))


@dataclass
class CxlMemoryModuleSection(ev.CxlEventSection):
    """CXL memory module event (the PCIe device id of the CPER header is vendor_id .. slot)."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    TITLE: ClassVar[str] = "CXL Memory Module Event"
    EVENT: ClassVar[str] = "memory module"
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
    event_type: int = 0
    health_status: int = 0
    media_status: int = 0
    add_status: int = 0
    life_used: int = 0
    device_temp: int = 0
    dirty_shutdown_count: int = 0
    cor_vol_err_count: int = 0
    cor_per_err_count: int = 0
    validity_flags: int = 0
    component_id: bytes = bytes(16)
    event_sub_type: int = 0
    length: int | None = None
    trailing: bytes = b""
    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def __post_init__(self):
        self._check_common()


Section = CxlMemoryModuleSection


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    return ev.print_section(npfx, body, length, profile)


def ghes_proc(body: bytes, length: int, cper_sev: int, profile: KernelProfile) -> list[str]:
    return ev.ghes_proc(KIND, GUID, Section.EVENT, body, profile)
