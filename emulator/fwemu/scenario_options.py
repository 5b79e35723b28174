"""The scenario kinds and the field options of the common, memory, ARM, PCIe, processor
generic and firmware reference sections (scenarios.py adds the newer section kinds' and
builds the records): how each option's text is parsed and which scenarios take it.

Repeatable options (ARM error-information entries and context blocks) travel as one text,
entries joined by ';', so a journal line, a daemon request and a campaign step carry them
as any other field.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .records import model as m
from .records.sections import arm

U8, U16, U32, U64 = 0xFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF
U24 = 0xFF_FFFF
MEMORY = ("memory-ue", "memory-ce", "memory-fatal")
ARM = ("arm-cache-ue", "arm-tlb")
PCIE = ("pcie-ue", "pcie-ce")
# the newer section kinds (records/sections/)
CXL_EVENTS = ("cxl-general-media", "cxl-dram", "cxl-memory-module")
CXL = ("cxl-protocol",) + CXL_EVENTS
NEWER = CXL + ("pci-bus", "pci-device", "x86-proc", "nvidia", "memory2", "arm-ras")
MEM_FIELDS = MEMORY + ("memory2",)      # the memory section's field options apply to section 2
ARM_FIELDS = ARM + ("arm-ras",)         # --mpidr / --midr: the Arm RAS node's PE
ALL = MEMORY + ARM + PCIE + ("generic-cpu", "firmware-ref", "raw") + NEWER
SCENARIOS = ALL

# Scenario addresses default to a page that is free RAM on the sim board and on a 1 GiB
# QEMU virt guest (qemu-linux.md pitfall 1).
DEFAULT_ADDRESS = 0x60000000
MAX_FIELD_FILE = 1 << 16     # bytes an @FILE field may hold (a GHES block is far smaller)
ENTRY_SEP = ";"              # between the entries of a repeatable option's text


def parse_int(name: str, text: str, maximum: int) -> int:
    try:
        value = int(str(text).replace("_", ""), 0)
    except ValueError:
        raise UsageError(name, f"{text!r} is not a number") from None
    if value < 0 or value > maximum:
        raise UsageError(name, f"{text} is outside 0 .. {maximum:#x}")
    return value


def read_limited(path: str, name: str, limit: int) -> bytes:
    """A file's bytes, at most `limit` of them (a FIFO, /dev/zero or a huge file is one line,
    not an endless read); UsageError(name, ...) otherwise."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise UsageError(name, f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise UsageError(name, f"{path} holds more than {limit} bytes (the limit for this input)")
    return data


def parse_bytes(name: str, text: str) -> bytes:
    """Hex text, or @FILE for a file's bytes."""
    if text.startswith("@"):
        return read_limited(text[1:], name, MAX_FIELD_FILE)
    try:
        return bytes.fromhex(text.replace(":", " "))
    except ValueError:
        raise UsageError(name, "must be hex bytes (e.g. 'de ad be ef') or @FILE") from None


def names_or_number(name: str, text: str, table: dict[str, int], maximum: int, what: str,
                    sep: str = ",") -> int:
    """Names of `table` (OR-ed together when `sep` joins several) or a number."""
    value = 0
    for part in filter(None, (p.strip().lower() for p in text.split(sep))):
        if part in table:
            value |= table[part]
            continue
        try:
            value |= parse_int(name, part, maximum)
        except UsageError:
            raise UsageError(name, f"unknown {what} {part!r} ({', '.join(table)}, or a number)") from None
    return value


def one_of(name: str, text: str, table: dict[str, int], maximum: int, what: str) -> int:
    """One name of `table` or a number up to `maximum`."""
    key = text.strip().lower()
    if key in table:
        return table[key]
    try:
        return parse_int(name, key, maximum)
    except UsageError:
        raise UsageError(name, f"unknown {what} {text!r} ({', '.join(table)}, or a number up to "
                         f"{maximum:#x})") from None


# ---- ARM error-information entries (cper-layouts.md §6) ------------------------------

ARM_TYPES = {"cache": 0x02, "tlb": 0x04, "bus": 0x08, "micro-arch": 0x10}   # UEFI 2.9A bitmap
ARM_INFO_FLAGS = {"first": 0x1, "last": 0x2, "propagated": 0x4, "overflow": 0x8}
# key -> (model field, maximum); "none" leaves an optional field out (its validation bit clear)
ARM_INFO_KEYS = {"multiple-error": ("multiple_error", U16), "flags": ("flags", U8),
                 "info": ("error_info", U64), "va": ("virt_fault_addr", U64),
                 "pa": ("physical_fault_addr", U64), "valid": ("explicit_validation_bits", U16),
                 "version": ("version", U8), "length": ("length", U8)}
_NOT_NONE = ("version", "length", "valid")


def _entries(name: str, text: str, label: str, keys: str,
             read: Callable[[str, str, str, dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """`KEY=V,...;KEY=V,...`: one dict per entry, each pair handed to `read(where, key,
    value, entry)`, which returns False for a key it does not know."""
    entries = []
    for n, entry in enumerate(text.split(ENTRY_SEP), 1):
        got: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in entry.split(","))):
            if "=" not in part:
                raise UsageError(name, f"{label} {n}: {part!r} is not KEY=VALUE")
            k, v = (x.strip() for x in part.split("=", 1))
            if not read(f"{name}: {label} {n}: {k.lower()}", k.lower(), v, got):
                raise UsageError(name, f"{label} {n}: unknown key {k.lower()!r} ({keys})")
        entries.append(got)
    if len(entries) > U16:
        raise UsageError(name, f"at most 65535 {'entries' if label == 'entry' else label + 's'}")
    return entries


def _arm_info_pair(where: str, k: str, v: str, got: dict[str, Any]) -> bool:
    if k == "type":
        got["type"] = names_or_number(where, v, ARM_TYPES, U8, "type", sep="+")
    elif k == "flags" and v.lower() != "none":
        got["flags"] = names_or_number(where, v, ARM_INFO_FLAGS, U8, "flag", sep="+")
    elif k in ARM_INFO_KEYS:
        field, maximum = ARM_INFO_KEYS[k]
        got[field] = None if v.lower() == "none" and k not in _NOT_NONE else parse_int(where, v, maximum)
    else:
        return False
    return True


def parse_arm_infos(name: str, text: str) -> list[dict[str, Any]]:
    """Error-information entries: the model's field names as keys (what an entry leaves
    out takes the scenario's value)."""
    return _entries(name, text, "entry", f"type, {', '.join(ARM_INFO_KEYS)}", _arm_info_pair)


# ---- ARM context-information blocks ---------------------------------------------------

ARM_CONTEXT_TYPES = {"aarch32-gpr": 0, "aarch32-el1": 1, "aarch32-el2": 2, "aarch32-secure": 3,
                     "aarch64-gpr": 4, "aarch64-el1": 5, "aarch64-el2": 6, "aarch64-el3": 7,
                     "misc": 8}


def _context_pair(where: str, k: str, v: str, got: dict[str, Any]) -> bool:
    if k == "type":
        got["type"] = one_of(where, v, ARM_CONTEXT_TYPES, U16, "register context type")
    elif k == "version":
        got["version"] = parse_int(where, v, U16)
    elif k in ("regs", "padding"):
        got["registers" if k == "regs" else k] = parse_bytes(where, v)
    else:
        return False
    return True


def parse_arm_contexts(name: str, text: str) -> list[dict[str, Any]]:
    """Context blocks: `type=T,regs=HEX|@FILE[,version=N][,padding=HEX|@FILE]` each."""
    blocks = _entries(name, text, "block", "type, regs, version, padding", _context_pair)
    for n, got in enumerate(blocks, 1):
        if "type" not in got:
            raise UsageError(name, f"block {n}: needs type= ({', '.join(ARM_CONTEXT_TYPES)}, or a number)")
    return blocks


def inline_files(text: str) -> str:
    """A repeatable option's text with every KEY=@FILE read into hex (a daemon does not
    share our working directory)."""
    entries = []
    for entry in text.split(ENTRY_SEP):
        parts = []
        for part in entry.split(","):
            k, eq, v = part.partition("=")
            if eq and v.strip().startswith("@"):
                part = f"{k}={parse_bytes(k.strip(), v.strip()).hex()}"
            parts.append(part)
        entries.append(",".join(parts))
    return ENTRY_SEP.join(entries)


# ---- processor generic (cper-layouts.md §8) and firmware record reference (§9) ------------

PROC_TYPES = {"ia32-x64": 0, "ia64": 1, "arm": 2}
PROC_ISAS = {"ia32": 0, "ia64": 1, "x64": 2, "arm-a32": 3, "arm-a64": 4}
PROC_ERROR_TYPES = {"cache": 0x01, "tlb": 0x02, "bus": 0x04, "micro-arch": 0x08}
PROC_OPERATIONS = {"generic": 0, "data-read": 1, "data-write": 2, "instruction": 3}
PROC_FLAGS = {"restartable": 0x1, "precise-ip": 0x2, "overflow": 0x4, "corrected": 0x8}
FW_RECORD_TYPES = {"ipf-sal": 0, "soc-type1": 1, "soc-type2": 2}


def text_bytes(name: str, text: str, maximum: int) -> bytes:
    raw = text.encode()
    if len(raw) > maximum:
        raise UsageError(name, f"is {len(raw)} bytes; the field holds at most {maximum}")
    return raw


# ---- the option definitions (scenarios.OPTIONS adds the newer section kinds')

def parse_flags(name: str, text: str) -> int:
    return names_or_number(name, text, m.FLAG_NAMES, U8, "flag")


def parse_arm_type(name: str, text: str) -> int:
    return names_or_number(name, text, arm.ARM_TYPE_NAMES, U8, "type")


_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_timestamp(name: str, text: str) -> m.Timestamp | None | str:
    if text == "none":
        return None
    if text == "now":
        return "now"
    mt = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)", text)
    if not mt:
        raise UsageError(name, "must be 'now', 'none' or YYYY-MM-DDThh:mm:ss")
    y, mo, d, h, mi, s = map(int, mt.groups())
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 60) or \
            d > (29 if mo == 2 and calendar.isleap(y) else _MONTH_DAYS[mo - 1]):
        raise UsageError(name, f"{text} is not a valid date and time")
    return m.Timestamp(year=y, month=mo, day=d, hour=h, minute=mi, second=s)


def parse_bdf(name: str, text: str) -> tuple[int, int, int, int]:
    mt = re.fullmatch(r"(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})\.([0-7])", text)
    if not mt:
        raise UsageError(name, "must be [SEGMENT:]BUS:DEVICE.FUNCTION in hex, e.g. 0000:01:00.0")
    seg, bus, dev, fn = (int(g, 16) if g else 0 for g in mt.groups())
    if dev > 31:
        raise UsageError(name, f"device {dev:#x} is above 0x1f")
    return seg, bus, dev, fn


@dataclass(frozen=True)
class Option:
    flag: str
    kinds: tuple[str, ...]
    help: str
    parse: Callable[[str, str], Any] | None = None  # (name, text) -> value; default: u64
    maximum: int = 0xFFFF_FFFF_FFFF_FFFF
    limits: tuple[tuple[str, int], ...] = ()   # (scenario, maximum) where it is below `maximum`
    repeat: bool = False    # may be given more than once: the values joined by ';'

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def convert(self, text: str, kind: str | None = None):
        if self.parse is None:
            top = dict(self.limits).get(kind, self.maximum) if kind else self.maximum
            return parse_int(self.flag, text, top)
        return self.parse(self.flag, text)


def _sev(name, text):
    return m.Severity.parse(text, name)


def _guid(name, text):
    return m.parse_guid(name, text)


def _fru_text(name, text):
    raw = text.encode()
    if len(raw) > 20:
        raise UsageError(name, f"is {len(raw)} bytes; the FRU text field holds at most 20")
    return raw




def _bytes_upto(name: str, text: str, size: int) -> bytes:
    data = parse_bytes(name, text)
    if len(data) > size:
        raise UsageError(name, f"is {len(data)} bytes; the field holds {size}")
    return data


def _one_of_numbers(name: str, text: str, allowed: tuple[int, ...]) -> int:
    value = parse_int(name, text, max(allowed))
    if value not in allowed:
        raise UsageError(name, f"must be {' or '.join(map(str, allowed))}")
    return value


def _version(name: str, text: str) -> tuple[int, int]:
    major, dot, minor = text.partition(".")
    if not dot:
        raise UsageError(name, f"{text!r} is not MAJOR.MINOR (e.g. 3.0)")
    return parse_int(name, major, U8), parse_int(name, minor, U8)
NO_RAW = tuple(k for k in ALL if k != "raw")
ADDRESS = MEMORY + ARM + PCIE + ("generic-cpu", "pci-bus", "x86-proc", "memory2", "arm-ras")
DEVICE_ID = PCIE + CXL + ("pci-device",)      # --bdf / --vendor-id / --device-id


def _per_kind(kinds: tuple[str, ...], maximum: int) -> tuple[tuple[str, int], ...]:
    return tuple((k, maximum) for k in kinds)


BASE_OPTIONS = (  # the common, memory, ARM and PCIe fields (the newer kinds': scenarios.py)
    # common
    Option("--address", ADDRESS, "physical address (memory PA, ARM fault PA, CPU target address, "
           f"PCI bus address, Arm RAS ERR<n>ADDR); default {DEFAULT_ADDRESS:#x}"),
    Option("--severity", ALL, "recoverable | fatal | corrected | info | number (block and section)", _sev),
    Option("--section-severity", ALL, "section severity when it should differ from the block's", _sev),
    Option("--flags", ALL, "entry flags: primary,reset,threshold-exceeded,latent,… or a number", parse_flags),
    Option("--fru-id", ALL, "FRU id GUID", _guid),
    Option("--fru-text", ALL, "FRU text (at most 20 bytes)", _fru_text),
    Option("--timestamp", ALL, "entry timestamp: now (default), none, or YYYY-MM-DDThh:mm:ss", parse_timestamp),
    Option("--raw-data", ALL, "raw-data area after the entries: hex or @FILE", parse_bytes),
    # header fields as written: a correct firmware derives them; a value here makes a record
    # the OS should reject or misread (fault injection against the consumer's checks)
    Option("--entry-revision", ALL, "the entry's revision (default 0x0300; below 0x0300 the 64-byte "
           "entry header, which has no timestamp)", maximum=U16),
    Option("--error-data-length", ALL, "the entry's error data length as written (default: the "
           "section's length)", maximum=U32),
    Option("--data-length", ALL, "the block's data length as written (default: the entries' and raw "
           "data's length)", maximum=U32),
    Option("--raw-data-offset", ALL, "the block's raw data offset as written (default: the end of the "
           "entries)", maximum=U32),
    Option("--block-status", ALL, "the block_status word as written (default: from the entry "
           "severities)", maximum=U32),
    # memory
    Option("--error-type", MEM_FIELDS + ("pci-bus",), "memory error type 0..15 (memory2: 0..255; 2 single-bit ECC, "
           "3 multi-bit ECC, …); pci-bus: 0 unknown, 1 data parity, 2 system, 3 master abort, "
           "4 bus timeout, 5 master data parity, 6 address parity, 7 command parity",
           maximum=U16, limits=_per_kind(MEMORY, 15) + (("memory2", U8),)),
    Option("--pa-mask", MEM_FIELDS, "physical address mask"),
    Option("--error-status", MEM_FIELDS + ("pci-bus", "pci-device"), "error status value"),
    *(Option(f"--{n}", MEM_FIELDS, f"memory {n.replace('-', ' ')}" + (" (memory2: 32 bits)" if mx == U32 else ""),
             maximum=mx, limits=_per_kind(MEMORY, U16))
      for n, mx in (("node", U16), ("card", U16), ("module", U16), ("device", U32), ("bit-position", U32),
                    ("card-handle", U32), ("module-handle", U32))),
    Option("--bank", MEM_FIELDS + ("cxl-dram",), "memory bank (cxl-dram: 8 bits)", maximum=U16,
           limits=(("cxl-dram", U8),)),
    Option("--column", MEM_FIELDS + ("cxl-dram",), "memory column (memory2: 32 bits)", maximum=U32,
           limits=_per_kind(MEMORY + ("cxl-dram",), U16)),
    Option("--rank", MEM_FIELDS + CXL_EVENTS[:2], "memory rank (cxl: 8 bits; memory2: 32 bits)", maximum=U32,
           limits=_per_kind(MEMORY, U16) + _per_kind(CXL_EVENTS[:2], U8)),
    Option("--row", MEM_FIELDS + ("cxl-dram",), "row (up to 18 bits: sets ROW_EXT above 0xffff; "
           "cxl-dram: 24 bits; memory2: 32 bits)", maximum=U32,
           limits=_per_kind(MEMORY, (1 << 18) - 1) + (("cxl-dram", U24),)),
    Option("--bank-group", MEM_FIELDS + ("cxl-dram",), "bank group (with --bank-address instead of --bank)",
           maximum=U8),
    Option("--bank-address", MEM_FIELDS, "bank address", maximum=U8),
    Option("--chip-id", MEM_FIELDS, "chip id 0..7 (memory2: 8 bits)", maximum=U8, limits=_per_kind(MEMORY, 7)),
    *(Option(f"--{n}-id", MEM_FIELDS + ("pci-bus", "x86-proc") + (() if n == "target" else ("generic-cpu",)),
             f"{n} id") for n in ("requestor", "responder", "target")),
    Option("--status", ("memory2",), "status byte (bit 0: uncorrected; default from --severity)", maximum=U8),
    # ARM
    Option("--arm-type", ARM, "error-info type: cache,tlb,bus,micro-arch (UEFI 2.9A bitmap) or a number",
           parse_arm_type),
    Option("--error-info", ARM, "error-info bitfield (default per scenario, e.g. 0x450017)"),
    Option("--virt-address", ARM, "virtual fault address"),
    Option("--mpidr", ARM_FIELDS, "MPIDR of the failing PE (default: the target PE's)"),
    Option("--midr", ARM_FIELDS, "MIDR (default 0x410fd490, Neoverse N2)"),
    Option("--affinity-level", ARM, "error affinity level", maximum=U8),
    Option("--running-state", ARM, "running state (bit0 = running)", maximum=U32),
    Option("--psci-state", ARM, "PSCI state", maximum=U32),
    Option("--multiple-error", ARM, "multiple-error count field", maximum=U16),
    Option("--vendor", ARM, "vendor-specific bytes: hex or @FILE", parse_bytes),
    # PCIe (and the device id of the CXL and PCI device sections)
    Option("--bdf", DEVICE_ID, "[SEGMENT:]BUS:DEVICE.FUNCTION (default 0000:01:00.0; pci-device: "
           "segment up to 0xff)", parse_bdf),
    Option("--vendor-id", DEVICE_ID, "PCI vendor id", maximum=U16),
    Option("--device-id", DEVICE_ID, "PCI device id", maximum=U16),
    Option("--device-number", DEVICE_ID, "the device number byte as written, over --bdf's (any value, "
           "e.g. above 0x1f)", maximum=U8),
    Option("--function-number", DEVICE_ID, "the function number byte as written, over --bdf's (any value, "
           "e.g. above 7)", maximum=U8),
    Option("--port-type", PCIE, "port type (0 endpoint, 4 root port, …)", maximum=U32),
    Option("--aer-uncor-status", PCIE, "AER uncorrectable error status", maximum=U32),
    Option("--aer-cor-status", PCIE, "AER correctable error status", maximum=U32),
    Option("--serial", PCIE + CXL, "device serial number"),
)


SECTION_OPTIONS = (
    # ---- every field of the ARM, PCIe, processor generic and firmware reference sections
    Option("--validation-bits", MEMORY + ARM + PCIE + ("generic-cpu",), "the section's validation "
           "bits as written (default: those of the fields set; ARM: 32 bits)",
           limits=_per_kind(ARM, U32)),
    # the reserved bytes firmware may leave non-zero (cper-layouts.md: ARM @13 u8[3], PCIe
    # @14 u16 + @20 u32 + @39 u8, processor generic @14 u16, firmware reference @2 u8[6];
    # memory: the extended byte's bits 4:2), as one little-endian number over them
    Option("--section-reserved", MEMORY + ARM + PCIE + ("generic-cpu", "firmware-ref"),
           "the section's reserved bytes as one little-endian number (memory: the extended byte's "
           "bits 4:2, 0..7; ARM 24 bits; PCIe 56: @14 u16, @20 u32, @39 u8; processor generic 16; "
           "firmware-ref 48); default 0",
           limits=tuple((k, m.reserved_max(kind)) for ks, kind in ((MEMORY, "memory"), (ARM, "arm"),
                        (PCIE, "pcie"), (("generic-cpu",), "processor-generic"),
                        (("firmware-ref",), "firmware-ref")) for k in ks)),
    Option("--arm-info", ARM, "an error-information entry (repeatable, or entries joined by ';'): "
           "type=cache+tlb+bus+micro-arch|N, flags=first+last+propagated+overflow|N, "
           "multiple-error=N, info=N, va=ADDR, pa=ADDR, valid=N, version=N, length=N; "
           "'none' leaves a field out. An entry's missing keys take the one-entry options' "
           "values (--arm-type, --error-info, --virt-address, --multiple-error, --address)",
           parse_arm_infos, repeat=True),
    Option("--arm-context", ARM, "a context-information block (repeatable, or joined by ';'): "
           f"type={'|'.join(ARM_CONTEXT_TYPES)}|N, regs=HEX|@FILE[, version=N][, padding=HEX]",
           parse_arm_contexts, repeat=True),
    Option("--context-align", ARM, "16 (default: each context block zero-padded to 16 bytes, "
           "UEFI; Linux >= 6.14) or 1 (back to back, as Linux before 6.14 reads them)",
           lambda n, t: _one_of_numbers(n, t, (16, 1))),
    Option("--pcie-version", PCIE, "PCIe capability version MAJOR.MINOR (default 3.0)", _version),
    Option("--pci-command", PCIE, "PCI command register (default 0x0406)", maximum=U16),
    Option("--pci-status", PCIE, "PCI status register (default 0x0010)", maximum=U16),
    Option("--secondary-bus", PCIE, "secondary bus number", maximum=U8),
    Option("--slot", PCIE, "slot field (the slot number is bits 15:3)", maximum=U16),
    Option("--bridge-status", PCIE, "bridge secondary status register", maximum=U16),
    Option("--bridge-control", PCIE, "bridge control register", maximum=U16),
    Option("--aer-info", PCIE, "the AER info block (up to 96 bytes, zero-padded): hex or @FILE; "
           "--aer-uncor-status/--aer-cor-status then set their words in it",
           lambda n, t: _bytes_upto(n, t, 96)),
    Option("--proc-type", ("generic-cpu",), "processor type: ia32-x64, ia64, arm (default) or a number",
           lambda n, t: one_of(n, t, PROC_TYPES, U8, "processor type")),
    Option("--proc-isa", ("generic-cpu",), "ISA: ia32, ia64, x64, arm-a32, arm-a64 (default) or a "
           "number", lambda n, t: one_of(n, t, PROC_ISAS, U8, "ISA")),
    Option("--proc-error-type", ("generic-cpu",), "error type bitmap: cache (default), tlb, bus, "
           "micro-arch (joined by ',') or a number",
           lambda n, t: names_or_number(n, t, PROC_ERROR_TYPES, U8, "error type")),
    Option("--operation", ("generic-cpu",), "operation: generic, data-read (default), data-write, "
           "instruction or a number", lambda n, t: one_of(n, t, PROC_OPERATIONS, U8, "operation")),
    Option("--proc-flags", ("generic-cpu",), "flags: restartable, precise-ip, overflow, corrected "
           "(joined by ','; default restartable, corrected when --severity is corrected) or a number",
           lambda n, t: names_or_number(n, t, PROC_FLAGS, U8, "flag")),
    Option("--level", ("generic-cpu",), "cache level (default 1)", maximum=U8),
    Option("--cpu-version", ("generic-cpu",), "CPU version (on ARM: MIDR)"),
    Option("--cpu-brand", ("generic-cpu",), "CPU brand string (at most 128 bytes)",
           lambda n, t: text_bytes(n, t, 128)),
    Option("--proc-id", ("generic-cpu",), "processor id (default: the PE's MPIDR)"),
    Option("--ref-type", ("firmware-ref",), "record type: ipf-sal, soc-type1, soc-type2 "
           "(default) or a number", lambda n, t: one_of(n, t, FW_RECORD_TYPES, U8, "record type")),
    Option("--ref-revision", ("firmware-ref",), "revision (default 2: the record is named by "
           "--ref-guid; 0: by --ref-id)", maximum=U8),
    Option("--ref-id", ("firmware-ref",), "record identifier (u64)"),
    Option("--ref-guid", ("firmware-ref",), "record identifier GUID", _guid),
    Option("--ref-trailing", ("firmware-ref",), "bytes after the 32-byte reference: hex or @FILE", parse_bytes),
)
