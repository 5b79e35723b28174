"""Section bodies in libcper's JSON (the `sections` list of records/libcper_json.py), one
pair of functions per section kind, as libcper's section decoders write them.

JSON -> bytes reads a field's presence as its validation bit (libcper's own reading), with
one exception where libcper's JSON is ambiguous: a memory bank written as address/group
(libcper writes that form whenever the BANK bit is clear) sets BANK_GROUP/BANK_ADDRESS
only for a value that is not 0, as fwemu's records do.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable

from ..errors import UsageError
from .libcper_base import SECTIONS, b64, int_, name, pair, u, unb64
from .libcper_flat import GENERIC, PCI_BUS, put_status, status_json
from . import libcper_lists as ll
from .libcper_arm import arm_bytes, arm_fits, arm_json
from .libcper_pcie import pcie_bytes, pcie_json
from .libcper_x86 import x86_bytes, x86_fits, x86_json

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


# ---- platform memory ------------------------------------------------------------------

Plain = tuple[tuple[str, int, int, int], ...]   # (JSON key, offset, size, validation bit)


def _plain_json(out: dict, body: bytes, v: int, plain: Plain) -> dict:
    """The plain integer members whose validation bit is set, added to `out`."""
    for key, off, size, bit in plain:
        if v >> bit & 1:
            out[key] = u(body, off, size)
    return out


def _plain_bytes(buf: bytearray, d: dict, where: str, plain: Plain) -> int:
    """The plain integer members present in `d` written into `buf`; their validation bits."""
    v = 0
    for key, off, size, bit in plain:
        if key in d:
            buf[off:off + size] = int_(d, key, where, (1 << 8 * size) - 1).to_bytes(size, "little")
            v |= 1 << bit
    return v

def memory_json(i: int, body: bytes) -> dict:
    v = u(body, 0, 8)
    out: dict = {"errorStatus": status_json(u(body, 8, 8))} if v & 1 else {}
    bank = u(body, 38, 2)
    out |= {"bank": {"value": bank} if v >> 6 & 1 else {"address": bank & 0xFF, "group": bank >> 8}}
    if v >> 14 & 1:
        out["memoryErrorType"] = pair(body[72], MEM_TYPES, "Unknown (Reserved)")
    if v >> 18 & 1:     # libcper shows the handles only inside the extended group
        ext: dict = {"rowBit16": bool(body[73] & 1), "rowBit17": bool(body[73] >> 1 & 1)}
        if v >> 21 & 1:
            ext["chipIdentification"] = body[73] >> 5
        out["extended"] = ext
        if v >> 16 & 1:
            out["cardSmbiosHandle"] = u(body, 76, 2)
        if v >> 17 & 1:
            out["moduleSmbiosHandle"] = u(body, 78, 2)
    if v >> 1 & 1:
        out["physicalAddress"] = u(body, 16, 8)
        out["physicalAddressHex"] = f"0x{u(body, 16, 8):016X}"
    return _plain_json(out, body, v, MEM_PLAIN)


def memory_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].Memory"
    buf = bytearray(80)
    v = put_status(buf, d, where)
    bank = d.get("bank")
    if isinstance(bank, dict) and "value" in bank:
        struct.pack_into("<H", buf, 38, int_(bank, "value", f"{where}.bank", 0xFFFF))
        v |= 1 << 6
    elif isinstance(bank, dict):
        group = int_(bank, "group", f"{where}.bank", 0xFF)
        addr = int_(bank, "address", f"{where}.bank", 0xFF)
        struct.pack_into("<H", buf, 38, group << 8 | addr)
        v |= (group != 0) << 19 | (addr != 0) << 20
    if "memoryErrorType" in d:
        buf[72] = int_(d["memoryErrorType"], "value", f"{where}.memoryErrorType", 0xFF)
        v |= 1 << 14
    if "extended" in d:
        e = d["extended"]
        ext = bool(e.get("rowBit16")) | bool(e.get("rowBit17")) << 1 if isinstance(e, dict) else 0
        if isinstance(e, dict) and "chipIdentification" in e:
            ext |= int_(e, "chipIdentification", f"{where}.extended", 7) << 5
            v |= 1 << 21
        buf[73] = ext
        v |= 1 << 18
    v |= _plain_bytes(buf, d, where, (("cardSmbiosHandle", 76, 2, 16), ("moduleSmbiosHandle", 78, 2, 17),
                                      ("physicalAddress", 16, 8, 1)) + MEM_PLAIN)
    struct.pack_into("<Q", buf, 0, v)
    return bytes(buf)


# ---- platform memory 2 -----------------------------------------------------------------
# UEFI N.2.6, as libcper 0.0.4 reads and writes it. Its two sides disagree, and a record
# converts only where they agree (libcper_json refuses the rest by byte): it writes
# physicalAddress under the error-status bit (0) but reads it back under bit 1; it writes the
# bank as address/group whenever bit 6 is clear but reads that form back as bits 20 and 21.
MEMORY2 = uuid.UUID("61ec04fc-48e6-d813-25c9-8daa44750b12")
MEM2_PLAIN = (("physicalAddressMask", 24, 8, 2), ("node", 32, 2, 3), ("card", 34, 2, 4),
              ("module", 36, 2, 5), ("device", 40, 4, 7), ("row", 44, 4, 8), ("column", 48, 4, 9),
              ("rank", 52, 4, 10), ("bitPosition", 56, 4, 11), ("chipID", 60, 1, 12),
              ("requestorID", 64, 8, 15), ("responderID", 72, 8, 16), ("targetID", 80, 8, 17),
              ("cardSmbiosHandle", 88, 4, 18), ("moduleSmbiosHandle", 92, 4, 19))


def memory2_json(i: int, body: bytes) -> dict:
    v = u(body, 0, 8)
    out: dict = {"errorStatus": status_json(u(body, 8, 8))} if v & 1 else {}
    bank = u(body, 38, 2)
    out["bank"] = {"value": bank} if v >> 6 & 1 else {"address": bank & 0xFF, "group": bank >> 8}
    if v >> 13 & 1:
        out["memoryErrorType"] = pair(body[61], MEM_TYPES, "Unknown (Reserved)")
    if v >> 14 & 1:
        out["status"] = {"value": body[62], "state": "Uncorrected" if body[62] & 1 else "Corrected"}
    if v & 1:
        out["physicalAddress"] = u(body, 16, 8)
    out["physicalAddressHex"] = f"0x{u(body, 16, 8):016X}"
    return _plain_json(out, body, v, MEM2_PLAIN)


def memory2_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].Memory2"
    buf = bytearray(96)
    v = put_status(buf, d, where)
    bank = d.get("bank")
    if isinstance(bank, dict) and "value" in bank:
        struct.pack_into("<H", buf, 38, int_(bank, "value", f"{where}.bank", 0xFFFF))
        v |= 1 << 6
    else:     # libcper: the address/group form, whether or not it is there
        b = bank if isinstance(bank, dict) else {}
        group = int_(b, "group", f"{where}.bank", 0xFF) if "group" in b else 0
        addr = int_(b, "address", f"{where}.bank", 0xFF) if "address" in b else 0
        struct.pack_into("<H", buf, 38, group << 8 | addr)
        v |= 3 << 20
    if "memoryErrorType" in d:
        buf[61] = int_(d["memoryErrorType"], "value", f"{where}.memoryErrorType", 0xFF)
        v |= 1 << 13
    if "status" in d:
        buf[62] = int_(d["status"], "value", f"{where}.status", 0xFF)
        v |= 1 << 14
    v |= _plain_bytes(buf, d, where, (("physicalAddress", 16, 8, 1),) + MEM2_PLAIN)
    struct.pack_into("<Q", buf, 0, v)
    return bytes(buf)


# ---- firmware error record reference ----------------------------------------------------

def firmware_json(i: int, body: bytes) -> dict:
    return {"errorRecordType": pair(body[0], FW_TYPES, "Unknown (Reserved)"), "revision": body[1],
            "recordID": u(body, 8, 8), "recordIDGUID": str(uuid.UUID(bytes_le=body[16:32]))}


def firmware_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].Firmware"
    try:
        guid = uuid.UUID(str(d.get("recordIDGUID")))
    except ValueError:
        raise UsageError(f"{where}.recordIDGUID", "is not a GUID") from None
    return struct.pack("<BB6xQ16s", int_(d["errorRecordType"], "value", f"{where}.errorRecordType", 0xFF)
                       if isinstance(d.get("errorRecordType"), dict) else 0,
                       int_(d, "revision", where, 0xFF), int_(d, "recordID", where, (1 << 64) - 1),
                       guid.bytes_le)


# GUID -> (JSON key, whether libcper decodes a body of this size (else base64), to JSON, from JSON)
Kind = tuple[str, Callable[[bytes], bool], Callable[[int, bytes], dict] | None, Callable[[int, dict], bytes]]
KINDS: dict[uuid.UUID, Kind] = {MEMORY: ("Memory", lambda b: len(b) >= 80, memory_json, memory_bytes),
         MEMORY2: ("Memory2", lambda b: len(b) >= 96, memory2_json, memory2_bytes),
         FIRMWARE: ("Firmware", lambda b: len(b) >= 32, firmware_json, firmware_bytes),
         uuid.UUID("eb5e4685-ca66-4769-b6a2-26068b001326"): ("PciComponent", ll.pci_dev_fits, ll.pci_dev_json,
                                                           ll.pci_dev_bytes),
         uuid.UUID("6d5244f2-2712-11ec-bea7-cb3fdb95c786"): ("Nvidia", ll.nvidia_fits, ll.nvidia_json, ll.nvidia_bytes)}
KINDS[uuid.UUID("e19e3d16-bc11-11e4-9caa-c2051d5d46b0")] = ("ArmProcessor", arm_fits, arm_json, arm_bytes)
KINDS[uuid.UUID("dc3ea0b0-a144-4797-b95b-53fa242b6e1d")] = ("Ia32x64Processor", x86_fits, x86_json, x86_bytes)
KINDS[uuid.UUID("d995e954-bbc1-430f-ad91-b44dcb3c6f35")] = ("Pcie", lambda b: len(b) >= 208, pcie_json, pcie_bytes)
KINDS[uuid.UUID("80b9efb4-52b5-4de3-a777-68784b771048")] = ("CxlProtocol", ll.cxl_protocol_fits,
                                                           ll.cxl_protocol_json, ll.cxl_protocol_bytes)
for _guid in ("fbcd0a77-c260-417f-85a9-088b1621eba6", "601dcbb3-9c06-4eab-b8af-4e9bfb5c9624",
              "fe927475-dd59-4339-a586-79bab113b774", "77cf9271-9c02-470b-9fe4-bc7b75f2da97",
              "40d26425-3396-4c4d-a5da-3d47263af425", "8dc44363-0c96-4710-b7bf-04bb99534c3f"):
    KINDS[uuid.UUID(_guid)] = ("CxlComponent", ll.cxl_component_fits, ll.cxl_component_json,
                               ll.cxl_component_bytes)
for _guid, _flat in (("9876ccad-47b4-4bdb-b65e-16f193c4f3db", GENERIC),
                     ("c5753963-3b84-4095-bf78-eddad3f9c9dd", PCI_BUS)):
    KINDS[uuid.UUID(_guid)] = (_flat.key, _flat.fits, _flat.to_json, _flat.to_bytes)


def section_json(i: int, guid: uuid.UUID, body: bytes) -> dict:
    """One entry of libcper's `sections` list."""
    _readable, key = SECTIONS.get(guid, ("Unknown", None))
    kind = KINDS.get(guid)
    if key is None or (kind is not None and not kind[1](body)):   # libcper: base64
        return {"Unknown": {"data": b64(body)}}
    if kind is None or kind[2] is None:
        raise UsageError(name(i, guid), f"fwemu does not write libcper's {key} JSON yet")
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
                             f"only {', '.join(sorted({k[0] for k in KINDS.values()}))} and Unknown (base64) "
                             "convert to bytes")
        raise UsageError(f"sections[{i}].{key}", f"does not match the descriptor's section type {guid}")
    return kind[3](i, value)
