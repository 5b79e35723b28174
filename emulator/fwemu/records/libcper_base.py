"""What libcper's JSON modules share: libcper's section table, and reading and writing
JSON values with one-line errors naming the field."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

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


def get(d, key: str, where: str):
    if not isinstance(d, dict) or key not in d:
        raise UsageError(f"{where}.{key}", "missing")
    return d[key]


def int_(d, key: str, where: str, maximum: int) -> int:
    v = get(d, key, where)
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


def u(body: bytes, off: int, size: int) -> int:
    return int.from_bytes(body[off:off + size], "little")


def name(i: int, guid: uuid.UUID) -> str:
    return f"section {i} ({SECTIONS.get(guid, ('raw', None))[0]})"


def pair(value: int, names: tuple[str, ...] | dict[int, str], default: str = "Unknown (Reserved)") -> dict:
    """libcper's `{value, name}` of an enumerated field (names: by value, or value -> name)."""
    table = dict(enumerate(names)) if isinstance(names, tuple) else names
    return {"value": value, "name": table.get(value, default)}


def bits_json(rows, w: int) -> dict:
    """A word of bit fields as libcper writes it. rows: (member, validation bit, first bit,
    bits, how), how: int, bool or (names, default) for a `{value, name}` pair; a member is
    written when its validation bit is set."""
    out: dict = {}
    for key, bit, first, bits, how in rows:
        if w >> bit & 1:
            v = w >> first & ((1 << bits) - 1)
            spec: Any = how
            out[key] = bool(v) if spec is bool else v if spec is int else pair(v, spec[0], spec[1])
    return out


def bits_value(rows, d, where: str) -> int:
    """bits_json's word back from its JSON: a member present sets its validation bit."""
    w = 0
    for key, bit, first, bits, how in rows:
        if isinstance(d, dict) and key in d:
            v = int(bool(d[key])) if how is bool else int_(d, key, where, (1 << bits) - 1) if how is int \
                else int_(d[key], "value", f"{where}.{key}", (1 << bits) - 1)
            w |= v << first | 1 << bit
    return w


def context_kind(c, where: str) -> int:
    """A context block's `registerContextType.value` (ARM and IA32/X64 both name it so)."""
    return int_(c.get("registerContextType") if isinstance(c, dict) else None, "value",
                f"{where}.registerContextType", 0xFFFF)
