"""libcper's JSON of an IA32/X64 processor error section (UEFI N.2.4.2), as libcper
0.0.4's cper-section-ia32x64.c writes and reads it: the header (the entry counts live in
its validation word), error-information entries with their check word decoded by the
entry's GUID (cache, TLB, bus, MS check), and context blocks (named registers for the
32- and 64-bit execution contexts, base64 for the other types).

libcper reads the 32/64-bit execution contexts at their fixed size whatever the block's
array size says; a block too short for what libcper reads is refused by name (libcper
then writes a context without its registers and reads the next one from the same place).
"""

from __future__ import annotations

import struct
import uuid

from ..errors import UsageError
from .libcper_base import b64, bits_json, bits_value, context_kind, int_, pair, u, unb64

U64 = (1 << 64) - 1
CHECKS = {uuid.UUID("a55701f5-e3ef-43de-ac72-249b573fad2c"): ("Cache Check Error", "cache"),
          uuid.UUID("fc06b535-5e1f-4562-9f25-0a3b9adb63c3"): ("TLB Check Error", "cache"),
          uuid.UUID("1cf3f8b3-c5b1-49a2-aa59-5eef92ffa63c"): ("Bus Check Error", "bus"),
          uuid.UUID("48ab7f57-dc34-4f6c-a7d3-b0b5b0a74314"): ("MS Check Error", "ms")}
RESERVED = "Unknown (Reserved)"
TRANSACTION = (("Instruction", "Data Access", "Generic"), RESERVED)
OPERATION = (("Generic Error", "Generic Read", "Generic Write", "Data Read", "Data Write", "Instruction Fetch",
              "Prefetch", "Eviction", "Snoop"), RESERVED)
# check words (UEFI N.2.4.2.2-4): (member, validation bit, first bit, bits, how), in
# libcper's order; how: int, bool or (names, default)
_COMMON = (("transactionType", 0, 16, 2, TRANSACTION), ("operation", 1, 18, 4, OPERATION),
           ("level", 2, 22, 3, int), ("processorContextCorrupt", 3, 25, 1, bool), ("uncorrected", 4, 26, 1, bool),
           ("preciseIP", 5, 27, 1, bool), ("restartableIP", 6, 28, 1, bool), ("overflow", 7, 29, 1, bool))
WORDS: dict[str, tuple] = {
    "cache": _COMMON,
    "bus": _COMMON + (("timedOut", 9, 32, 1, bool),
                      ("participationType", 8, 30, 2, (("Local processor originated request",
                                                        "Local processor responded to request",
                                                        "Local processor observed", "Generic"), "Unknown")),
                      ("addressSpace", 10, 33, 2, (("Memory Access", "Reserved", "I/O", "Other Transaction"),
                                                   "Unknown"))),
    "ms": (("errorType", 0, 16, 3, (("No Error", "Unclassified", "Microcode ROM Parity Error", "External Error"),
                                    "Unknown (Processor Specific)")),
           ("processorContextCorrupt", 1, 19, 1, bool), ("uncorrected", 2, 20, 1, bool),
           ("preciseIP", 3, 21, 1, bool), ("restartableIP", 4, 22, 1, bool), ("overflow", 5, 23, 1, bool)),
}
CTX_TYPES = ("Unclassified Data", "MSR Registers", "32-bit Mode Execution Context", "64-bit Mode Execution Context",
             "FXSave Context", "32-bit Mode Debug Registers", "64-bit Mode Debug Registers",
             "Memory Mapper Registers")
_GPR32 = ("eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp")
_SEG = ("cs", "ds", "ss", "es", "fs", "gs")
# execution contexts (UEFI N.2.4.2.5-6): (member, byte offset, size); None: reserved bytes
IA32_REGS = tuple((n, 4 * k, 4) for k, n in enumerate(_GPR32)) + tuple((n, 32 + 2 * k, 2) for k, n in enumerate(_SEG)) \
    + (("eflags", 44, 4), ("eip", 48, 4), ("cr0", 52, 4), ("cr1", 56, 4), ("cr2", 60, 4), ("cr3", 64, 4),
       ("cr4", 68, 4), ("gdtr", 72, 8), ("idtr", 80, 8), ("ldtr", 88, 2), ("tr", 90, 2))
X64_REGS = tuple((n, 8 * k, 8) for k, n in enumerate(("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp")
                                                    + tuple(f"r{i}" for i in range(8, 16)))) \
    + tuple((n, 128 + 2 * k, 2) for k, n in enumerate(_SEG)) \
    + (("rflags", 144, 8), ("eip", 152, 8), ("cr0", 160, 8), ("cr1", 168, 8), ("cr2", 176, 8), ("cr3", 184, 8),
       ("cr4", 192, 8), ("cr8", 200, 8), ("gdtr_0", 208, 8), ("gdtr_1", 216, 8), ("idtr_0", 224, 8),
       ("idtr_1", 232, 8), ("ldtr", 240, 2), ("tr", 242, 2))
REGS = {2: (92, IA32_REGS), 3: (244, X64_REGS)}


def _info_json(e: bytes) -> dict:
    guid = uuid.UUID(bytes_le=e[:16])
    valid, word, target, req, resp, ip = struct.unpack_from("<6Q", e, 16)
    name, kind = CHECKS.get(guid, ("Unknown", None))
    out: dict = {"type": {"guid": str(guid), "name": name}}
    if valid & 1 and kind is not None:
        out["checkInfo"] = bits_json(WORDS[kind], word)
    for bit, key, v in ((1, "targetAddressID", target), (2, "requestorID", req), (3, "responderID", resp),
                        (4, "instructionPointer", ip)):
        if valid >> bit & 1:
            out[key] = v
    return out


def _info_bytes(e, where: str) -> bytes:
    t = e.get("type") if isinstance(e, dict) else None
    try:
        guid = uuid.UUID(str(t.get("guid") if isinstance(t, dict) else None))
    except ValueError:
        raise UsageError(f"{where}.type.guid", "is not a GUID") from None
    valid = word = 0
    if "checkInfo" in e:
        kind = CHECKS.get(guid, ("", None))[1]
        word = 0 if kind is None else bits_value(WORDS[kind], e["checkInfo"], f"{where}.checkInfo")
        valid |= 1
    vals = []
    for bit, key in ((1, "targetAddressID"), (2, "requestorID"), (3, "responderID"), (4, "instructionPointer")):
        vals.append(int_(e, key, where, U64) if key in e else 0)
        valid |= (key in e) << bit
    return guid.bytes_le + struct.pack("<6Q", valid, word, *vals)


def _ctx_json(i: int, k: int, body: bytes, off: int) -> tuple[dict, int]:
    if off + 16 > len(body):
        raise UsageError(f"section {i} (IA32/X64)", f"context {k} is cut short")
    kind, size, msr, mm = struct.unpack_from("<HHIQ", body, off)
    out: dict = {"registerContextType": pair(kind, CTX_TYPES), "registerArraySize": size, "msrAddress": msr,
                 "mmRegisterAddress": mm}
    length = REGS[kind][0] if kind in REGS else size
    regs = body[off + 16:off + 16 + length]
    if len(regs) < length:     # libcper writes no registers then and reads on from the same place
        raise UsageError(f"section {i} (IA32/X64)", f"context {k} is shorter than libcper reads")
    if kind in REGS:
        out["registerArray"] = {n: u(regs, o, s) for n, o, s in REGS[kind][1]}
    else:
        out["registerArray"] = {"data": b64(regs)}
    return out, off + 16 + length


def _ctx_bytes(c, where: str) -> bytes:
    kind = context_kind(c, where)
    head = struct.pack("<HHIQ", kind, int_(c, "registerArraySize", where, 0xFFFF), int_(c, "msrAddress", where,
                       0xFFFF_FFFF), int_(c, "mmRegisterAddress", where, U64))
    regs = c.get("registerArray")
    if kind not in REGS:
        return head + unb64(regs.get("data") if isinstance(regs, dict) else None, f"{where}.registerArray.data")
    size, names = REGS[kind]
    buf = bytearray(size)
    for n, o, s in names:
        buf[o:o + s] = int_(regs, n, f"{where}.registerArray", (1 << 8 * s) - 1).to_bytes(s, "little")
    return head + bytes(buf)


def x86_fits(body: bytes) -> bool:
    if len(body) < 64:
        return False
    v = u(body, 0, 8)
    return len(body) - 64 >= 64 * (v >> 2 & 0x3F) + 16 * (v >> 8 & 0x3F)


def x86_json(i: int, body: bytes) -> dict:
    v = u(body, 0, 8)
    n_info, n_ctx = v >> 2 & 0x3F, v >> 8 & 0x3F
    out: dict = {"processorErrorInfoNum": n_info, "processorContextInfoNum": n_ctx}
    if v & 1:
        out["localAPICID"] = u(body, 8, 8)
    if v >> 1 & 1:
        out["cpuidInfo"] = {r: u(body, 16 + 8 * k, 8) for k, r in enumerate(("eax", "ebx", "ecx", "edx"))}
    out["processorErrorInfo"] = [_info_json(body[64 + 64 * k:128 + 64 * k]) for k in range(n_info)]
    off, contexts = 64 + 64 * n_info, []
    for k in range(n_ctx):
        ctx, off = _ctx_json(i, k, body, off)
        contexts.append(ctx)
    out["processorContextInfo"] = contexts
    return out


def x86_bytes(i: int, d: dict) -> bytes:
    where = f"sections[{i}].Ia32x64Processor"
    n_info = int_(d, "processorErrorInfoNum", where, 0x3F)
    n_ctx = int_(d, "processorContextInfoNum", where, 0x3F)
    infos, contexts = d.get("processorErrorInfo"), d.get("processorContextInfo")
    if not isinstance(infos, list) or not isinstance(contexts, list) or len(infos) != n_info \
            or len(contexts) != n_ctx:
        raise UsageError(f"{where}.processorErrorInfo", "the lists must hold processorErrorInfoNum and "
                         "processorContextInfoNum entries")
    v = n_info << 2 | n_ctx << 8
    apic = 0
    if "localAPICID" in d:
        apic, v = int_(d, "localAPICID", where, U64), v | 1
    cpuid = [0, 0, 0, 0]
    if "cpuidInfo" in d:
        cpuid = [int_(d["cpuidInfo"], r, f"{where}.cpuidInfo", U64) for r in ("eax", "ebx", "ecx", "edx")]
        v |= 2
    head = struct.pack("<QQ4Q16x", v, apic, *cpuid)
    return (head + b"".join(_info_bytes(e, f"{where}.processorErrorInfo[{k}]") for k, e in enumerate(infos))
            + b"".join(_ctx_bytes(c, f"{where}.processorContextInfo[{k}]") for k, c in enumerate(contexts)))
