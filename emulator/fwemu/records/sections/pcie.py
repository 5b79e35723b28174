"""PCI Express Error Section (UEFI 2.10 N.2.7), GUID D995E954-BBC1-430F-AD91-B44DCB3C6F35.

Layout (208 bytes; fields sharing a validation bit are set together):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 8 | validation bits | |
| 8 | 4 | port type | 0 |
| 12 | 1 | version minor | 1 |
| 13 | 1 | version major | 1 |
| 14 | 2 | reserved (kept by `reserved`, bits 15:0) | |
| 16 | 2 | command | 2 |
| 18 | 2 | status | 2 |
| 20 | 4 | reserved (`reserved` bits 47:16) | |
| 24 | 16 | device id: vendor @24, device @26, class code u24 @28, function @31, device @32, segment u16 @33, bus @35, secondary bus @36, slot u16 @37 | 3 |
| 39 | 1 | reserved (`reserved` bits 55:48) | |
| 40 | 8 | device serial number | 4 |
| 48 | 2 | bridge secondary status | 5 |
| 50 | 2 | bridge control | 5 |
| 52 | 60 | capability structure | 6 |
| 112 | 96 | AER info | 7 |

Linux: cper_print_pcie() (drivers/firmware/efi/cper.c), alike in every profile.
ghes_do_proc() queues AER recovery for a fatal or recoverable section with AER info (the
C core's fw_os_actions() decides it; the OS model logs what the sim's missing PCI device
leads to).

One of the older kinds: firmware encodes it through the C core (fw_pcie_encode, cper.c);
`encode` here writes the same bytes for records.encode (tests/unit/test_packer.py compares
the two, tests/unit/test_sections_older.py checks the C encoder against FIELDS).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, ClassVar

from .. import model as m
from ..kernel_profile import KernelProfile
from ..printk import FW_WARN, get, name, s32
from ._base import nonzero

GUID = uuid.UUID("D995E954-BBC1-430F-AD91-B44DCB3C6F35")
KIND = "pcie"
FIXED = 208
VALID = (0, 8)
FIELDS = (  # (model field, offset, size, validation bit), in the order the model checks them
    ("port_type", 8, 4, 0), ("version_major", 13, 1, 1), ("version_minor", 12, 1, 1),
    ("command", 16, 2, 2), ("status", 18, 2, 2), ("vendor_id", 24, 2, 3),
    ("device_id", 26, 2, 3), ("class_code", 28, 3, 3), ("function", 31, 1, 3),
    ("device", 32, 1, 3), ("segment", 33, 2, 3), ("bus", 35, 1, 3), ("secondary_bus", 36, 1, 3),
    ("slot", 37, 2, 3), ("serial_number", 40, 8, 4), ("bridge_secondary_status", 48, 2, 5),
    ("bridge_control", 50, 2, 5), ("capability", 52, 60, 6), ("aer_info", 112, 96, 7))
RESERVED = ((14, 2), (20, 4), (39, 1))
BYTES = {"capability": 60, "aer_info": 96}     # the fields that are bytes, and their sizes
# the integer fields and their maxima
LIMITS = {n: (1 << 8 * size) - 1 for n, _off, size, _bit in FIELDS if n not in BYTES}
_LIMITS = tuple((n, mx, n) for n, mx in LIMITS.items())
_groups: dict[int, list[str]] = {}
for _n, _off, _size, _bit in FIELDS:
    _groups.setdefault(_bit, []).append(_n)
GROUPS = tuple((bit, tuple(names)) for bit, names in _groups.items())   # bit -> its fields
_STRUCT = struct.Struct("<QIBB2sHH4sHH3sBBHBBH1sQHH60s96s")
assert _STRUCT.size == FIXED

PORT_TYPE_STRS = (
    "PCIe end point", "legacy PCI end point", "unknown", "unknown", "root port",
    "upstream switch port", "downstream switch port", "PCIe to PCI/PCI-X bridge",
    "PCI/PCI-X to PCIe bridge", "root complex integrated endpoint device",
    "root complex event collector")


@dataclass
class PcieSection(m.Section):
    """PCIe error (208 bytes). Fields sharing a validation bit are set together."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    RESERVED_SPANS: ClassVar[tuple[tuple[int, int], ...]] = RESERVED

    port_type: int | None = None
    version_major: int | None = None
    version_minor: int | None = None
    command: int | None = None
    status: int | None = None
    vendor_id: int | None = None
    device_id: int | None = None
    class_code: int | None = None
    function: int | None = None
    device: int | None = None
    segment: int | None = None
    bus: int | None = None
    secondary_bus: int | None = None
    slot: int | None = None
    serial_number: int | None = None
    bridge_secondary_status: int | None = None
    bridge_control: int | None = None
    capability: bytes | None = None
    aer_info: bytes | None = None
    explicit_validation_bits: int | None = None
    reserved: int = 0

    def __post_init__(self) -> None:
        m._check_opts(self, _LIMITS)
        if self.capability is not None:
            self.capability = m._check_bytes("capability", self.capability, maximum=60).ljust(60, b"\0")
        if self.aer_info is not None:
            self.aer_info = m._check_bytes("aer_info", self.aer_info, maximum=96).ljust(96, b"\0")
        for _bit, names in GROUPS:
            if any(getattr(self, n) is not None for n in names):
                for n in names:
                    if getattr(self, n) is None:
                        setattr(self, n, 0)
        m._common_checks(self, m.U64)

    def derived_validation_bits(self) -> int:
        return sum(1 << bit for bit, names in GROUPS if getattr(self, names[0]) is not None)


Section = PcieSection

# Field values read from the instance dict in one C call (dataclass fields all live there;
# getattr would look each name up on the class first, several times the cost).
_GET = itemgetter(
    "port_type", "version_minor", "version_major", "command", "status", "vendor_id",
    "device_id", "class_code", "function", "device", "segment", "bus", "secondary_bus", "slot",
    "serial_number", "bridge_secondary_status", "bridge_control", "capability", "aer_info",
    "reserved")


def encode(s: PcieSection) -> bytes:
    """The body bytes, as fw_pcie_encode writes them (and the reserved bytes kept)."""
    (pt, vmin, vmaj, cmd, st, ven, did, cc, fn, dev, seg, bus, sbus, slot, sn, bss, bc, cap,
     aer, res) = _GET(s.__dict__)
    return _STRUCT.pack(s.validation_bits, pt or 0, vmin or 0, vmaj or 0,
                        (res & 0xFFFF).to_bytes(2, "little"), cmd or 0, st or 0,
                        (res >> 16 & 0xFFFF_FFFF).to_bytes(4, "little"), ven or 0, did or 0,
                        (cc or 0).to_bytes(3, "little"), fn or 0, dev or 0, seg or 0, bus or 0,
                        sbus or 0, slot or 0, (res >> 48 & 0xFF).to_bytes(1, "little"), sn or 0,
                        bss or 0, bc or 0, cap or b"", aer or b"")


def decode(body: bytes) -> PcieSection | None:
    """The typed section (None unless the body is the section's 208 bytes). A group of
    fields is there when its bit is set or its bytes are not zero (kept, so they encode
    back)."""
    if len(body) != FIXED:
        return None
    (v, pt, vmin, vmaj, r1, cmd, st, r2, ven, did, cc, fn, dev, seg, bus, sbus, slot, r3, sn,
     bss, bc, cap, aer) = _STRUCT.unpack(body)
    values: dict[str, int | bytes] = {
        "port_type": pt, "version_major": vmaj, "version_minor": vmin, "command": cmd,
        "status": st, "vendor_id": ven, "device_id": did,
        "class_code": int.from_bytes(cc, "little"), "function": fn, "device": dev,
        "segment": seg, "bus": bus, "secondary_bus": sbus, "slot": slot, "serial_number": sn,
        "bridge_secondary_status": bss, "bridge_control": bc, "capability": cap, "aer_info": aer}
    fields: dict[str, Any] = {}
    for bit, names in GROUPS:
        there = v >> bit & 1 or any(nonzero(values[n]) for n in names)
        for n in names:
            fields[n] = values[n] if there else None
    sec = PcieSection(**fields, reserved=int.from_bytes(r1 + r2 + r3, "little"))
    if sec.validation_bits != v:
        sec.explicit_validation_bits = v
    return sec


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile, *,
                  severity: int = 0, dimm_names: Mapping[int, tuple[str, str]] | None = None,
                  ) -> list[str]:
    """cper_estatus_print_section() for this GUID: the section_type line, then
    cper_print_pcie() once the length holds the whole section. `severity`: the entry's
    (the AER lines need it); `dimm_names`: unused (the memory printer's)."""
    out = [f"{npfx}section_type: PCIe error"]
    if length < FIXED:
        return out + [FW_WARN + "error section length is too small"]
    vb, port, minor, major, cmd, status = struct.unpack("<QIBB2xHH", get(body, 0, 20))
    vendor, device_id = struct.unpack("<HH", get(body, 24, 4))
    cc = get(body, 28, 3)
    func, dev, seg, bus, sbus, slot = struct.unpack("<BBHBBH", get(body, 31, 8))
    lower, upper, sec_status, control = struct.unpack("<IIHH", get(body, 40, 12))
    if vb & 1:
        out.append(f"{npfx}port_type: {s32(port)}, {name(PORT_TYPE_STRS, port)}")
    if vb & 2:
        out.append(f"{npfx}version: {major}.{minor}")
    if vb & 4:
        out.append(f"{npfx}command: 0x{cmd:04x}, status: 0x{status:04x}")
    if vb & 8:
        out += [f"{npfx}device_id: {seg:04x}:{bus:02x}:{dev:02x}.{func:x}",
                f"{npfx}slot: {slot >> 3}", f"{npfx}secondary_bus: 0x{sbus:02x}",
                f"{npfx}vendor_id: 0x{vendor:04x}, device_id: 0x{device_id:04x}",
                f"{npfx}class_code: {cc[2]:02x}{cc[1]:02x}{cc[0]:02x}"]
    if vb & 0x10:
        out.append(f"{npfx}serial number: 0x{lower:04x}, 0x{upper:04x}")
    if vb & 0x20:
        out.append(f"{npfx}bridge: secondary_status: 0x{sec_status:04x}, control: 0x{control:04x}")
    if vb & 0x80 and severity & 1:  # sic: CPER_SEV_FATAL used as a bit mask
        regs = struct.unpack("<11I", get(body, 112, 44))
        out += [f"{npfx}aer_uncor_status: 0x{regs[1]:08x}, aer_uncor_mask: 0x{regs[2]:08x}",
                f"{npfx}aer_uncor_severity: 0x{regs[3]:08x}",
                f"{npfx}TLP Header: " + " ".join(f"{w:08x}" for w in regs[7:11])]
    return out
