"""libcper's JSON of an ARM processor error section (UEFI N.2.4.4), as libcper 0.0.4's
cper-section-arm.c writes and reads it: header, error information, context blocks (named
registers per context type, base64 for a type it does not know), vendor bytes.

libcper reads context blocks back to back (as Linux before v6.14), not padded to 16
bytes as UEFI says and fwemu writes by default: it takes the padding for the next block's
header, and when that block then does not fit, writes the whole section as base64 (so
does fwemu, as `arm_fits` says); `context_align = 1` records convert field by field.

libcper reads the error-information `type` byte as an enum (0 cache, 1 TLB, 2 bus, 3
micro-architectural) and decodes the error-information word by it; fwemu writes UEFI
2.9A's bitmap (0x02 cache, 0x04 TLB), so libcper shows a cache error of fwemu's as a bus
error. The JSON follows libcper: it is libcper's view that the JSON form carries. The
cache and bus layouts share their first seven fields, so such a word still comes back.

libcper writes the bus access mode under validation bit 8 (with `timedOut`) and reads it
back under bit 11, its own: a word with one of the two bits and not the other does not
come back and is refused. A missing `psciState` (libcper leaves it out when running-state
bit 31 is set) reads as bit 31 set.
"""

from __future__ import annotations

import struct

from ..errors import UsageError
from .libcper_base import b64, bits_json, bits_value, context_kind, int_, pair, u, unb64

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

CTX_TYPES = ("AArch32 General Purpose Registers", "AArch32 EL1 Context Registers", "AArch32 EL2 Context Registers",
             "AArch32 Secure Context Registers", "AArch64 General Purpose Registers", "AArch64 EL1 Context Registers",
             "AArch64 EL2 Context Registers", "AArch64 EL3 Context Registers",
             "Miscellaneous System Register Structure")
# context type -> (register width in bytes, libcper's register names in array order)
CTX_REGS = {
    0: (4, tuple(f"r{n}" for n in range(13)) + ("r13_sp", "r14_lr", "r15_pc")),
    1: (4, ("dfar", "dfsr", "ifar", "isr", "mair0", "mair1", "midr", "mpidr", "nmrr", "prrr", "sctlr_ns", "spsr",
            "spsr_abt", "spsr_fiq", "spsr_irq", "spsr_svc", "spsr_und", "tpidrprw", "tpidruro", "tpidrurw",
            "ttbcr", "ttbr0", "ttbr1", "dacr")),
    2: (4, ("elr_hyp", "hamair0", "hamair1", "hcr", "hcr2", "hdfar", "hifar", "hpfar", "hsr", "htcr", "htpidr",
            "httbr", "spsr_hyp", "vtcr", "vttbr", "dacr32_el2")),
    3: (4, ("sctlr_s", "spsr_mon")),
    4: (8, tuple(f"x{n}" for n in range(31)) + ("sp",)),
    5: (8, ("elr_el1", "esr_el1", "far_el1", "isr_el1", "mair_el1", "midr_el1", "mpidr_el1", "sctlr_el1", "sp_el0",
            "sp_el1", "spsr_el1", "tcr_el1", "tpidr_el0", "tpidr_el1", "tpidrro_el0", "ttbr0_el1", "ttbr1_el1")),
    6: (8, ("elr_el2", "esr_el2", "far_el2", "hacr_el2", "hcr_el2", "hpfar_el2", "mair_el2", "sctlr_el2", "sp_el2",
            "spsr_el2", "tcr_el2", "tpidr_el2", "ttbr0_el2", "vtcr_el2", "vttbr_el2")),
    7: (8, ("elr_el3", "esr_el3", "far_el3", "mair_el3", "sctlr_el3", "sp_el3", "spsr_el3", "tcr_el3", "tpidr_el3",
            "ttbr0_el3")),
}
# type 8 (UEFI N.2.4.4.3, 10 bytes): the MRS encoding (u16: these bit fields), then the u64 value
MRS = (("op2", 0, 3), ("crm", 3, 4), ("crn", 7, 4), ("op1", 11, 3), ("o0", 14, 2))


def _ctx_json(body: bytes, off: int) -> tuple[dict | None, int]:
    """One context block at `off` as libcper writes it (None: libcper cannot read it) and
    where the next one starts (libcper: right after this one's registers, no padding)."""
    if off + 8 > len(body):
        return None, off
    ver, kind, size = struct.unpack_from("<HHI", body, off)
    regs = body[off + 8:off + 8 + size]
    if len(regs) < size:
        return None, off
    out: dict = {"version": ver, "registerContextType": pair(kind, CTX_TYPES, "Unknown (Reserved)"),
                 "registerArraySize": size}
    if kind in CTX_REGS:
        width, names = CTX_REGS[kind]
        if size < width * len(names):
            return None, off
        out["registerArray"] = {n: u(regs, width * k, width) for k, n in enumerate(names)}
    elif kind == 8:
        if size < 10:
            return None, off
        out["registerArray"] = {"mrsEncoding": {n: u(regs, 0, 2) >> first & ((1 << bits) - 1)
                                                for n, first, bits in MRS}, "value": u(regs, 2, 8)}
    else:
        out["registerArray"] = {"data": b64(regs)}
    return out, off + 8 + size


def _ctx_bytes(c, where: str) -> bytes:
    kind = context_kind(c, where)
    regs = c.get("registerArray")
    if kind in CTX_REGS:
        width, names = CTX_REGS[kind]
        data = b"".join(int_(regs, n, f"{where}.registerArray", (1 << 8 * width) - 1).to_bytes(width, "little")
                        for n in names)
    elif kind == 8:
        mrs = regs.get("mrsEncoding") if isinstance(regs, dict) else None
        enc = sum(int_(mrs, n, f"{where}.registerArray.mrsEncoding", (1 << bits) - 1) << first
                  for n, first, bits in MRS)
        data = struct.pack("<HQ", enc, int_(regs, "value", f"{where}.registerArray", U64))
    else:
        data = unb64(regs.get("data") if isinstance(regs, dict) else None, f"{where}.registerArray.data")
    return struct.pack("<HHI", int_(c, "version", where, 0xFFFF), kind,
                       int_(c, "registerArraySize", where, 0xFFFF_FFFF)) + data


def _rows(kind: int) -> tuple:
    """The error-information word's rows for libcper's type `kind` (0 cache, 1 TLB, 2 bus),
    with the operation names of that type."""
    ops = {0: (CACHE_OPS, "Unknown (Reserved)"), 1: (TLB_OPS, "Unknown (Reserved)")}.get(kind, BUS_OPS)
    return tuple(r if r[4] is not None else r[:4] + (ops,) for r in (WORD if kind == 2 else WORD[:7]))


def _word_json(kind: int, w: int) -> dict:
    out = bits_json(_rows(kind), w)
    if kind == 2 and w >> 8 & 1:
        mode = w >> ACCESS_MODE_BIT & 1
        out["accessMode"] = {"value": mode, "name": "Normal" if mode else "Secure"}
    return {("cacheError", "tlbError", "busError")[kind]: out}


def _word_bytes(kind: int, d, where: str) -> int:
    w = bits_value(_rows(kind), d, where)
    if kind == 2 and isinstance(d, dict) and "accessMode" in d:     # its own bit, 11 (libcper's reading)
        w |= int_(d["accessMode"], "value", f"{where}.accessMode", 1) << ACCESS_MODE_BIT | 1 << 11
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
    """Whether libcper decodes the section (else it writes it as base64): the header, the
    error information, every context block and the vendor bytes must be there."""
    if len(body) < 40:
        return False
    v, n_info, n_ctx, length = struct.unpack_from("<IHHI", body)
    end = 40 + 32 * n_info
    if end > len(body):
        return False
    for _k in range(n_ctx):
        ctx, end = _ctx_json(body, end)
        if ctx is None:
            return False
    return not (v >> 3 & 1 and end < length and length > len(body))


def arm_json(i: int, body: bytes) -> dict:
    v, n_info, n_ctx, length, level = struct.unpack_from("<IHHIB", body)
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
    end = 40 + 32 * n_info
    out["contextInfo"] = []
    for k in range(n_ctx):
        ctx, end = _ctx_json(body, end)
        if ctx is None:     # libcper gives up on the section: it is base64 then (arm_fits)
            raise UsageError(f"section {i} (ARM)", f"context block {k} is too short for its type")
        out["contextInfo"].append(ctx)
    if v >> 3 & 1 and end < length:
        out["vendorSpecificInfo"] = {"data": b64(body[end:length])}
    return out


def arm_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].ArmProcessor"
    infos, contexts = d.get("errorInfo"), d.get("contextInfo", [])
    if not isinstance(infos, list) or not isinstance(contexts, list):
        raise UsageError(f"{where}.errorInfo", "errorInfo and contextInfo must be lists")
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
    head = struct.pack("<IHHIB3xQQII", v, int_(d, "errorInfoNum", where, 0xFFFF),
                       int_(d, "contextInfoNum", where, 0xFFFF),
                       int_(d, "sectionLength", where, 0xFFFF_FFFF), level, mpidr,
                       int_(d, "midrEl1", where, U64), running, psci)
    return (head + b"".join(_info_bytes(e, f"{where}.errorInfo[{k}]") for k, e in enumerate(infos))
            + b"".join(_ctx_bytes(c, f"{where}.contextInfo[{k}]") for k, c in enumerate(contexts)) + vendor)
