"""What the three CXL component event sections share (UEFI 2.10 N.2.14 "CXL Component
Events Section"): the CPER header, the CXL common event record header, and what Linux does
with them. The event-specific parts are in cxl_general_media.py, cxl_dram.py and
cxl_memory_module.py (one module per section GUID).

Section layout (144 bytes for the three event kinds; Linux `struct cxl_cper_event_rec`,
edk2 `EFI_CXL_COMPONENT_EVENT_LOG`):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 4 | length of the whole section | |
| 4 | 8 | validation bits | |
| 12 | 12 | device id: vendor @12, device @14, function @16, device @17, bus @18, segment u16 @19, slot u16 @21 (bits 15:3), reserved @23 | 0 |
| 24 | 8 | device serial number | 1 |
| 32 | 112 | the CXL event record without its 16-byte UUID (the UUID is the section GUID) | 2 |

The event record (CXL 3.1 8.2.9.2.1, Linux `struct cxl_event_record_hdr`, include/cxl/event.h):
length u8 @32, flags u24 @33 (bits 1:0 severity: 0 informational, 1 warning, 2 failure,
3 fatal; 2 permanent; 3 maintenance needed; 4 performance degraded; 5 hardware replacement
needed), handle u16 @36, related handle u16 @38, timestamp u64 @40, maintenance operation
class @48, subclass @49, LD-ID u16 @50, head id @52, reserved @53..63, then 80 bytes of
event data @64.

Linux prints none of the three (every version: `section type: unknown, <guid>` and a hex
dump; the v6.8-rc fix that named them, 54ce1927eb78, was reverted by d449acfbdb89 before
v6.8). Since v6.10 (5e4a264bf8b5) ghes_do_proc() hands them to the CXL driver
(`cxl_cper_post_event`); before, they go the non-standard-section way.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from ..kernel_profile import KernelProfile
from ..printk import get
from . import _base as b
from ._base import F

SIZE = 144                 # sizeof(struct cxl_cper_event_rec)
HDR = 32                   # sizeof(rec->hdr)
BIT_DEVICE_ID, BIT_SERIAL, BIT_EVENT_LOG = 0, 1, 2
DEFAULT_RECORD_LENGTH = 0x80    # the CXL event record with its UUID: 128 bytes

HEADER_FIELDS = (
    F("length_field", 0, 4, computed=True),
    F("vendor_id", 12, 2, BIT_DEVICE_ID), F("device_id", 14, 2, BIT_DEVICE_ID),
    F("function", 16, 1, BIT_DEVICE_ID), F("device", 17, 1, BIT_DEVICE_ID),
    F("bus", 18, 1, BIT_DEVICE_ID), F("segment", 19, 2, BIT_DEVICE_ID),
    F("slot", 21, 2, BIT_DEVICE_ID),
    F("serial_number", 24, 8, BIT_SERIAL),
    F("record_length", 32, 1), F("record_flags", 33, 3), F("handle", 36, 2),
    F("related_handle", 38, 2), F("event_timestamp", 40, 8), F("maint_op_class", 48, 1),
    F("maint_op_subclass", 49, 1), F("ld_id", 50, 2), F("head_id", 52, 1),
)
HEADER_RESERVED = ((23, 1), (53, 11))


def layout(specific: tuple[F, ...], reserved: tuple[tuple[int, int], ...]) -> b.Layout:
    return b.Layout(SIZE, HEADER_FIELDS + specific, reserved=HEADER_RESERVED + reserved,
                    valid=(4, 8))


class CxlEventSection(b.LayoutSection):
    """Base of the three CXL event sections (dataclasses). `length`: the section's length
    field when it should not be the section's size (None: the size). `trailing`: bytes
    after the 144."""

    ALWAYS_BITS: ClassVar[int] = 1 << BIT_EVENT_LOG    # the model always carries the record
    EVENT: ClassVar[str]                               # cxl_event_type name, for [sim] lines
    length: int | None
    trailing: bytes

    def _computed(self) -> dict[str, int]:
        return {"length_field": SIZE + len(self.trailing) if self.length is None else self.length}

    def _tail(self) -> bytes:
        return self.trailing

    def _check_common(self) -> None:
        if self.length is not None:
            b.check_int("length", self.length, 0xFFFF_FFFF)
        self.trailing = b.check_bytes("trailing", self.trailing, 0xFFFF)
        self._check_layout()

    @classmethod
    def _decode_tail(cls, tail: bytes, kw: dict) -> bool:
        kw["trailing"] = tail
        return True

    @classmethod
    def decode(cls, body: bytes):
        sec = super().decode(body)
        if sec is not None:
            length = int.from_bytes(body[0:4], "little")
            if length != len(body):
                sec.length = length
        return sec


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile) -> list[str] | None:
    """No kernel prints these sections (None: printed as an unknown section)."""
    return None


def ghes_proc(kind: str, guid: uuid.UUID, event: str, body: bytes,
              profile: KernelProfile) -> list[str]:
    """ghes_do_proc(): since v6.10 `cxl_cper_post_event()` checks the record and queues it
    for the CXL driver (cxl_pci), which the sim does not have (`cxl_cper_work` is NULL:
    dropped without a word); before v6.10 a non-standard section."""
    if not profile.cxl_event_post:
        return b.non_standard(kind, guid)
    length = int.from_bytes(get(body, 0, 4), "little")
    if length <= HDR or length > SIZE:
        return [f"[Firmware Warn]: CXL CPER Invalid section length ({length})"]
    if not int.from_bytes(get(body, 4, 8), "little") >> BIT_EVENT_LOG & 1:
        return ["[Firmware Warn]: CXL CPER invalid event"]
    return [f"[sim] GHES: CXL CPER {event} event for the CXL driver's kfifo: no CXL driver "
            "registered (cxl_cper_work is NULL), dropped"]
