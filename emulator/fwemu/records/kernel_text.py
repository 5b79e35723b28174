"""A status block as Linux 6.1 (Debian 6.1.192, arm64) prints it, line for line, without the
timestamp / log level, or as another kernel version where a KernelProfile says it differs:
`__ghes_print_estatus()` (acpi/apei/ghes.c) + `cper_estatus_print()` (firmware/efi/cper.c,
cper-arm.c). Format strings are the kernel's; where 6.1.192 differs from
tag v6.1 (the 2025 UEFI 2.9A ARM error-type series was backported) 6.1.192 wins.

Works on the section bytes the kernel reads (typed sections packed as the C core packs them),
so RawSection bytes under a known GUID decode as the kernel decodes them, length quirks
included. Assumes the block passed the kernel's structural checks (codec.check()).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

from . import model as m
from . import sections
from .sections import processor_generic
from .codec import _encode_body
from .kernel_profile import DEFAULT as DEFAULT_PROFILE
from .kernel_profile import KernelProfile
from .printk import FW_WARN
from .printk import get as _get
from .printk import hash_x as _hash_x
from .printk import hexdump as _hexdump
from .printk import s32 as _s32

# ---- string tables (cper.c, cper-arm.c) ---------------------------------------------------

SEVERITY_STRS = ("recoverable", "fatal", "corrected", "info")
PROC_ERROR_TYPE_STRS = processor_generic.ERROR_TYPE_STRS   # ARM's error types use them too
ARM_REG_CTX_STRS = (
    "AArch32 general purpose registers", "AArch32 EL1 context registers",
    "AArch32 EL2 context registers", "AArch32 secure context registers",
    "AArch64 general purpose registers", "AArch64 EL1 context registers",
    "AArch64 EL2 context registers", "AArch64 EL3 context registers",
    "Misc. system register structure")
ARM_TRANS_TYPE_STRS = ("Instruction", "Data Access", "Generic")
_ARM_OPS = ("Generic error (type cannot be determined)",
            "Generic read (type of instruction or data request cannot be determined)",
            "Generic write (type of instruction of data request cannot be determined)",
            "Data read", "Data write", "Instruction fetch", "Prefetch")
ARM_BUS_OP_STRS = _ARM_OPS
ARM_CACHE_OP_STRS = _ARM_OPS + (
    "Eviction", "Snooping (processor initiated a cache snoop that resulted in an error)",
    "Snooped (processor raised a cache error caused by another processor or device snooping "
    "its cache)", "Management")
ARM_TLB_OP_STRS = _ARM_OPS + (
    "Local management operation (processor initiated a TLB management operation that resulted "
    "in an error)",
    "External management operation (processor raised a TLB error caused by another processor "
    "or device broadcasting TLB operations)")
ARM_BUS_PART_STRS = ("Local processor originated request", "Local processor responded to request",
                     "Local processor observed", "Generic")
ARM_BUS_ADDR_SPACE_STRS = ("External Memory Access", "Internal Memory Access", "Unknown",
                           "Device Memory Access")

ARM_ERR_TYPE_MASK = 0x1E  # CPER_ARM_ERR_TYPE_MASK = GENMASK(4, 1): UEFI 2.9A bitmap
ARM_BUS_ERROR = 0x08      # CPER_ARM_BUS_ERROR


def severity_name(sev: int) -> str:
    """cper_severity_str(): recoverable / fatal / corrected / info, anything else unknown."""
    return SEVERITY_STRS[sev] if 0 <= sev < len(SEVERITY_STRS) else "unknown"


def arm_error_type_names(type_byte: int) -> str:
    """The ARM error-information type as 6.1.192 names it (cper_bits_to_str over bits 4:1,
    joined with '|', plus the reserved-bits note): 0x02 'cache error', 0x14
    'TLB error|micro-architectural error', 0x00 '', 0x03 'cache error with reserved bit(s)'.
    Used by both `error_type: 0x%02x: %s%s` and GHES's `Unhandled processor error type`."""
    bits = (type_byte & ARM_ERR_TYPE_MASK) >> 1
    names = "|".join(n for i, n in enumerate(PROC_ERROR_TYPE_STRS) if bits >> i & 1)
    return names + (" with reserved bit(s)" if type_byte & ~ARM_ERR_TYPE_MASK & 0xFF else "")


# ---- C printf helpers ---------------------------------------------------------------------

def _cstr(b: bytes, limit: int) -> str:
    """%.<limit>s of a byte buffer; non-printable bytes shown as dmesg escapes them."""
    b = b[:limit].split(b"\0", 1)[0]
    return "".join(chr(c) if 0x20 <= c < 0x7F else f"\\x{c:02x}" for c in b)


# ---- the bytes the kernel reads (same layout as the C core writes) ------------------------

def section_bytes(s: m.Section) -> bytes:
    """Wire bytes of a section body, as the C core encodes them."""
    return _encode_body(s)


# ---- section printers: (pfx, body, error_data_length, entry, dimm_names, profile) -> lines

def _arm_err_info(pfx: str, t: int, info: int) -> list[str]:
    """cper_print_arm_err_info() with the UEFI 2.9A type bitmap (6.1.192)."""
    if t & 0x10:  # micro-architectural/vendor: error_info is vendor specific
        return []
    out = []
    if info & 1 and (tt := info >> 16 & 3) < len(ARM_TRANS_TYPE_STRS):
        out.append(f"{pfx}transaction type: {ARM_TRANS_TYPE_STRS[tt]}")
    if info & 2:
        op = info >> 18 & 0xF
        for bit, what, table in ((2, "cache", ARM_CACHE_OP_STRS), (4, "TLB", ARM_TLB_OP_STRS),
                                 (8, "bus", ARM_BUS_OP_STRS)):
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
        if info & valid and (text := yes if info >> shift & 1 else no):
            out.append(pfx + text)
    if t != ARM_BUS_ERROR:  # sic: the bus-only fields print for a type of exactly "bus error"
        return out
    bus = ((0x80, f"participation type: {ARM_BUS_PART_STRS[info >> 29 & 3]}"),
           (0x100, "request timed out" if info >> 31 & 1 else ""),
           (0x200, f"address space: {ARM_BUS_ADDR_SPACE_STRS[info >> 32 & 3]}"),
           (0x400, f"memory access attributes:0x{info >> 34 & 0x1FF:x}"),
           (0x800, f"access mode: {'normal' if info >> 43 & 1 else 'secure'}"))
    return out + [pfx + text for valid, text in bus if info & valid and text]


def _arm(pfx, b, length, entry, dimm_names, profile):
    """cper_print_proc_arm(). Walks the bytes by the section's own counts and
    section_length, as the kernel does (not by error_data_length); steps from one context
    block to the next as the profile's kernel does (8 + size, or that aligned to 16)."""
    vb, n_info, n_ctx, sec_len, aff = struct.unpack("<IHHIB", _get(b, 0, 13))
    mpidr, midr, running, psci = struct.unpack("<QQII", _get(b, 16, 24))
    npfx, ipfx = pfx + " ", pfx + "  "
    out = [f"{pfx}MIDR: 0x{midr:016x}"]
    rest = _s32(sec_len - 40 - 32 * n_info)
    if rest < 0:
        return out + [f"{pfx}section length: {_s32(sec_len)}", f"{pfx}section length is too small",
                      f"{pfx}firmware-generated error record is incorrect",
                      f"{pfx}ERR_INFO_NUM is {n_info}"]
    if vb & 1:
        out.append(f"{pfx}Multiprocessor Affinity Register (MPIDR): 0x{mpidr:016x}")
    if vb & 2:
        out.append(f"{pfx}error affinity level: {aff}")
    if vb & 4:
        out += [f"{pfx}running state: 0x{running:x}",
                f"{pfx}Power State Coordination Interface state: {_s32(psci)}"]
    off = 40
    for i in range(n_info):
        _v, _l, ivb, t, multi, flags, info, va, pa = struct.unpack("<BBHBHBQQQ", _get(b, off, 32))
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
        _ver, ctype, csize = struct.unpack("<HHI", _get(b, off, 8))
        align = profile.ctx_alignment
        size = _s32(-(-(8 + csize) // align) * align)
        out.append(f"{pfx}Context info structure {i}:")
        if rest < size:
            return out + [f"{npfx}section length is too small",
                          f"{pfx}firmware-generated error record is incorrect"]
        if ctype > len(ARM_REG_CTX_STRS) - 1:
            return out + [f"{npfx}Invalid context type: {ctype} (max: {len(ARM_REG_CTX_STRS) - 1})"]
        out.append(f"{npfx}register context type: {ARM_REG_CTX_STRS[ctype]}")
        out += _hexdump(npfx, _get(b, off + 8, csize), ascii=False)
        rest -= size
        off += size
    if rest > 0:
        out.append(f"{pfx}Vendor specific error info has {rest} bytes:")
        out += _hexdump(npfx, _get(b, off, rest), ascii=True)
    return out


_KNOWN = {  # section GUID -> (section_type text, minimum error_data_length, printer)
    m.ArmSection.GUID: ("ARM processor error", 40, _arm),
}
_OLDER = {mod.GUID: mod for mod in sections.OLDER}   # the older kinds in records/sections/


# ---- entries and the block ----------------------------------------------------------------

def _tstamp(pfx: str, ts: m.Timestamp | int) -> str:
    b = m.timestamp_u64(ts).to_bytes(8, "little")
    sec, mi, hour, flags, day, mon, year, cent = ((x & 0xF) + (x >> 4) * 10 if i != 3 else x
                                                  for i, x in enumerate(b))
    kind = "precise " if flags & 1 else "imprecise "
    return (f"{pfx}{kind}tstamp: {cent:02d}{year:02d}-{mon:02d}-{day:02d} "
            f"{hour:02d}:{mi:02d}:{sec:02d}")


def format_entry(pfx: str, index: int, entry: m.Entry,
                 dimm_names: Mapping[int, tuple[str, str]] | None = None,
                 profile: KernelProfile = DEFAULT_PROFILE) -> list[str]:
    """cper_estatus_print_section(): one Generic Error Data Entry."""
    out = []
    if entry.revision >> 8 >= 3 and entry.timestamp is not None:
        out.append(_tstamp(pfx, entry.timestamp))
    out.append(f"{pfx}Error {index}, type: {severity_name(int(entry.severity) & 0xFFFF)}")
    if entry.fru_id is not None:
        out.append(f"{pfx}fru_id: {entry.fru_id}")
    if entry.fru_text is not None:
        out.append(f"{pfx}fru_text: {_cstr(entry.fru_text, 20)}")
    npfx = pfx + " "
    guid = entry.section.section_type
    body = section_bytes(entry.section)
    length = len(body) if entry.error_data_length is None else entry.error_data_length
    older = _OLDER.get(guid)
    if older is not None:
        return out + older.print_section(npfx, body, length, profile,
                                         severity=int(entry.severity), dimm_names=dimm_names)
    known = _KNOWN.get(guid)
    newer = None if known else sections.print_section(npfx, guid, body, length, profile)
    if newer is not None:       # a newer kind this kernel version decodes (records/sections/)
        return out + newer
    if known is None:
        return out + [f"{npfx}section type: unknown, {guid}",
                      f"{npfx}section length: {_hash_x(length)}"] + _hexdump(
                          npfx, _get(body, 0, length), ascii=True)
    text, minimum, printer = known
    out.append(f"{npfx}section_type: {text}")
    if length < minimum:
        return out + [FW_WARN + "error section length is too small"]
    return out + printer(npfx, body, length, entry, dimm_names or {}, profile)


def format_estatus(block: m.StatusBlock, source_id: int, seq: int = 1, *,
                   dimm_names: Mapping[int, tuple[str, str]] | None = None,
                   profile: KernelProfile = DEFAULT_PROFILE) -> list[str]:
    """What Linux 6.1 prints for a GHES status block: `__ghes_print_estatus()` +
    `cper_estatus_print()`, one string per line, without the timestamp / log level.

    seq is the kernel's running `{N}` counter (starts at 1, shared by all sources).
    dimm_names maps SMBIOS type-17 handles to (bank locator, device locator) for the
    `DIMM location:` line; by default no handle resolves (`not present. DMI handle: ...`).
    `[Firmware Warn]: ...` lines that cper.c prints in the middle carry no `{N}` prefix.
    profile: the kernel version whose reading is printed (kernel_profile; default 6.1)."""
    pfx = f"{{{seq}}}[Hardware Error]: "
    sev = int(block.severity) & 0xFFFF  # cper_estatus_print() keeps it in a __u16
    out = [f"{pfx}Hardware error from APEI Generic Hardware Error Source: {source_id}"]
    if sev == m.Severity.CORRECTED:
        out.append(f"{pfx}It has been corrected by h/w and requires no further action")
    out.append(f"{pfx}event severity: {severity_name(sev)}")
    for i, entry in enumerate(block.entries):
        out += format_entry(pfx + " ", i, entry, dimm_names, profile)
    return out
