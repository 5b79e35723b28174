"""libcper's JSON of a PCIe error section (UEFI N.2.7), read into bytes.

libcper writes the capability structure and the AER block as base64 (`data`) beside a
field-by-field breakdown of both; the bytes come from `data`, the breakdown is a view of
them. fwemu does not write this JSON yet (the breakdown is libcper's long table of AER
register names): converting a PCIe section to libcper JSON is refused by name.
"""

from __future__ import annotations

import struct

from ..errors import UsageError
from .libcper_base import int_, unb64

U64 = (1 << 64) - 1


def _bcd(v: int, where: str) -> int:
    if not 0 <= v <= 99:
        raise UsageError(where, f"{v} is not a two-digit version number")
    return (v // 10) << 4 | v % 10


def _blob(d, size: int, where: str) -> bytes:
    data = unb64(d.get("data") if isinstance(d, dict) else None, f"{where}.data")
    if len(data) > size:
        raise UsageError(f"{where}.data", f"is {len(data)} bytes; the field holds {size}")
    return data.ljust(size, b"\0")


def _halves(buf: bytearray, off: int, d: dict, key: str, names: tuple[str, str], where: str) -> int:
    """A u32 register pair libcper splits into two u16 members; 1 when `key` is there."""
    if key not in d:
        return 0
    lo, hi = (int_(d[key], n, f"{where}.{key}", 0xFFFF) for n in names)
    struct.pack_into("<HH", buf, off, lo, hi)
    return 1


def pcie_bytes(i: int, d: dict) -> bytes:
    """The 208-byte body; a member present sets its validation bit (libcper's reading)."""
    where = f"sections[{i}].Pcie"
    buf = bytearray(208)
    v = 0
    if "portType" in d:
        struct.pack_into("<I", buf, 8, int_(d["portType"], "value", f"{where}.portType", 0xFFFF_FFFF))
        v |= 1
    if "version" in d:
        ver = d["version"]
        buf[12] = _bcd(int_(ver, "minor", f"{where}.version", 99), f"{where}.version.minor")
        buf[13] = _bcd(int_(ver, "major", f"{where}.version", 99), f"{where}.version.major")
        v |= 2
    v |= _halves(buf, 16, d, "commandStatus", ("commandRegister", "statusRegister"), where) << 2
    if "deviceID" in d:
        w = f"{where}.deviceID"
        dev = d["deviceID"]
        cc = int_(dev, "classCode", w, 0xFFFFFF)
        struct.pack_into("<HH3sBBHBBH", buf, 24, int_(dev, "vendorID", w, 0xFFFF), int_(dev, "deviceID", w, 0xFFFF),
                         bytes((cc >> 16, cc >> 8 & 0xFF, cc & 0xFF)),   # libcper: ClassCode[0] is bits 23:16
                         int_(dev, "functionNumber", w, 0xFF), int_(dev, "deviceNumber", w, 0xFF),
                         int_(dev, "segmentNumber", w, 0xFFFF), int_(dev, "primaryOrDeviceBusNumber", w, 0xFF),
                         int_(dev, "secondaryBusNumber", w, 0xFF), int_(dev, "slotNumber", w, 0x1FFF) << 3)
        v |= 8
    if "deviceSerialNumber" in d:
        struct.pack_into("<Q", buf, 40, int_(d, "deviceSerialNumber", where, U64))
        v |= 16
    v |= _halves(buf, 48, d, "bridgeControlStatus", ("secondaryStatusRegister", "controlRegister"), where) << 5
    if "capabilityStructure" in d:
        buf[52:112] = _blob(d["capabilityStructure"], 60, f"{where}.capabilityStructure")
        v |= 64
    if "aerInfo" in d:
        buf[112:208] = _blob(d["aerInfo"], 96, f"{where}.aerInfo")
        v |= 128
    struct.pack_into("<Q", buf, 0, v)
    return bytes(buf)
