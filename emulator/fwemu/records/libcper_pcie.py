"""libcper's JSON of a PCIe error section (UEFI N.2.7), both ways, as libcper 0.0.4's
cper-section-pcie.c writes and reads it.

libcper writes the capability structure and the AER block as base64 (`data`) beside a
field-by-field breakdown of both (libcper_pcie_regs); the bytes come back from `data`, the
breakdown is a view of them.

What libcper's JSON cannot carry is refused when writing, naming the bytes (pcie_json):
validation bits above 7, a field's bytes without its validation bit, a version byte that
is not BCD (libcper shows 0x1F as 25, which reads back as 0x25), and the reserved bytes
libcper neither shows nor writes back: the version's upper half (14-15), 20-23, the slot
number's bits 2:0 (byte 37) and byte 39; and any bytes past the section's 208.
"""

from __future__ import annotations

import struct

from ..errors import UsageError
from .libcper_base import b64, int_, pair, u, unb64
from .libcper_pcie_regs import aer_json, capability_json

U64 = (1 << 64) - 1
PORT_TYPES = {0: "PCI Express End Point", 1: "Legacy PCI End Point Device", 4: "Root Port",
              5: "Upstream Switch Port", 6: "Downstream Switch Port", 7: "PCI Express to PCI/PCI-X Bridge",
              8: "PCI/PCI-X Bridge to PCI Express Bridge", 9: "Root Complex Integrated Endpoint Device",
              10: "Root Complex Event Collector"}
# each validation bit's bytes (first, end) and what they hold
GROUPS = ((8, 12, "port type"), (12, 14, "version"), (16, 20, "command/status"), (24, 39, "device ID"),
          (40, 48, "serial number"), (48, 52, "bridge control/status"), (52, 112, "capability structure"),
          (112, 208, "AER info"))
# bytes libcper neither writes nor reads back: (first, end, mask of the bits lost, what)
RESERVED = ((14, 16, 0xFF, "the version's reserved upper half"), (20, 24, 0xFF, "reserved"),
            (37, 38, 0x07, "the slot number's reserved bits 2:0"), (39, 40, 0xFF, "reserved"))


def _bcd_value(b: int) -> int:
    return (b >> 4) * 10 + (b & 0xF)


def _uncarried(body: bytes) -> str | None:
    """What of the body libcper's JSON would lose (the first, in byte order), or None."""
    v = u(body, 0, 8)
    if v >> 8:
        return f"validation bits 8-63 (bytes 0-7: {v:#x}); libcper writes the fields of bits 0-7 only"
    problems = []
    for bit, (first, end, what) in enumerate(GROUPS):
        if not v >> bit & 1 and any(body[first:end]):
            problems.append((first, f"bytes {first}-{end - 1} ({what}) without validation bit {bit}; "
                                    "libcper writes a field only under its bit"))
    if v >> 1 & 1:
        for off, what in ((12, "minor"), (13, "major")):
            if body[off] >> 4 > 9 or body[off] & 0xF > 9:
                problems.append((off, f"byte {off} (version {what}) {body[off]:#04x}: not BCD, libcper "
                                      f"shows it as {_bcd_value(body[off])}"))
    for first, end, mask, what in RESERVED:
        if any(b & mask for b in body[first:end]):
            span = f"byte {first}" if end - first == 1 else f"bytes {first}-{end - 1}"
            problems.append((first, f"{span} ({what}); libcper does not write them"))
    if len(body) > 208:
        problems.append((208, f"bytes 208-{len(body) - 1} (past the section's 208; libcper reads 208 only)"))
    return min(problems)[1] if problems else None


def pcie_json(i: int, body: bytes) -> dict:
    """The section as libcper writes it; UsageError naming the bytes it cannot carry."""
    lost = _uncarried(body)
    if lost is not None:
        raise UsageError(f"section {i} (PCIe)", f"libcper's JSON cannot carry {lost}")
    v = u(body, 0, 8)
    out: dict = {}
    if v & 1:
        out["portType"] = pair(u(body, 8, 4), PORT_TYPES, "Unknown")
    if v >> 1 & 1:
        out["version"] = {"minor": _bcd_value(body[12]), "major": _bcd_value(body[13])}
    if v >> 2 & 1:
        out["commandStatus"] = {"commandRegister": u(body, 16, 2), "statusRegister": u(body, 18, 2)}
    if v >> 3 & 1:
        ven, dev_id, cc, fn, dev, seg, bus, sbus, slot = struct.unpack_from("<HH3sBBHBBH", body, 24)
        out["deviceID"] = {"vendorID": ven, "deviceID": dev_id, "deviceIDHex": f"0x{dev_id:X}",
                           "classCode": cc[0] << 16 | cc[1] << 8 | cc[2],    # libcper: ClassCode[0] high
                           "functionNumber": fn, "deviceNumber": dev, "segmentNumber": seg,
                           "primaryOrDeviceBusNumber": bus, "secondaryBusNumber": sbus, "slotNumber": slot >> 3}
    if v >> 4 & 1:
        out["deviceSerialNumber"] = u(body, 40, 8)
    if v >> 5 & 1:
        out["bridgeControlStatus"] = {"secondaryStatusRegister": u(body, 48, 2), "controlRegister": u(body, 50, 2)}
    if v >> 6 & 1:
        out["capabilityStructure"] = {"data": b64(body[52:112]), **capability_json(body[52:112])}
    if v >> 7 & 1:
        out["aerInfo"] = {"data": b64(body[112:208]), **aer_json(body[112:208])}
    return out


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
