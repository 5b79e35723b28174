"""Section bodies in libcper's JSON (the `sections` list of records/libcper_json.py), one
pair of functions per section kind, as libcper's section decoders write them.

JSON -> bytes reads a field's presence as its validation bit (libcper's own reading), with
one exception where libcper's JSON is ambiguous: a memory bank written as address/group
(libcper writes that form whenever the BANK bit is clear) sets BANK_GROUP/BANK_ADDRESS
only for a value that is not 0, as fwemu's records do.
"""

from __future__ import annotations

import base64
import binascii
import struct
import uuid

from ..errors import UsageError

# libcper's section table: GUID -> (readable name, JSON key); key None: no decoder (base64)
SECTIONS = {uuid.UUID(g): (name, key) for g, name, key in (
    ("9876ccad-47b4-4bdb-b65e-16f193c4f3db", "Processor Generic", "GenericProcessor"),
    ("dc3ea0b0-a144-4797-b95b-53fa242b6e1d", "IA32/X64", "Ia32x64Processor"),
    ("e429faf1-3cb7-11d4-bca7-0080c73c8881", "IPF", None),
    ("e19e3d16-bc11-11e4-9caa-c2051d5d46b0", "ARM", "ArmProcessor"),
    ("a5bc1114-6f64-4ede-b863-3e83ed7c83b1", "Platform Memory", "Memory"),
    ("61ec04fc-48e6-d813-25c9-8daa44750b12", "Platform Memory 2", "Memory2"),
    ("d995e954-bbc1-430f-ad91-b44dcb3c6f35", "PCIe", "Pcie"),
    ("81212a96-09ed-4996-9471-8d729c8e69ed", "Firmware Error Record Reference", "Firmware"),
    ("c5753963-3b84-4095-bf78-eddad3f9c9dd", "PCI/PCI-X Bus", "PciBus"),
    ("eb5e4685-ca66-4769-b6a2-26068b001326", "PCI Component/Device", "PciComponent"),
    ("5b51fef7-c79d-4434-8f1b-aa62de3e2c64", "DMAr Generic", "GenericDmar"),
    ("71761d37-32b2-45cd-a7d0-b0fedd93e8cf", "Intel VT for Directed I/O Specific DMAr", "VtdDmar"),
    ("036f84e1-7f37-428c-a79e-575fdfaa84ec", "IOMMU Specific DMAr", "IommuDmar"),
    ("91335ef6-ebfb-4478-a6a6-88b728cf75d7", "CCIX PER Log Error", "CcixPer"),
    ("80b9efb4-52b5-4de3-a777-68784b771048", "CXL Protocol Error", "CxlProtocol"),
    ("fbcd0a77-c260-417f-85a9-088b1621eba6", "CXL General Media Component Error", "CxlComponent"),
    ("601dcbb3-9c06-4eab-b8af-4e9bfb5c9624", "CXL DRAM Component Error", "CxlComponent"),
    ("fe927475-dd59-4339-a586-79bab113b774", "CXL Memory Module Component Error", "CxlComponent"),
    ("77cf9271-9c02-470b-9fe4-bc7b75f2da97", "CXL Physical Switch Component Error", "CxlComponent"),
    ("40d26425-3396-4c4d-a5da-3d47263af425", "CXL Virtual Switch Component Error", "CxlComponent"),
    ("8dc44363-0c96-4710-b7bf-04bb99534c3f", "CXL MLD Port Component Error", "CxlComponent"),
    ("6d5244f2-2712-11ec-bea7-cb3fdb95c786", "NVIDIA", "Nvidia"),
    ("2826cc9f-448c-4c2b-86b6-a95394b7ef33", "Ampere", "Ampere"),
)}


def _get(d, key: str, where: str):
    if not isinstance(d, dict) or key not in d:
        raise UsageError(f"{where}.{key}", "missing")
    return d[key]


def _int(d, key: str, where: str, maximum: int) -> int:
    v = _get(d, key, where)
    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= maximum:
        raise UsageError(f"{where}.{key}", f"{v!r} is not an integer in 0 .. {maximum:#x}")
    return v



def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text, where: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise UsageError(where, "is not base64") from None


MEMORY = uuid.UUID("a5bc1114-6f64-4ede-b863-3e83ed7c83b1")
FIRMWARE = uuid.UUID("81212a96-09ed-4996-9471-8d729c8e69ed")

MEM_TYPES = ("Unknown", "No Error", "Single-bit ECC", "Multi-bit ECC", "Single-symbol ChipKill ECC",
             "Multi-symbol ChipKill ECC", "Master Abort", "Target Abort", "Parity Error",
             "Watchdog Timeout", "Invalid Address", "Mirror Broken", "Memory Sparing",
             "Scrub Corrected Error", "Scrub Uncorrected Error", "Physical Memory Map-out Event")
# Platform memory (UEFI N.2.5): (JSON key, offset, size, validation bit), in libcper's order
# after the bank / type / extended fields
MEM_PLAIN = (("physicalAddressMask", 24, 8, 2), ("node", 32, 2, 3), ("card", 34, 2, 4),
             ("moduleRank", 36, 2, 5), ("device", 40, 2, 7), ("row", 42, 2, 8), ("column", 44, 2, 9),
             ("bitPosition", 46, 2, 10), ("requestorID", 48, 8, 11), ("responderID", 56, 8, 12),
             ("targetID", 64, 8, 13), ("rankNumber", 74, 2, 15))
FW_TYPES = ("IPF SAL Error Record", "SOC Firmware Error Record (Type1 Legacy)",
            "SOC Firmware Error Record (Type2)")


def _u(body: bytes, off: int, size: int) -> int:
    return int.from_bytes(body[off:off + size], "little")


def _name(i: int, guid: uuid.UUID) -> str:
    return f"section {i} ({SECTIONS.get(guid, ('raw', None))[0]})"


def _pair(value: int, names: tuple[str, ...], default: str) -> dict:
    return {"value": value, "name": names[value] if value < len(names) else default}


# ---- platform memory ------------------------------------------------------------------

def memory_json(i: int, body: bytes) -> dict:
    v = _u(body, 0, 8)
    if v & 1:
        raise UsageError(_name(i, MEMORY), "error_status is set: fwemu does not write libcper's "
                         "errorStatus object yet")
    bank = _u(body, 38, 2)
    out: dict = {"bank": {"value": bank} if v >> 6 & 1 else {"address": bank & 0xFF, "group": bank >> 8}}
    if v >> 14 & 1:
        out["memoryErrorType"] = _pair(body[72], MEM_TYPES, "Unknown (Reserved)")
    if v >> 18 & 1:     # libcper shows the handles only inside the extended group
        ext: dict = {"rowBit16": bool(body[73] & 1), "rowBit17": bool(body[73] >> 1 & 1)}
        if v >> 21 & 1:
            ext["chipIdentification"] = body[73] >> 5
        out["extended"] = ext
        if v >> 16 & 1:
            out["cardSmbiosHandle"] = _u(body, 76, 2)
        if v >> 17 & 1:
            out["moduleSmbiosHandle"] = _u(body, 78, 2)
    if v >> 1 & 1:
        out["physicalAddress"] = _u(body, 16, 8)
        out["physicalAddressHex"] = f"0x{_u(body, 16, 8):016X}"
    for key, off, size, bit in MEM_PLAIN:
        if v >> bit & 1:
            out[key] = _u(body, off, size)
    return out


def memory_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].Memory"
    if "errorStatus" in d:
        raise UsageError(f"{where}.errorStatus", "fwemu does not read libcper's errorStatus object yet")
    buf = bytearray(80)
    v = 0
    bank = d.get("bank")
    if isinstance(bank, dict) and "value" in bank:
        struct.pack_into("<H", buf, 38, _int(bank, "value", f"{where}.bank", 0xFFFF))
        v |= 1 << 6
    elif isinstance(bank, dict):
        group = _int(bank, "group", f"{where}.bank", 0xFF)
        addr = _int(bank, "address", f"{where}.bank", 0xFF)
        struct.pack_into("<H", buf, 38, group << 8 | addr)
        v |= (group != 0) << 19 | (addr != 0) << 20
    if "memoryErrorType" in d:
        buf[72] = _int(d["memoryErrorType"], "value", f"{where}.memoryErrorType", 0xFF)
        v |= 1 << 14
    if "extended" in d:
        e = d["extended"]
        ext = bool(e.get("rowBit16")) | bool(e.get("rowBit17")) << 1 if isinstance(e, dict) else 0
        if isinstance(e, dict) and "chipIdentification" in e:
            ext |= _int(e, "chipIdentification", f"{where}.extended", 7) << 5
            v |= 1 << 21
        buf[73] = ext
        v |= 1 << 18
    for key, off, size, bit in (("cardSmbiosHandle", 76, 2, 16), ("moduleSmbiosHandle", 78, 2, 17),
                                ("physicalAddress", 16, 8, 1)) + MEM_PLAIN:
        if key in d:
            buf[off:off + size] = _int(d, key, where, (1 << 8 * size) - 1).to_bytes(size, "little")
            v |= 1 << bit
    struct.pack_into("<Q", buf, 0, v)
    return bytes(buf)


# ---- firmware error record reference ----------------------------------------------------

def firmware_json(i: int, body: bytes) -> dict:
    return {"errorRecordType": _pair(body[0], FW_TYPES, "Unknown (Reserved)"), "revision": body[1],
            "recordID": _u(body, 8, 8), "recordIDGUID": str(uuid.UUID(bytes_le=body[16:32]))}


def firmware_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].Firmware"
    try:
        guid = uuid.UUID(str(d.get("recordIDGUID")))
    except ValueError:
        raise UsageError(f"{where}.recordIDGUID", "is not a GUID") from None
    return struct.pack("<BB6xQ16s", _int(d["errorRecordType"], "value", f"{where}.errorRecordType", 0xFF)
                       if isinstance(d.get("errorRecordType"), dict) else 0,
                       _int(d, "revision", where, 0xFF), _int(d, "recordID", where, (1 << 64) - 1),
                       guid.bytes_le)


# (JSON key, minimum body size libcper decodes, to JSON, from JSON)
KINDS = {MEMORY: ("Memory", 80, memory_json, memory_bytes),
         FIRMWARE: ("Firmware", 32, firmware_json, firmware_bytes)}


def section_json(i: int, guid: uuid.UUID, body: bytes) -> dict:
    """One entry of libcper's `sections` list."""
    _readable, key = SECTIONS.get(guid, ("Unknown", None))
    kind = KINDS.get(guid)
    if key is None or (kind is not None and len(body) < kind[1]):   # libcper: base64
        return {"Unknown": {"data": b64(body)}}
    if kind is None:
        raise UsageError(_name(i, guid), f"fwemu does not write libcper's {key} JSON yet")
    return {key: kind[2](i, body)}


def section_bytes(i: int, guid: uuid.UUID, d) -> bytes:
    """The body bytes of one entry of libcper's `sections` list."""
    if not isinstance(d, dict) or len(d) != 1:
        raise UsageError(f"sections[{i}]", "must be an object with one key (the section's kind)")
    key, value = next(iter(d.items()))
    if key == "Unknown":
        return unb64(value.get("data") if isinstance(value, dict) else None, f"sections[{i}].Unknown.data")
    kind = KINDS.get(guid)
    if kind is None or kind[0] != key or not isinstance(value, dict):
        known = SECTIONS.get(guid, ("Unknown", None))[1]
        if known == key:
            raise UsageError(f"sections[{i}].{key}", "fwemu does not read this libcper section kind yet; "
                             "only Memory, Firmware and Unknown (base64) convert to bytes")
        raise UsageError(f"sections[{i}].{key}", f"does not match the descriptor's section type {guid}")
    return kind[3](i, value)
