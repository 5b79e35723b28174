"""Value parsers of the field options that fill a section's lists and named codes: ARM
error-information entries and context blocks (repeatable options, one entry each), the
processor generic section's named codes, the firmware record reference's type.

A repeatable option's values travel as one text (entries joined by ';'), so a journal
line, a daemon request and a campaign step carry them as any other field.
"""

from __future__ import annotations

from .errors import UsageError

U8, U16, U32, U64 = 0xFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF
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


def _pairs(name: str, entry: str, n: int) -> list[tuple[str, str]]:
    out = []
    for part in filter(None, (p.strip() for p in entry.split(","))):
        if "=" not in part:
            raise UsageError(name, f"entry {n}: {part!r} is not KEY=VALUE")
        k, v = part.split("=", 1)
        out.append((k.strip().lower(), v.strip()))
    return out


def parse_arm_infos(name: str, text: str) -> list[dict]:
    """`KEY=V,...;KEY=V,...`: one dict per entry, the model's field names as keys (what an
    entry leaves out takes the scenario's value)."""
    entries = []
    for n, entry in enumerate(text.split(ENTRY_SEP), 1):
        got: dict[str, object] = {}
        for k, v in _pairs(name, entry, n):
            where = f"{name}: entry {n}: {k}"
            if k == "type":
                got["type"] = names_or_number(where, v, ARM_TYPES, U8, "type", sep="+")
            elif k == "flags" and v.lower() != "none":
                got["flags"] = names_or_number(where, v, ARM_INFO_FLAGS, U8, "flag", sep="+")
            elif k in ARM_INFO_KEYS:
                field, maximum = ARM_INFO_KEYS[k]
                got[field] = None if v.lower() == "none" and k not in _NOT_NONE else \
                    parse_int(where, v, maximum)
            else:
                raise UsageError(name, f"entry {n}: unknown key {k!r} (type, {', '.join(ARM_INFO_KEYS)})")
        entries.append(got)
    if len(entries) > U16:
        raise UsageError(name, "at most 65535 error-information entries")
    return entries


# ---- ARM context-information blocks ---------------------------------------------------

ARM_CONTEXT_TYPES = {"aarch32-gpr": 0, "aarch32-el1": 1, "aarch32-el2": 2, "aarch32-secure": 3,
                     "aarch64-gpr": 4, "aarch64-el1": 5, "aarch64-el2": 6, "aarch64-el3": 7,
                     "misc": 8}


def parse_arm_contexts(name: str, text: str) -> list[dict]:
    """`type=T,regs=HEX|@FILE[,version=N][,padding=HEX|@FILE];...`: one dict per block."""
    blocks = []
    for n, entry in enumerate(text.split(ENTRY_SEP), 1):
        got: dict[str, object] = {}
        for k, v in _pairs(name, entry, n):
            where = f"{name}: block {n}: {k}"
            if k == "type":
                got["type"] = one_of(where, v, ARM_CONTEXT_TYPES, U16, "register context type")
            elif k == "version":
                got["version"] = parse_int(where, v, U16)
            elif k in ("regs", "padding"):
                got["registers" if k == "regs" else k] = parse_bytes(where, v)
            else:
                raise UsageError(name, f"block {n}: unknown key {k!r} (type, regs, version, padding)")
        if "type" not in got:
            raise UsageError(name, f"block {n}: needs type= ({', '.join(ARM_CONTEXT_TYPES)}, or a number)")
        blocks.append(got)
    if len(blocks) > U16:
        raise UsageError(name, "at most 65535 context blocks")
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
