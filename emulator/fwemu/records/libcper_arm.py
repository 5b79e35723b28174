"""libcper's JSON of an ARM processor error section (UEFI N.2.4.4), as libcper 0.0.4's
cper-section-arm.c writes and reads it, context blocks excepted (refused by name).

libcper reads the error-information `type` byte as an enum (0 cache, 1 TLB, 2 bus, 3
micro-architectural) and decodes the error-information word by it; fwemu writes UEFI
2.9A's bitmap (0x02 cache, 0x04 TLB), so libcper shows a cache error of fwemu's as a bus
error. The JSON follows libcper: it is libcper's view that the JSON form carries. The
cache and bus layouts share their first seven fields, so such a word still comes back.

Where libcper's JSON is ambiguous, JSON -> bytes reads: `accessMode` (which libcper writes
under validation bit 8, with `timedOut`) sets no bit of its own; a missing `psciState`
(libcper leaves it out when running-state bit 31 is set) sets bit 31.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import UsageError
from .libcper_base import b64, int_, pair, u, unb64

U64 = (1 << 64) - 1
INFO_TYPES = ("Cache Error", "TLB Error", "Bus Error", "Micro-Architectural Error")
INFO_FLAGS = ("firstErrorCaptured", "lastErrorCaptured", "propagated", "overflow")
TRANSACTION = ("Instruction", "Data Access", "Generic")
CACHE_OPS = ("Generic Error", "Generic Read", "Generic Write", "Data Read", "Data Write", "Instruction Fetch",
             "Prefetch", "Eviction", "Snooping", "Snooped", "Management")
TLB_OPS = CACHE_OPS[:7] + ("Local Management Operation", "External Management Operation")
PARTICIPATION = ("Local Processor Originated Request", "Local Processor Responded to Request",
                 "Local Processor Observed", "Generic")
ADDRESS_SPACE = {0: "External Memory Access", 1: "Internal Memory Access", 3: "Device Memory Access"}
# the error-information word (UEFI N.2.4.4.1-3): (member, validation bit, first bit, bits,
# how: int | bool | (names, default)); the cache/TLB layout is the first seven rows
BUS_OPS = (CACHE_OPS[:7], "Unknown (Reserved)")
WORD = (("transactionType", 0, 16, 2, (TRANSACTION, "Unknown (Reserved)")), ("operation", 1, 18, 4, None),
        ("level", 2, 22, 3, int), ("processorContextCorrupt", 3, 25, 1, bool), ("corrected", 4, 26, 1, bool),
        ("precisePC", 5, 27, 1, bool), ("restartablePC", 6, 28, 1, bool),
        ("participationType", 7, 29, 2, (PARTICIPATION, "Unknown")), ("timedOut", 8, 31, 1, bool),
        ("addressSpace", 9, 32, 2, (ADDRESS_SPACE, "Unknown")), ("memoryAttributes", 10, 34, 9, int))
ACCESS_MODE_BIT = 43


def _word_json(kind: int, w: int) -> dict:
    rows = WORD if kind == 2 else WORD[:7]
    ops = {0: (CACHE_OPS, "Unknown (Reserved)"), 1: (TLB_OPS, "Unknown (Reserved)")}.get(kind, BUS_OPS)
    out: dict = {}
    for key, bit, first, bits, how in rows:
        if w >> bit & 1:
            v = w >> first & ((1 << bits) - 1)
            spec: Any = ops if how is None else how
            out[key] = bool(v) if spec is bool else v if spec is int else pair(v, spec[0], spec[1])
    if kind == 2 and w >> 8 & 1:
        mode = w >> ACCESS_MODE_BIT & 1
        out["accessMode"] = {"value": mode, "name": "Normal" if mode else "Secure"}
    return {("cacheError", "tlbError", "busError")[kind]: out}


def _word_bytes(kind: int, d, where: str) -> int:
    w = 0
    for key, bit, first, bits, how in (WORD if kind == 2 else WORD[:7]):
        if isinstance(d, dict) and key in d:
            v = d[key]
            if how is bool:
                v = int(bool(v))
            elif how is int:
                v = int_(d, key, where, (1 << bits) - 1)
            else:
                v = int_(v, "value", f"{where}.{key}", (1 << bits) - 1)
            w |= v << first | 1 << bit
    if kind == 2 and isinstance(d, dict) and "accessMode" in d:
        w |= int_(d["accessMode"], "value", f"{where}.accessMode", 1) << ACCESS_MODE_BIT
    return w


def _info_json(e: bytes) -> dict:
    ver, length, vb, kind, multi, flags, word, va, pa = struct.unpack("<BBHBHBQQQ", e)
    out: dict = {"version": ver, "length": length,
                 "errorType": pair(kind, INFO_TYPES, "Unknown (Reserved)")}
    if vb & 1:
        out["multipleError"] = {"value": multi, "type": "Single Error" if multi < 1 else "Multiple Errors"}
    if vb >> 1 & 1:
        out["flags"] = {n: bool(flags >> i & 1) for i, n in enumerate(INFO_FLAGS)}
    if vb >> 2 & 1 and kind < 3:
        out["errorInformation"] = _word_json(kind, word)
    if vb >> 3 & 1:
        out["virtualFaultAddress"] = va
    if vb >> 4 & 1:
        out["physicalFaultAddress"] = pa
    return out


def _info_bytes(e, where: str) -> bytes:
    kind = int_(e.get("errorType") if isinstance(e, dict) else None, "value", f"{where}.errorType", 0xFF)
    vb = multi = flags = word = va = pa = 0
    if "multipleError" in e:
        multi, vb = int_(e["multipleError"], "value", f"{where}.multipleError", 0xFFFF), vb | 1
    if "flags" in e:
        f = e["flags"]
        flags = sum(1 << i for i, n in enumerate(INFO_FLAGS) if isinstance(f, dict) and f.get(n))
        vb |= 2
    if "errorInformation" in e:
        info = e["errorInformation"]
        if kind < 3 and isinstance(info, dict):
            word = _word_bytes(kind, info.get(("cacheError", "tlbError", "busError")[kind]),
                               f"{where}.errorInformation")
        vb |= 4
    if "virtualFaultAddress" in e:
        va, vb = int_(e, "virtualFaultAddress", where, U64), vb | 8
    if "physicalFaultAddress" in e:
        pa, vb = int_(e, "physicalFaultAddress", where, U64), vb | 16
    return struct.pack("<BBHBHBQQQ", int_(e, "version", where, 0xFF), int_(e, "length", where, 0xFF), vb, kind,
                       multi, flags, word, va, pa)


def arm_fits(body: bytes) -> bool:
    return len(body) >= 40 and len(body) >= 40 + 32 * u(body, 4, 2)


def arm_json(i: int, body: bytes) -> dict:
    v, n_info, n_ctx, length, level = struct.unpack_from("<IHHIB", body)
    if n_ctx:
        raise UsageError(f"section {i} (ARM)", f"{n_ctx} context blocks: fwemu does not write libcper's "
                         "contextInfo JSON yet")
    mpidr, midr, running, psci = struct.unpack_from("<QQII", body, 16)
    out: dict = {"errorInfoNum": n_info, "contextInfoNum": n_ctx, "sectionLength": length}
    if v >> 1 & 1:
        out["errorAffinity"] = {"value": level, "type": "Vendor Defined" if level < 4 else "Reserved"}
    if v & 1:
        out["mpidrEl1"] = mpidr
        out["affinity3"] = (mpidr & 0xFF00000000) >> 32
    out["midrEl1"] = midr
    if v >> 2 & 1:
        out["running"] = bool(running & 1)
    if not running >> 31:
        out["psciState"] = psci
    out["errorInfo"] = [_info_json(body[40 + 32 * k:72 + 32 * k]) for k in range(n_info)]
    out["contextInfo"] = []
    end = 40 + 32 * n_info
    if v >> 3 & 1 and end < length:
        out["vendorSpecificInfo"] = {"data": b64(body[end:length])}
    return out


def arm_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].ArmProcessor"
    if d.get("contextInfo") or int_(d, "contextInfoNum", where, 0xFFFF):
        raise UsageError(f"{where}.contextInfo", "fwemu does not read libcper's contextInfo JSON yet")
    infos = d.get("errorInfo")
    if not isinstance(infos, list):
        raise UsageError(f"{where}.errorInfo", "must be a list")
    v = level = mpidr = running = psci = 0
    if "mpidrEl1" in d:
        mpidr, v = int_(d, "mpidrEl1", where, U64), v | 1
    if "errorAffinity" in d:
        level, v = int_(d["errorAffinity"], "value", f"{where}.errorAffinity", 0xFF), v | 2
    if "running" in d:
        running, v = int(bool(d["running"])), v | 4
    if "psciState" in d:
        psci = int_(d, "psciState", where, 0xFFFF_FFFF)
    else:
        running |= 1 << 31
    vendor = b""
    if "vendorSpecificInfo" in d:
        vi = d["vendorSpecificInfo"]
        vendor, v = unb64(vi.get("data") if isinstance(vi, dict) else None, f"{where}.vendorSpecificInfo.data"), v | 8
    head = struct.pack("<IHHIB3xQQII", v, int_(d, "errorInfoNum", where, 0xFFFF), 0,
                       int_(d, "sectionLength", where, 0xFFFF_FFFF), level, mpidr,
                       int_(d, "midrEl1", where, U64), running, psci)
    return head + b"".join(_info_bytes(e, f"{where}.errorInfo[{k}]") for k, e in enumerate(infos)) + vendor
