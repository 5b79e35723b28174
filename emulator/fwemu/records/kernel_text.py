"""A status block as Linux 6.1 (Debian 6.1.192, arm64) prints it, line for line, without the
timestamp / log level, or as another kernel version where a KernelProfile says it differs:
`__ghes_print_estatus()` (acpi/apei/ghes.c) + `cper_estatus_print()` (firmware/efi/cper.c,
cper-arm.c). Format strings are the kernel's; where 6.1.192 differs from
tag v6.1 (the 2025 UEFI 2.9A ARM error-type series was backported) 6.1.192 wins.

Works on the section bytes the kernel reads (typed sections packed as the C core packs them),
so RawSection bytes under a known GUID decode as the kernel decodes them, length quirks
included. Assumes the block passed the kernel's structural checks (codec.check()). The
entry and block lines are here; each section's lines are its records/sections/ module's
(`print_section`).
"""

from __future__ import annotations

from collections.abc import Mapping

from . import model as m
from . import sections
from .sections.arm import arm_error_type_names as arm_error_type_names
from .codec import _encode_body
from .kernel_profile import DEFAULT as DEFAULT_PROFILE
from .kernel_profile import KernelProfile
from .printk import get as _get
from .printk import hash_x as _hash_x
from .printk import hexdump as _hexdump

# ---- string tables (cper.c; each section's are in its records/sections/ module) -------------

SEVERITY_STRS = ("recoverable", "fatal", "corrected", "info")


def severity_name(sev: int) -> str:
    """cper_severity_str(): recoverable / fatal / corrected / info, anything else unknown."""
    return SEVERITY_STRS[sev] if 0 <= sev < len(SEVERITY_STRS) else "unknown"


# ---- C printf helpers ---------------------------------------------------------------------

def _cstr(b: bytes, limit: int) -> str:
    """%.<limit>s of a byte buffer; non-printable bytes shown as dmesg escapes them."""
    b = b[:limit].split(b"\0", 1)[0]
    return "".join(chr(c) if 0x20 <= c < 0x7F else f"\\x{c:02x}" for c in b)


# ---- the bytes the kernel reads (same layout as the C core writes) ------------------------

def section_bytes(s: m.Section) -> bytes:
    """Wire bytes of a section body, as the C core encodes them."""
    return _encode_body(s)


_OLDER = {mod.GUID: mod for mod in sections.OLDER}   # the kinds every kernel version prints


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
        lines: list[str] = older.print_section(npfx, body, length, profile,
                                               severity=int(entry.severity), dimm_names=dimm_names)
        return out + lines
    newer = sections.print_section(npfx, guid, body, length, profile)
    if newer is not None:       # a newer kind this kernel version decodes (records/sections/)
        return out + newer
    return out + [f"{npfx}section type: unknown, {guid}",
                  f"{npfx}section length: {_hash_x(length)}"] + _hexdump(
                      npfx, _get(body, 0, length), ascii=True)


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
    sev = block.wire_severity & 0xFFFF  # cper_estatus_print() keeps it in a __u16
    out = [f"{pfx}Hardware error from APEI Generic Hardware Error Source: {source_id}"]
    if sev == m.Severity.CORRECTED:
        out.append(f"{pfx}It has been corrected by h/w and requires no further action")
    out.append(f"{pfx}event severity: {severity_name(sev)}")
    for i, entry in enumerate(block.entries):
        out += format_entry(pfx + " ", i, entry, dimm_names, profile)
    return out
