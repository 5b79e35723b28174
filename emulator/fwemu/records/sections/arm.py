"""ARM Processor Error Section (UEFI 2.10 N.2.4.4), GUID E19E3D16-BC11-11E4-9CAA-C2051D5D46B0.

Layout (40-byte header, then the error-information entries, the context blocks and vendor
bytes; `section length` counts them all):

| off | size | field | valid bit |
|---|---|---|---|
| 0 | 4 | validation bits (3: vendor bytes present) | |
| 4 | 2 | error-information entries (from `error_info`) | |
| 6 | 2 | context blocks (from `context`) | |
| 8 | 4 | section length (computed) | |
| 12 | 1 | error affinity level | 1 |
| 13 | 3 | reserved (kept by `reserved`, little endian) | |
| 16 | 8 | MPIDR | 0 |
| 24 | 8 | MIDR (always present) | |
| 32 | 4 | running state | 2 |
| 36 | 4 | PSCI state (with the running state) | 2 |
| 40 | 32 each | error information: u8 version, u8 length, u16 validation bits, u8 type (UEFI 2.9A bitmap), u16 multiple error (bit 0), u8 flags (1), u64 error info (2), virtual fault address (3), physical fault address (4) | |
| ... | 8 + N (+ padding) each | context: u16 version, u16 register context type, u32 size N, N register bytes, zeros to a multiple of 16 (`context_align` 1: none) | |
| ... | rest | vendor-specific bytes | |

Linux: cper_print_proc_arm() (drivers/firmware/efi/cper-arm.c, cper.c), as 6.1.192 reads
the UEFI 2.9A error-type bitmap; how it steps from one context block to the next depends
on the kernel profile (`ctx_alignment`: v6.14 and later read the UEFI padding).
ghes_do_proc() hands the cache/TLB/bus entries' physical fault addresses to memory_failure
and warns about the other types (the C core's fw_os_actions() decides it).

One of the older kinds: firmware encodes it through the C core (fw_arm_encode, cper.c);
`encode` here writes the same bytes for records.encode (tests/unit/test_packer.py compares
the two, tests/unit/test_sections_older.py checks the C encoder against FIELDS). Decoding
walks the context blocks in the C core (fw_arm_decode: the UEFI layout, else back to back).
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..._corelib import ffi, lib
from ...errors import UsageError
from .. import model as m
from ..kernel_profile import KernelProfile
from ..printk import FW_WARN, get, hexdump, s32
from ._base import MAX_BODY, too_big, view
from .processor_generic import ERROR_TYPE_STRS

GUID = uuid.UUID("E19E3D16-BC11-11E4-9CAA-C2051D5D46B0")
KIND = "arm"
FIXED = 40           # the header
INFO = 32            # one error-information entry
CTX_HEADER = 8       # a context block before its registers
VALID = (0, 4)
FIELDS = (  # (model field, offset, size, validation bit or None) of the header, in the
    # order records.Packer lists them
    ("mpidr", 16, 8, 0), ("affinity_level", 12, 1, 1), ("running_state", 32, 4, 2),
    ("psci_state", 36, 4, None), ("midr", 24, 8, None))   # PSCI state: under the running
# state's bit on the wire, always written by the model
COMPUTED = ((4, 2), (6, 2), (8, 4))   # the entry and block counts, the section length
RESERVED = ((13, 3),)
BIT_VENDOR = 3
INFO_VALID = (2, 2)
INFO_FIELDS = (  # (model field, offset, size, validation bit or None) of an entry
    ("version", 0, 1, None), ("length", 1, 1, None), ("type", 4, 1, None),
    ("multiple_error", 5, 2, 0), ("flags", 7, 1, 1), ("error_info", 8, 8, 2),
    ("virt_fault_addr", 16, 8, 3), ("physical_fault_addr", 24, 8, 4))
_HDR = struct.Struct("<IHHIB3sQQII")
_INFO = struct.Struct("<BBHBHBQQQ")
_CTX = struct.Struct("<HHI")
assert (_HDR.size, _INFO.size, _CTX.size) == (FIXED, INFO, CTX_HEADER)

# (model field, validation bit, maximum) of an entry's optional fields
ARM_INFO_FIELDS = tuple((n, bit, (1 << 8 * size) - 1) for n, _off, size, bit in INFO_FIELDS
                        if bit is not None)

# UEFI 2.9A error-information type bitmap (what current Linux reads; cper-layouts.md §6)
_ARM_INFO_LIMITS = tuple((name, mx, f"error_info.{name}") for name, _bit, mx in ARM_INFO_FIELDS)
ARM_TYPE_CACHE, ARM_TYPE_TLB, ARM_TYPE_BUS, ARM_TYPE_MICROARCH = 0x02, 0x04, 0x08, 0x10
ARM_TYPE_NAMES = {"cache": ARM_TYPE_CACHE, "tlb": ARM_TYPE_TLB, "bus": ARM_TYPE_BUS,
                  "micro-arch": ARM_TYPE_MICROARCH}


@dataclass
class ArmErrorInfo:
    """One 32-byte ARM error-information entry. `type` is the UEFI 2.9A bitmap."""

    type: int = ARM_TYPE_CACHE
    multiple_error: int | None = None
    flags: int | None = None
    error_info: int | None = None
    virt_fault_addr: int | None = None
    physical_fault_addr: int | None = None
    version: int = 0
    length: int = 32
    explicit_validation_bits: int | None = None

    def __post_init__(self) -> None:
        m._check_range("error_info.type", self.type, m.U8)
        m._check_range("error_info.version", self.version, m.U8)
        m._check_range("error_info.length", self.length, m.U8)
        m._check_opts(self, _ARM_INFO_LIMITS)
        m._opt("error_info.explicit_validation_bits", self.explicit_validation_bits, m.U16)

    @property
    def validation_bits(self) -> int:
        if self.explicit_validation_bits is not None:
            return self.explicit_validation_bits
        return sum(1 << bit for name, bit, _m in ARM_INFO_FIELDS if getattr(self, name) is not None)


@dataclass
class ArmContext:
    """A context-information block: register-context type 0..8 and its raw register bytes.

    `padding`: the bytes written after the registers. None (the default) = zeros up to the
    section's `context_align`; bytes = exactly these (a decoded block whose padding is not
    all zeros keeps it here)."""

    type: int = 5
    registers: bytes = b""
    version: int = 0
    padding: bytes | None = None

    def __post_init__(self) -> None:
        m._check_range("context.type", self.type, m.U16)
        m._check_range("context.version", self.version, m.U16)
        self.registers = m._check_bytes("context.registers", self.registers, maximum=m.U32)
        if self.padding is not None:
            self.padding = m._check_bytes("context.padding", self.padding, maximum=m.U16)


ARM_CTX_ALIGNS = (16, 1)  # UEFI layout (Linux >= v6.14 reads it), back to back (before v6.14)


@dataclass
class ArmSection(m.Section):
    """ARM processor error: header, error-info entries, context blocks, vendor bytes.
    `psci_state` shares the running-state validation bit; `midr` is always present.
    `context_align` 16 (default) pads each context block with zeros to a multiple of 16
    bytes as UEFI 2.10 N.2.4.4 says; 1 writes them back to back, the layout Linux before
    v6.14 reads (docs/kernel-profiles.md)."""

    KIND: ClassVar[str] = KIND
    GUID: ClassVar[uuid.UUID] = GUID
    RESERVED_SPANS: ClassVar[tuple[tuple[int, int], ...]] = RESERVED

    error_info: list[ArmErrorInfo] = field(default_factory=lambda: [ArmErrorInfo()])
    mpidr: int | None = None
    affinity_level: int | None = None
    running_state: int | None = None
    psci_state: int = 0
    midr: int = 0
    context: list[ArmContext] = field(default_factory=list)
    vendor: bytes = b""
    context_align: int = 16
    explicit_validation_bits: int | None = None
    reserved: int = 0

    def __post_init__(self) -> None:
        if self.context_align not in ARM_CTX_ALIGNS:
            raise UsageError("context_align", f"{self.context_align!r} is not 16 (UEFI: each context "
                             "block zero-padded to a multiple of 16 bytes) or 1 (back to back, "
                             "as Linux before v6.14 reads them)")
        self.error_info = [e if isinstance(e, ArmErrorInfo) else ArmErrorInfo(**e) for e in self.error_info]
        self.context = [c if isinstance(c, ArmContext) else ArmContext(**c) for c in self.context]
        if len(self.error_info) > m.U16:   # UEFI asks for >= 1; Linux reads 0 too, so it is allowed
            raise UsageError("error_info", "at most 65535 error-information entries")
        if len(self.context) > m.U16:
            raise UsageError("context", "at most 65535 context blocks")
        m._opt("mpidr", self.mpidr, m.U64)
        m._opt("affinity_level", self.affinity_level, m.U8)
        m._opt("running_state", self.running_state, m.U32)
        m._check_range("psci_state", self.psci_state, m.U32)
        m._check_range("midr", self.midr, m.U64)
        self.vendor = m._check_bytes("vendor", self.vendor, maximum=m.U16)
        m._common_checks(self, m.U32)

    @staticmethod
    def json_parts(d: dict[str, Any]) -> None:
        """section_from_json's step for this kind: the entries and context blocks from
        their JSON forms (register and padding bytes as hex text)."""
        d["error_info"] = [ArmErrorInfo(**e) for e in d.get("error_info", [{}])]
        d["context"] = [ArmContext(**{**c, "registers": m._hex(c.get("registers", ""), "context.registers"),
                                      "padding": None if c.get("padding") is None
                                      else m._hex(c["padding"], "context.padding")})
                        for c in d.get("context", [])]

    def derived_validation_bits(self) -> int:
        return ((self.mpidr is not None) | (self.affinity_level is not None) << 1
                | (self.running_state is not None) << 2 | bool(self.vendor) << 3)


Section = ArmSection
PART_CLASSES = (ArmErrorInfo, ArmContext)   # readable as records.model.<name> too


def _z(v: int | None) -> int:
    return 0 if v is None else v


def encode(s: ArmSection) -> bytes:
    """The body bytes, as fw_arm_encode writes them (and the reserved bytes kept)."""
    parts = [b""]
    for e in s.error_info:
        parts.append(_INFO.pack(e.version, e.length, e.validation_bits, e.type,
                                _z(e.multiple_error), _z(e.flags), _z(e.error_info),
                                _z(e.virt_fault_addr), _z(e.physical_fault_addr)))
    align = s.context_align or 16
    for c in s.context:
        size = len(c.registers)
        parts.append(_CTX.pack(c.version, c.type, size))
        parts.append(c.registers)
        if c.padding is None:
            parts.append(bytes((align - (8 + size) % align) % align))
        else:
            parts.append(c.padding)
    parts.append(s.vendor)
    length = FIXED + sum(len(p) for p in parts)
    if length > MAX_BODY:
        too_big(s.KIND, length)
    parts[0] = _HDR.pack(s.validation_bits, len(s.error_info), len(s.context), length,
                         _z(s.affinity_level), s.reserved.to_bytes(3, "little"), _z(s.mpidr),
                         s.midr, _z(s.running_state), s.psci_state)
    return b"".join(parts)


def decode(body: bytes) -> ArmSection | None:
    """The typed section, or None when fw_arm_decode finds the counts, the context blocks
    or the section length do not account for the bytes."""
    if len(body) < FIXED:
        return None
    n_info = int.from_bytes(body[4:6], "little")
    n_ctx = int.from_bytes(body[6:8], "little")
    sec = ffi.new("fw_arm_section *")
    infos = ffi.new("fw_arm_err_info[]", max(n_info, 1))
    ctxs = ffi.new("fw_arm_ctx[]", max(n_ctx, 1))
    buf = ffi.from_buffer(body)
    if lib.fw_arm_decode(buf, len(body), sec, infos, n_info, ctxs, n_ctx) != lib.FW_OK:
        return None
    v = sec.validation_bits
    info_list = []
    for i in range(n_info):
        e = infos[i]
        ev = e.validation_bits
        fields = {name: view(ev, bit, getattr(e, name)) for name, bit, _mx in ARM_INFO_FIELDS}
        info = ArmErrorInfo(type=e.type, version=e.version, length=e.length, **fields)
        if info.validation_bits != ev:
            info.explicit_validation_bits = ev
        info_list.append(info)
    contexts = []
    for i in range(n_ctx):
        c = ctxs[i]
        pad = bytes(ffi.buffer(c.pad, c.pad_len)) if c.pad_len else b""
        contexts.append(ArmContext(type=c.type, version=c.version,
                                   registers=bytes(ffi.buffer(c.regs, c.size)),
                                   padding=pad if any(pad) else None))
    arm = ArmSection(error_info=info_list, mpidr=view(v, 0, sec.mpidr),
                     affinity_level=view(v, 1, sec.affinity_level),
                     running_state=view(v, 2, sec.running_state), psci_state=sec.psci_state,
                     midr=sec.midr, context=contexts, context_align=sec.ctx_align,
                     vendor=bytes(ffi.buffer(sec.vendor, sec.vendor_len)),
                     reserved=int.from_bytes(body[13:16], "little"))
    if arm.validation_bits != v:
        arm.explicit_validation_bits = v
    return arm


# ---- the kernel's wording (cper-arm.c) ----------------------------------------------------

REG_CTX_STRS = (
    "AArch32 general purpose registers", "AArch32 EL1 context registers",
    "AArch32 EL2 context registers", "AArch32 secure context registers",
    "AArch64 general purpose registers", "AArch64 EL1 context registers",
    "AArch64 EL2 context registers", "AArch64 EL3 context registers",
    "Misc. system register structure")
TRANS_TYPE_STRS = ("Instruction", "Data Access", "Generic")
_OPS = ("Generic error (type cannot be determined)",
            "Generic read (type of instruction or data request cannot be determined)",
            "Generic write (type of instruction of data request cannot be determined)",
            "Data read", "Data write", "Instruction fetch", "Prefetch")
BUS_OP_STRS = _OPS
CACHE_OP_STRS = _OPS + (
    "Eviction", "Snooping (processor initiated a cache snoop that resulted in an error)",
    "Snooped (processor raised a cache error caused by another processor or device snooping "
    "its cache)", "Management")
TLB_OP_STRS = _OPS + (
    "Local management operation (processor initiated a TLB management operation that resulted "
    "in an error)",
    "External management operation (processor raised a TLB error caused by another processor "
    "or device broadcasting TLB operations)")
BUS_PART_STRS = ("Local processor originated request", "Local processor responded to request",
                     "Local processor observed", "Generic")
BUS_ADDR_SPACE_STRS = ("External Memory Access", "Internal Memory Access", "Unknown",
                           "Device Memory Access")

ERR_TYPE_MASK = 0x1E  # CPER_ARM_ERR_TYPE_MASK = GENMASK(4, 1): UEFI 2.9A bitmap
BUS_ERROR = 0x08      # CPER_ARM_BUS_ERROR


def arm_error_type_names(type_byte: int) -> str:
    """The ARM error-information type as 6.1.192 names it (cper_bits_to_str over bits 4:1,
    joined with '|', plus the reserved-bits note): 0x02 'cache error', 0x14
    'TLB error|micro-architectural error', 0x00 '', 0x03 'cache error with reserved bit(s)'.
    Used by both `error_type: 0x%02x: %s%s` and GHES's `Unhandled processor error type`."""
    bits = (type_byte & ERR_TYPE_MASK) >> 1
    names = "|".join(n for i, n in enumerate(ERROR_TYPE_STRS) if bits >> i & 1)
    return names + (" with reserved bit(s)" if type_byte & ~ERR_TYPE_MASK & 0xFF else "")


def _arm_err_info(pfx: str, t: int, info: int) -> list[str]:
    """cper_print_arm_err_info() with the UEFI 2.9A type bitmap (6.1.192)."""
    if t & 0x10:  # micro-architectural/vendor: error_info is vendor specific
        return []
    out = []
    if info & 1 and (tt := info >> 16 & 3) < len(TRANS_TYPE_STRS):
        out.append(f"{pfx}transaction type: {TRANS_TYPE_STRS[tt]}")
    if info & 2:
        op = info >> 18 & 0xF
        for bit, what, table in ((2, "cache", CACHE_OP_STRS), (4, "TLB", TLB_OP_STRS),
                                 (8, "bus", BUS_OP_STRS)):
            if t & bit and op < len(table):
                out.append(f"{pfx}{what} error, operation type: {table[op]}")
    if info & 4:
        level = info >> 22 & 7
        for bit, text in ((2, "cache level: %d"), (4, "TLB level: %d"),
                          (8, "affinity level at which the bus error occurred: %d")):
            if t & bit:
                out.append(pfx + text % level)
    for valid, shift, yes, no in (
            (8, 25, "processor context corrupted", "processor context not corrupted"),
            (0x10, 26, "the error has been corrected", "the error has not been corrected"),
            (0x20, 27, "PC is precise", "PC is imprecise"),
            (0x40, 28, "Program execution can be restarted reliably at the PC associated with "
                       "the error.", None)):
        if info & valid and (said := yes if info >> shift & 1 else no):
            out.append(pfx + said)
    if t != BUS_ERROR:  # sic: the bus-only fields print for a type of exactly "bus error"
        return out
    bus = ((0x80, f"participation type: {BUS_PART_STRS[info >> 29 & 3]}"),
           (0x100, "request timed out" if info >> 31 & 1 else ""),
           (0x200, f"address space: {BUS_ADDR_SPACE_STRS[info >> 32 & 3]}"),
           (0x400, f"memory access attributes:0x{info >> 34 & 0x1FF:x}"),
           (0x800, f"access mode: {'normal' if info >> 43 & 1 else 'secure'}"))
    return out + [pfx + text for valid, text in bus if info & valid and text]


def print_section(npfx: str, body: bytes, length: int, profile: KernelProfile, *,
                  severity: int = 0, dimm_names: Mapping[int, tuple[str, str]] | None = None,
                  ) -> list[str]:
    """cper_estatus_print_section() for this GUID: the section_type line, then
    cper_print_proc_arm() once the length holds the header. `severity`, `dimm_names`:
    unused (the PCIe and memory printers' arguments)."""
    out = [f"{npfx}section_type: ARM processor error"]
    if length < FIXED:
        return out + [FW_WARN + "error section length is too small"]
    return out + _print_proc_arm(npfx, body, profile)


def _print_proc_arm(pfx: str, b: bytes, profile: KernelProfile) -> list[str]:
    """cper_print_proc_arm(). Walks the bytes by the section's own counts and
    section_length, as the kernel does (not by error_data_length); steps from one context
    block to the next as the profile's kernel does (8 + size, or that aligned to 16)."""
    vb, n_info, n_ctx, sec_len, aff = struct.unpack("<IHHIB", get(b, 0, 13))
    mpidr, midr, running, psci = struct.unpack("<QQII", get(b, 16, 24))
    npfx, ipfx = pfx + " ", pfx + "  "
    out = [f"{pfx}MIDR: 0x{midr:016x}"]
    rest = s32(sec_len - 40 - 32 * n_info)
    if rest < 0:
        return out + [f"{pfx}section length: {s32(sec_len)}", f"{pfx}section length is too small",
                      f"{pfx}firmware-generated error record is incorrect",
                      f"{pfx}ERR_INFO_NUM is {n_info}"]
    if vb & 1:
        out.append(f"{pfx}Multiprocessor Affinity Register (MPIDR): 0x{mpidr:016x}")
    if vb & 2:
        out.append(f"{pfx}error affinity level: {aff}")
    if vb & 4:
        out += [f"{pfx}running state: 0x{running:x}",
                f"{pfx}Power State Coordination Interface state: {s32(psci)}"]
    off = 40
    for i in range(n_info):
        _v, _l, ivb, t, multi, flags, info, va, pa = struct.unpack("<BBHBHBQQQ", get(b, off, 32))
        out += [f"{pfx}Error info structure {i}:", f"{pfx}num errors: {multi + 1}"]
        if ivb & 2:
            out += [npfx + text for bit, text in (
                (1, "first error captured"), (2, "last error captured"),
                (4, "propagated error captured"),
                (8, "overflow occurred, error info is incomplete")) if flags & bit]
        out.append(f"{npfx}error_type: 0x{t:02x}: {arm_error_type_names(t)}")
        if ivb & 4:
            out += [f"{npfx}error_info: 0x{info:016x}"] + _arm_err_info(ipfx, t, info)
        if ivb & 8:
            out.append(f"{npfx}virtual fault address: 0x{va:016x}")
        if ivb & 0x10:
            out.append(f"{npfx}physical fault address: 0x{pa:016x}")
        off += 32
    for i in range(n_ctx):
        _ver, ctype, csize = struct.unpack("<HHI", get(b, off, 8))
        align = profile.ctx_alignment
        size = s32(-(-(8 + csize) // align) * align)
        out.append(f"{pfx}Context info structure {i}:")
        if rest < size:
            return out + [f"{npfx}section length is too small",
                          f"{pfx}firmware-generated error record is incorrect"]
        if ctype > len(REG_CTX_STRS) - 1:
            return out + [f"{npfx}Invalid context type: {ctype} (max: {len(REG_CTX_STRS) - 1})"]
        out.append(f"{npfx}register context type: {REG_CTX_STRS[ctype]}")
        out += hexdump(npfx, get(b, off + 8, csize), ascii=False)
        rest -= size
        off += size
    if rest > 0:
        out.append(f"{pfx}Vendor specific error info has {rest} bytes:")
        out += hexdump(npfx, get(b, off, rest), ascii=True)
    return out
