"""libcper's JSON of the sections that end in a list of register pairs: PCI/PCI-X device
(UEFI N.2.9) and NVIDIA (libcper's cper-section-nvidia.c). Member names and order are
libcper's; a body too short for its own counts is base64 in libcper (see
libcper_sections.KINDS' minimum sizes and `fits`)."""

from __future__ import annotations

import struct

from ..errors import UsageError
from .libcper_base import b64, int_, u, unb64
from .libcper_flat import put_status, status_json

U64 = (1 << 64) - 1
ID_INFO = (("vendorID", 16, 2), ("deviceID", 18, 2), ("classCode", 20, 3), ("functionNumber", 23, 1),
           ("deviceNumber", 24, 1), ("busNumber", 25, 1), ("segmentNumber", 26, 1))


def _pairs(body: bytes, start: int, n: int, names: tuple[str, str]) -> list[dict]:
    return [{names[0]: u(body, start + 16 * k, 8), names[1]: u(body, start + 16 * k + 8, 8)}
            for k in range(n)]


def _pairs_bytes(items, names: tuple[str, str], where: str) -> bytes:
    if not isinstance(items, list):
        raise UsageError(where, "must be a list")
    return b"".join(struct.pack("<QQ", int_(p, names[0], f"{where}[{k}]", U64), int_(p, names[1], f"{where}[{k}]", U64))
                    for k, p in enumerate(items))


# ---- PCI/PCI-X device ------------------------------------------------------------------

def pci_dev_fits(body: bytes) -> bool:
    return len(body) >= 40 and len(body) >= 40 + 16 * (u(body, 32, 4) + u(body, 36, 4))


def pci_dev_json(_i: int, body: bytes) -> dict:
    v = u(body, 0, 8)
    out: dict = {}
    if v & 1:
        out["errorStatus"] = status_json(u(body, 8, 8))
    if v >> 1 & 1:
        out["idInfo"] = {key: u(body, off, size) for key, off, size in ID_INFO}
    if v >> 2 & 1:
        out["memoryNumber"] = u(body, 32, 4)
    if v >> 3 & 1:
        out["ioNumber"] = u(body, 36, 4)
    if v >> 4 & 1:
        out["registerDataPairs"] = _pairs(body, 40, u(body, 32, 4) + u(body, 36, 4), ("firstHalf", "secondHalf"))
    return out


def pci_dev_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].PciComponent"
    buf = bytearray(40)
    v = put_status(buf, d, where)
    if "idInfo" in d:
        for key, off, size in ID_INFO:
            buf[off:off + size] = int_(d["idInfo"], key, f"{where}.idInfo", (1 << 8 * size) - 1).to_bytes(size, "little")
        v |= 2
    for key, off, bit in (("memoryNumber", 32, 2), ("ioNumber", 36, 3)):
        if key in d:
            struct.pack_into("<I", buf, off, int_(d, key, where, 0xFFFF_FFFF))
            v |= 1 << bit
    tail = b""
    if "registerDataPairs" in d:
        tail = _pairs_bytes(d["registerDataPairs"], ("firstHalf", "secondHalf"), f"{where}.registerDataPairs")
        v |= 1 << 4
    struct.pack_into("<Q", buf, 0, v)
    return bytes(buf) + tail


# ---- NVIDIA ------------------------------------------------------------------------------

SEVERITY_NAMES = ("Recoverable", "Fatal", "Corrected", "Informational")


def nvidia_fits(body: bytes) -> bool:
    return len(body) >= 32 and len(body) >= 32 + 16 * body[22]


def nvidia_json(_i: int, body: bytes) -> dict:
    out: dict = {}
    sig = body[0:16].split(b"\0", 1)[0]
    if all(0x20 <= c < 0x7F for c in sig):    # libcper leaves out a signature it cannot print
        out["signature"] = sig.decode("ascii")
    sev = body[20]
    out |= {"severity": {"code": sev, "name": SEVERITY_NAMES[sev] if sev < 4 else "Unknown"},
            "errorType": u(body, 16, 2), "errorInstance": u(body, 18, 2), "socket": body[21],
            "registerCount": body[22], "instanceBase": u(body, 24, 8),
            "registers": _pairs(body, 32, body[22], ("address", "value"))}
    return out


def nvidia_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].Nvidia"
    sig = str(d.get("signature", "")).encode("ascii", "replace")
    if len(sig) > 15:     # libcper keeps 15 characters and a NUL
        raise UsageError(f"{where}.signature", f"is {len(sig)} characters; libcper keeps 15")
    head = struct.pack("<16sHHBBBxQ", sig, int_(d, "errorType", where, 0xFFFF),
                       int_(d, "errorInstance", where, 0xFFFF),
                       int_(d.get("severity"), "code", f"{where}.severity", 0xFF),
                       int_(d, "socket", where, 0xFF), int_(d, "registerCount", where, 0xFF),
                       int_(d, "instanceBase", where, U64))
    return head + _pairs_bytes(d.get("registers"), ("address", "value"), f"{where}.registers")


# ---- CXL component events (general media, DRAM, memory module, switches, MLD port) -------

CXL_DEVICE = (("vendorID", 12, 0, 16), ("deviceID", 14, 0, 16), ("functionNumber", 16, 0, 8),
              ("deviceNumber", 17, 0, 8), ("busNumber", 18, 0, 8), ("segmentNumber", 19, 0, 16),
              ("slotNumber", 21, 3, 13))     # (member, byte offset, bit shift, bits)


def cxl_component_fits(body: bytes) -> bool:
    return len(body) >= 32 and 32 <= u(body, 0, 4) <= len(body)


def cxl_component_json(_i: int, body: bytes) -> dict:
    v = u(body, 4, 8)
    length = u(body, 0, 4)
    out: dict = {"length": length}
    if v & 1:
        out["deviceID"] = {key: u(body, off, 2 if bits > 8 else 1) >> shift & ((1 << bits) - 1)
                           for key, off, shift, bits in CXL_DEVICE}
    if v >> 1 & 1:
        out["deviceSerial"] = u(body, 24, 8)
    if v >> 2 & 1 and length > 32:
        out["cxlComponentEventLog"] = {"data": b64(body[32:length])}
    return out


def cxl_component_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].CxlComponent"
    buf = bytearray(32)
    v = 0
    if "deviceID" in d:
        for key, off, shift, bits in CXL_DEVICE:
            size = 2 if bits > 8 else 1
            cur = int.from_bytes(buf[off:off + size], "little")
            cur |= int_(d["deviceID"], key, f"{where}.deviceID", (1 << bits) - 1) << shift
            buf[off:off + size] = cur.to_bytes(size, "little")
        v |= 1
    if "deviceSerial" in d:
        struct.pack_into("<Q", buf, 24, int_(d, "deviceSerial", where, U64))
        v |= 2
    log = b""
    if "cxlComponentEventLog" in d:
        e = d["cxlComponentEventLog"]
        log = unb64(e.get("data") if isinstance(e, dict) else None, f"{where}.cxlComponentEventLog.data")
        v |= 4
    struct.pack_into("<IQ", buf, 0, int_(d, "length", where, 0xFFFF_FFFF), v)
    return bytes(buf) + log


# ---- CXL protocol error (UEFI N.2.13) -------------------------------------------------------

CXL_AGENTS = ("CXL 1.1 Device", "CXL 1.1 Host Downstream Port")
CXL_PORT_ADDR = (("functionNumber", 16, 0, 8), ("deviceNumber", 17, 0, 8), ("busNumber", 18, 0, 8),
                 ("segmentNumber", 19, 0, 16))
CXL_DEV_ID = (("deviceID", 26, 0, 16), ("subsystemVendorID", 28, 0, 16), ("subsystemDeviceID", 30, 0, 16),
              ("classCode", 32, 0, 16), ("slotNumber", 34, 3, 13))


def _bits_get(body: bytes, fields) -> dict:
    return {key: u(body, off, (bits + shift + 7) // 8) >> shift & ((1 << bits) - 1) for key, off, shift, bits in fields}


def _bits_put(buf: bytearray, d, fields, where: str) -> None:
    for key, off, shift, bits in fields:
        size = (bits + shift + 7) // 8
        cur = int.from_bytes(buf[off:off + size], "little") | int_(d, key, where, (1 << bits) - 1) << shift
        buf[off:off + size] = cur.to_bytes(size, "little")


def cxl_protocol_fits(body: bytes) -> bool:
    return len(body) >= 116 and len(body) >= 116 + u(body, 108, 2) + u(body, 110, 2)


def cxl_protocol_json(_i: int, body: bytes) -> dict:
    v, agent = u(body, 0, 8), u(body, 8, 8)
    dvsec, log = u(body, 108, 2), u(body, 110, 2)
    out: dict = {}
    if v & 1:
        out["agentType"] = {"value": agent, "name": CXL_AGENTS[agent] if agent < 2 else "Unknown (Reserved)"}
    if v >> 1 & 1 and agent < 2:
        out["cxlAgentAddress"] = _bits_get(body, CXL_PORT_ADDR) if agent == 0 else {"value": u(body, 16, 8)}
    out["deviceID"] = {"vendorID": u(body, 24, 2), **(_bits_get(body, CXL_DEV_ID) if v >> 2 & 1 else {})}
    if v >> 3 & 1 and agent == 0:
        out["deviceSerial"] = u(body, 40, 8)
    if v >> 4 & 1:
        out["capabilityStructure"] = b64(body[48:108])
    if v >> 5 & 1:
        out["dvsecLength"] = dvsec
        out["cxlDVSEC"] = b64(body[116:116 + dvsec])
    if v >> 6 & 1:
        out["errorLogLength"] = log
        out["cxlErrorLog"] = b64(body[116 + dvsec:116 + dvsec + log])
    return out


def cxl_protocol_bytes(i: int, d: dict) -> bytes:
    """As libcper reads it, except that deviceID sets its bit only with more than a vendor
    id in it (libcper writes the vendor id whether or not the bit is set)."""
    where = f"sections[{i}].CxlProtocol"
    buf = bytearray(116)
    v = 0
    agent = 0
    if "agentType" in d:
        agent = int_(d["agentType"], "value", f"{where}.agentType", U64)
        struct.pack_into("<Q", buf, 8, agent)
        v |= 1
    if "cxlAgentAddress" in d:
        a = d["cxlAgentAddress"]
        if agent == 1:
            struct.pack_into("<Q", buf, 16, int_(a, "value", f"{where}.cxlAgentAddress", U64))
        else:
            _bits_put(buf, a, CXL_PORT_ADDR, f"{where}.cxlAgentAddress")
        v |= 2
    dev = d.get("deviceID", {})
    struct.pack_into("<H", buf, 24, int_(dev, "vendorID", f"{where}.deviceID", 0xFFFF))
    if isinstance(dev, dict) and len(dev) > 1:
        _bits_put(buf, dev, CXL_DEV_ID, f"{where}.deviceID")
        v |= 4
    if "deviceSerial" in d:
        struct.pack_into("<Q", buf, 40, int_(d, "deviceSerial", where, U64))
        v |= 8
    if "capabilityStructure" in d:
        cap = unb64(d["capabilityStructure"], f"{where}.capabilityStructure")
        if len(cap) > 60:
            raise UsageError(f"{where}.capabilityStructure", f"is {len(cap)} bytes; the field holds 60")
        buf[48:48 + len(cap)] = cap
        v |= 16
    tail = b""
    for key, data_key, off, bit in (("dvsecLength", "cxlDVSEC", 108, 32), ("errorLogLength", "cxlErrorLog", 110, 64)):
        if key in d:
            struct.pack_into("<H", buf, off, int_(d, key, where, 0xFFFF))
        if data_key in d:
            tail += unb64(d[data_key], f"{where}.{data_key}")
            v |= bit
    struct.pack_into("<Q", buf, 0, v)
    return bytes(buf) + tail
