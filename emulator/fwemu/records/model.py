"""Typed model of a GHES error status block: header, entries, raw sections, and the base
every section kind builds on (`Section`, the range checks, `Timestamp`). Each section kind
has its own module in records/sections/ (its class, field table, encode, decode, kernel
printing); the older kinds' classes stay readable here by name (`model.MemorySection`:
register_section sets them, and importing any part of `fwemu.records` registers them).

Fields follow the wire layouts (shared reference cper-layouts.md). Optional fields are
`None` when their validation bit is clear; by default a section's validation bits are
derived from which fields are set, so a model built from field values never claims a field
it does not carry. Fields whose wire slot is shared (PCIe command/status, the device-id
block, bridge status/control) are filled in together: setting one sets the others to 0.

Firmware may write any bytes, and a decoded record must encode back to them: every
section (and entry) has `explicit_validation_bits` (None = derived; a number = written
as given, and then a field carries its value whether or not its bit is set, e.g. bytes
left in a field whose bit is clear) and, where the layout has reserved bytes, `reserved`
(their little-endian value, see RESERVED). The decoder fills them only when the bytes
need them.

Encoding and decoding go through `fwemu.records.codec` (the C core judges the block, the
section modules read and write the bodies); this module is pure data plus JSON conversion.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import UsageError

U8, U16, U32, U64 = 0xFF, 0xFFFF, 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF


class Severity(enum.IntEnum):
    RECOVERABLE = 0
    FATAL = 1
    CORRECTED = 2
    INFO = 3

    @classmethod
    def parse(cls, value: str | int, field_name: str = "severity") -> int:
        """A name (recoverable/fatal/corrected/info) or a number (any u32: >= 4 is legal bytes)."""
        if isinstance(value, int):
            return _check_range(field_name, value, U32)
        text = str(value).strip().lower()
        aliases = {"ue": 0, "recoverable": 0, "fatal": 1, "corrected": 2, "ce": 2,
                   "info": 3, "informational": 3, "none": 3}
        if text in aliases:
            return aliases[text]
        try:
            return _check_range(field_name, int(text, 0), U32)
        except ValueError:
            raise UsageError(field_name, f"unknown severity {value!r} "
                             "(recoverable, fatal, corrected, info, or a number)") from None


# GDE flags (same bits as the CPER section descriptor)
FLAG_PRIMARY = 0x01
FLAG_CONTAINMENT_WARNING = 0x02
FLAG_RESET = 0x04
FLAG_THRESHOLD_EXCEEDED = 0x08
FLAG_RESOURCE_NOT_ACCESSIBLE = 0x10
FLAG_LATENT = 0x20
FLAG_NAMES = {"primary": FLAG_PRIMARY, "containment-warning": FLAG_CONTAINMENT_WARNING,
              "reset": FLAG_RESET, "threshold-exceeded": FLAG_THRESHOLD_EXCEEDED,
              "resource-not-accessible": FLAG_RESOURCE_NOT_ACCESSIBLE, "latent": FLAG_LATENT}


def _check_range(name: str, value: int, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(name, f"must be an integer, got {value!r}")
    if value < 0 or value > maximum:
        raise UsageError(name, f"{value:#x} does not fit (0 .. {maximum:#x})")
    return value


def _check_bytes(name: str, value: bytes, size: int | None = None, maximum: int | None = None) -> bytes:
    if not isinstance(value, (bytes, bytearray)):
        raise UsageError(name, f"must be bytes, got {type(value).__name__}")
    if size is not None and len(value) != size:
        raise UsageError(name, f"must be exactly {size} bytes, got {len(value)}")
    if maximum is not None and len(value) > maximum:
        raise UsageError(name, f"is {len(value)} bytes, more than {maximum}")
    return bytes(value)


def _opt(name: str, value: int | None, maximum: int) -> int | None:
    return None if value is None else _check_range(name, value, maximum)


def _check_opts(obj: object, limits: tuple[tuple[str, int, str], ...]) -> None:
    """_opt() of each (attribute, maximum, name): the common case (None, or an int in
    range) is decided inline, the rest by _check_range and its messages."""
    d = obj.__dict__
    for attr, maximum, name in limits:
        v = d[attr]
        if v is not None and (v.__class__ is not int or v < 0 or v > maximum):
            _check_range(name, v, maximum)


def _common_checks(sec: Any, bits_max: int) -> None:
    """explicit_validation_bits fits the wire field; reserved fits the reserved area."""
    if sec.explicit_validation_bits is not None:
        _check_range("explicit_validation_bits", sec.explicit_validation_bits, bits_max)
    if sec.reserved.__class__ is not int or sec.reserved:
        _check_range("reserved", sec.reserved, reserved_max(sec.KIND))


@dataclass(frozen=True)
class Timestamp:
    """EFI_ERROR_TIME_STAMP: BCD seconds, minutes, hours, flags (bit0 precise), day, month,
    year, century. Stored as calendar values; `to_u64()` gives the wire u64.

    `sequence` (0..127) fills the reserved flag bits 7:1. Linux prints only bit 0, but its
    duplicate filter compares whole blocks, so firmware uses it to keep two records made
    in the same second distinct (DESIGN rule 6)."""

    year: int = 2026
    month: int = 1
    day: int = 1
    hour: int = 0
    minute: int = 0
    second: int = 0
    precise: bool = True
    sequence: int = 0

    def __post_init__(self) -> None:
        y, mo, d, h, mi, s = self.year, self.month, self.day, self.hour, self.minute, self.second
        if not (y.__class__ is mo.__class__ is d.__class__ is h.__class__ is mi.__class__
                is s.__class__ is int and 0 <= y <= 9999 and 0 <= mo <= 99 and 0 <= d <= 99
                and 0 <= h <= 99 and 0 <= mi <= 99 and 0 <= s <= 99):   # else: which one
            for name, lo, hi in (("year", 0, 9999), ("month", 0, 99), ("day", 0, 99),
                                 ("hour", 0, 99), ("minute", 0, 99), ("second", 0, 99)):
                v = getattr(self, name)
                if not isinstance(v, int) or not lo <= v <= hi:
                    raise UsageError(f"timestamp.{name}", f"{v!r} is outside {lo} .. {hi}")

    @staticmethod
    def _bcd(v: int) -> int:
        return ((v // 10) << 4) | (v % 10)

    @staticmethod
    def _unbcd(b: int) -> int:
        return (b >> 4) * 10 + (b & 0xF)

    def to_u64(self) -> int:
        b = _BCD
        y = self.year
        parts = (b[self.second], b[self.minute], b[self.hour],
                 (self.sequence << 1) | (1 if self.precise else 0), b[self.day], b[self.month],
                 b[y % 100], b[y // 100])
        return int.from_bytes(bytes(parts), "little")

    @classmethod
    def from_u64(cls, v: int) -> Timestamp:
        b = v.to_bytes(8, "little")
        u = cls._unbcd
        return cls(year=u(b[7]) * 100 + u(b[6]), month=u(b[5]), day=u(b[4]), hour=u(b[2]),
                   minute=u(b[1]), second=u(b[0]), precise=bool(b[3] & 1), sequence=b[3] >> 1)

    @classmethod
    def now(cls, sequence: int = 0) -> Timestamp:
        import time
        t = time.gmtime()
        return cls(year=t.tm_year, month=t.tm_mon, day=t.tm_mday, hour=t.tm_hour,
                   minute=t.tm_min, second=t.tm_sec, precise=True, sequence=sequence)



_BCD = tuple(Timestamp._bcd(v) for v in range(100))   # 0..99 -> its BCD byte


def timestamp_u64(ts: Timestamp | int) -> int:
    """The wire value of an entry timestamp (a Timestamp, or raw u64 bytes kept verbatim)."""
    return ts if isinstance(ts, int) else ts.to_u64()


def timestamp_from_u64(v: int) -> Timestamp | int:
    """A Timestamp when the bytes are a canonical BCD date, else the raw u64: firmware may
    write any bytes there and a decoder must not reject or alter them."""
    try:
        ts = Timestamp.from_u64(v)
    except UsageError:
        return v
    return ts if ts.to_u64() == v else v


# ---------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------

class Section:
    """Base of every section body. Subclasses set KIND (CLI/JSON name) and GUID."""

    KIND: ClassVar[str]
    GUID: ClassVar[uuid.UUID]
    explicit_validation_bits: int | None = None

    @property
    def validation_bits(self) -> int:
        """The wire validation bits: explicit_validation_bits, or derived from the fields."""
        if self.explicit_validation_bits is not None:
            return self.explicit_validation_bits
        return self.derived_validation_bits()

    def derived_validation_bits(self) -> int:
        return 0

    @property
    def section_type(self) -> uuid.UUID:
        return self.GUID

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.KIND}
        for f in _fields_of(self):
            out[f.name] = _jsonify(getattr(self, f.name))
        return out


def _fields_of(obj: object) -> tuple[dataclasses.Field[Any], ...]:
    """The dataclass fields of a section kind (every kind is a dataclass; Section is not)."""
    if not dataclasses.is_dataclass(obj):
        raise TypeError(f"{obj!r} is not a dataclass section kind")
    return dataclasses.fields(obj)


def _jsonify(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, list):
        return [_jsonify(x) for x in v]
    if dataclasses.is_dataclass(v):
        return {f.name: _jsonify(getattr(v, f.name)) for f in dataclasses.fields(v)}
    return v


# Reserved areas kept by `reserved` (little endian over the spans, in order): (offset, bytes).
RESERVED: dict[str, tuple[tuple[int, int], ...]] = {}   # per kind: its RESERVED_SPANS (register_section)


def reserved_max(kind: str) -> int:
    """The largest `reserved` of a kind: a class's RESERVED_MAX (memory: 3 bits of a byte),
    else from its reserved spans."""
    maximum: int | None = getattr(SECTION_CLASSES.get(kind), "RESERVED_MAX", None)
    if maximum is not None:
        return maximum
    return (1 << (8 * sum(n for _o, n in RESERVED.get(kind, ())))) - 1


@dataclass
class RawSection(Section):
    """Any section type (vendor sections, or a known GUID with hand-made bytes)."""

    KIND: ClassVar[str] = "raw"
    GUID: ClassVar[uuid.UUID] = uuid.UUID(int=0)

    guid: uuid.UUID = uuid.UUID(int=0)
    data: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.guid, uuid.UUID):
            self.guid = parse_guid("guid", self.guid)
        self.data = _check_bytes("data", self.data, maximum=FW_MAX_BLOCK)

    @property
    def section_type(self) -> uuid.UUID:
        return self.guid


FW_MAX_BLOCK = 65536
SECTION_CLASSES: dict[str, type[Section]] = {
    c.KIND: c for c in (RawSection,)
}
# `unknown section kind` lists the older kinds in this order, wherever their classes live
_OLDER_ORDER = ("memory", "arm", "pcie", "processor-generic", "firmware-ref", "raw")


def register_section(cls: type[Section], parts: tuple[type, ...] = ()) -> None:
    """Make a section kind known to section_from_json (records/sections/ registers its
    kinds; a class with a `from_json(dict)` classmethod builds itself from its JSON form).
    An older kind's class (one of _OLDER_ORDER) and the classes of its `parts` (ARM's
    entries and contexts) become attributes of this module by their names (those modules
    import this one, so it cannot import them), and its RESERVED_SPANS go into RESERVED."""
    SECTION_CLASSES[cls.KIND] = cls
    if cls.KIND in _OLDER_ORDER:
        for c in (cls, *parts):
            globals()[c.__name__] = c
        spans = getattr(cls, "RESERVED_SPANS", None)
        if spans:
            RESERVED[cls.KIND] = spans
        rank = {k: i for i, k in enumerate(_OLDER_ORDER)}
        ordered = sorted(SECTION_CLASSES.items(), key=lambda kv: rank.get(kv[0], len(rank)))
        SECTION_CLASSES.clear()
        SECTION_CLASSES.update(ordered)


def parse_guid(name: str, value: object) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise UsageError(name, f"{value!r} is not a GUID (AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE)") from None


# ---------------------------------------------------------------------------------------
# Entry and block
# ---------------------------------------------------------------------------------------

@dataclass
class Entry:
    """A Generic Error Data Entry: its header fields and one section body."""

    section: Section
    severity: int = Severity.RECOVERABLE
    flags: int = FLAG_PRIMARY
    fru_id: uuid.UUID | None = None
    fru_text: bytes | None = None
    timestamp: Timestamp | int | None = None   # int: raw wire bytes that are not a BCD date
    revision: int = 0x0300
    error_data_length: int | None = None  # fault injection only: None = the body's length
    explicit_validation_bits: int | None = None   # None: derived from fru_id/fru_text/timestamp

    def __post_init__(self) -> None:
        sev, flags, rev = self.severity, self.flags, self.revision
        if not ((sev.__class__ is int or sev.__class__ is Severity) and 0 <= sev <= U32):
            self.severity = Severity.parse(sev, "entry.severity")
        if flags.__class__ is not int or not 0 <= flags <= U8:
            _check_range("flags", flags, U8)
        if rev.__class__ is not int or not 0 <= rev <= U16:
            _check_range("revision", rev, U16)
        if self.fru_id is not None:
            self.fru_id = parse_guid("fru_id", self.fru_id)
        if isinstance(self.fru_text, str):
            self.fru_text = self.fru_text.encode()
        if self.fru_text is not None:
            self.fru_text = _check_bytes("fru_text", self.fru_text, maximum=20)
        if isinstance(self.timestamp, dict):
            self.timestamp = Timestamp(**self.timestamp)
        ts = self.timestamp
        if ts is None or ts.__class__ is Timestamp:
            pass
        elif isinstance(ts, int) and not isinstance(ts, bool):
            _check_range("timestamp", ts, U64)
        if ts is not None and self.revision < 0x0300:
            raise UsageError("timestamp", "needs entry revision >= 0x0300 (the 64-byte header has none)")
        if self.error_data_length is not None:
            _check_range("error_data_length", self.error_data_length, U32)
        if self.explicit_validation_bits is not None:
            _check_range("explicit_validation_bits", self.explicit_validation_bits, U8)

    @property
    def validation_bits(self) -> int:
        if self.explicit_validation_bits is not None:
            return self.explicit_validation_bits
        return ((self.fru_id is not None) | (self.fru_text is not None) << 1
                | (self.timestamp is not None) << 2)

    @property
    def header_length(self) -> int:
        return 72 if self.revision >> 8 >= 3 else 64

    def to_json(self) -> dict[str, Any]:
        return {"section": self.section.to_json(), "severity": int(self.severity),
                "flags": self.flags, "fru_id": _jsonify(self.fru_id),
                "fru_text": None if self.fru_text is None else self.fru_text.decode("latin-1"),
                "timestamp": _jsonify(self.timestamp), "revision": self.revision,
                "error_data_length": self.error_data_length,
                "explicit_validation_bits": self.explicit_validation_bits}


SEVERITY_ORDER = (Severity.FATAL, Severity.RECOVERABLE, Severity.CORRECTED, Severity.INFO)


def derived_block_severity(entries: list[Entry]) -> int:
    """The block severity a firmware writes: the worst of its entries' severities."""
    sevs = {int(e.severity) for e in entries}
    if any(s > 3 for s in sevs):
        return max(sevs)
    for s in SEVERITY_ORDER:
        if s in sevs:
            return int(s)
    return int(Severity.INFO)


@dataclass
class StatusBlock:
    """A Generic Error Status Block. `severity` and `block_status` default to the values a
    correct firmware derives; `data_length`/`raw_data_offset` overrides exist only for
    deliberately invalid records (fault injection against the OS)."""

    entries: list[Entry] = field(default_factory=list)
    severity: int | None = None
    block_status: int | None = None
    raw_data: bytes = b""
    data_length: int | None = None
    raw_data_offset: int | None = None
    # bytes between the entries and the raw data, for a raw_data_offset past the entries'
    # end (the kernel accepts it): kept so a decoded block encodes to the same bytes
    raw_gap: bytes = b""

    def __post_init__(self) -> None:
        self.entries = entries = [e if e.__class__ is Entry or isinstance(e, Entry) else entry_from_json(e)
                                  for e in self.entries]
        sev = self.severity
        if sev is None:
            sev = int(entries[0].severity) if len(entries) == 1 else derived_block_severity(entries)
        if not ((sev.__class__ is int or sev.__class__ is Severity) and 0 <= sev <= U32):
            sev = Severity.parse(sev)
        self.severity = sev
        if self.block_status is None:
            if len(entries) == 1:   # auto_block_status of one entry: its UE or CE bit, count 1
                self.block_status = 0x12 if 2 <= entries[0].severity <= 3 else 0x11
            else:
                self.block_status = auto_block_status(sev, entries)
        else:
            _check_range("block_status", self.block_status, U32)
        if self.raw_data.__class__ is not bytes or len(self.raw_data) > FW_MAX_BLOCK:
            self.raw_data = _check_bytes("raw_data", self.raw_data, maximum=FW_MAX_BLOCK)
        if self.data_length is not None:
            _check_range("data_length", self.data_length, U32)
        if self.raw_data_offset is not None:
            _check_range("raw_data_offset", self.raw_data_offset, U32)
        if self.raw_gap.__class__ is not bytes or len(self.raw_gap) > FW_MAX_BLOCK:
            self.raw_gap = _check_bytes("raw_gap", self.raw_gap, maximum=FW_MAX_BLOCK)

    @property
    def forged(self) -> bool:
        """True when the block carries a deliberate fault (not what correct firmware writes)."""
        return (self.data_length is not None or self.raw_data_offset is not None
                or any(e.error_data_length is not None for e in self.entries)
                or self.block_status != auto_block_status(self.wire_severity, self.entries))

    @property
    def wire_severity(self) -> int:
        """The block's error severity as written: the one given, else the entries' worst
        (what __post_init__ sets `severity` to)."""
        sev = self.severity
        return derived_block_severity(self.entries) if sev is None else int(sev)

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.wire_severity, "block_status": self.block_status,
                "raw_data": self.raw_data.hex(), "data_length": self.data_length,
                "raw_data_offset": self.raw_data_offset,
                **({"raw_gap": self.raw_gap.hex()} if self.raw_gap else {}),
                "entries": [e.to_json() for e in self.entries]}


def _correctable(severity: int) -> bool:
    return severity in (Severity.CORRECTED, Severity.INFO)


def auto_block_status(severity: int, entries: list[Entry]) -> int:
    """Block Status as ACPI 6.5 Table 18.11 defines it, from the entries' severities:
    bit 0 uncorrectable valid (a recoverable, fatal or unknown-severity entry), bit 1
    correctable valid (a corrected or informational entry), bit 2 more than one
    uncorrectable, bit 3 more than one correctable, bits 13:4 the entry count (saturating
    at 0x3FF). With no entries, bit 0 or 1 from the block `severity` (so it is non-zero).
    The C core computes the same (fw_auto_block_status)."""
    if not entries:
        return 0x2 if _correctable(severity) else 0x1
    ce = 0
    for e in entries:
        if 2 <= e.severity <= 3:   # CORRECTED, INFO (as _correctable; no enum lookups)
            ce += 1
    ue = len(entries) - ce
    return ((ue > 0) | (ce > 0) << 1 | (ue > 1) << 2 | (ce > 1) << 3
            | min(len(entries), 0x3FF) << 4)


def section_from_json(d: dict[str, Any]) -> Section:
    d = dict(d)
    kind = d.pop("kind", None)
    cls = SECTION_CLASSES.get(kind)
    if cls is None:
        raise UsageError("section.kind", f"unknown section kind {kind!r} ({', '.join(SECTION_CLASSES)})")
    from_json = getattr(cls, "from_json", None)   # a kind that builds itself from its JSON
    if from_json is not None:
        sec: Section = from_json(d)
        return sec
    names = {f.name for f in _fields_of(cls)}
    unknown = set(d) - names
    if unknown:
        raise UsageError(f"section.{sorted(unknown)[0]}", f"not a field of a {kind} section")
    for k in ("vendor", "trailing", "data", "capability", "aer_info", "cpu_brand"):
        if isinstance(d.get(k), str):
            try:
                d[k] = bytes.fromhex(d[k])
            except ValueError:
                raise UsageError(k, "must be hex text") from None
    parts = getattr(cls, "json_parts", None)   # a kind with parts of its own (ARM)
    if parts is not None:
        parts(d)
    try:
        return cls(**d)
    except TypeError as exc:
        raise UsageError("section", str(exc)) from None


def _hex(v: object, name: str) -> bytes:
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if not isinstance(v, str):
        raise UsageError(name, "must be hex text")
    try:
        return bytes.fromhex(v)
    except ValueError:
        raise UsageError(name, "must be hex text") from None


def entry_from_json(d: dict[str, Any]) -> Entry:
    d = dict(d)
    d["section"] = section_from_json(d["section"])
    if isinstance(d.get("fru_text"), str):   # to_json writes the bytes as latin-1 text
        d["fru_text"] = d["fru_text"].encode("latin-1")
    if isinstance(d.get("timestamp"), dict):
        d["timestamp"] = Timestamp(**d["timestamp"])
    return Entry(**d)


def block_from_json(d: dict[str, Any]) -> StatusBlock:
    d = dict(d)
    d["raw_data"] = bytes.fromhex(d.get("raw_data", ""))
    d["raw_gap"] = bytes.fromhex(d.get("raw_gap", ""))
    d["entries"] = [entry_from_json(e) for e in d.get("entries", [])]
    return StatusBlock(**d)
