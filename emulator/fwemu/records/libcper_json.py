"""OpenBMC libcper's JSON form of a full CPER record (what `cper.parse` on PyPI, libcper's
decoder, returns): `{"header": …, "sectionDescriptors": [...], "sections": [...]}`.

Written from libcper's schema and decoder (the source of PyPI `cper` 0.0.4): header and
descriptor fields, each section as `{ShortName: {...}}`, a section libcper has no decoder
for as `{"Unknown": {"data": base64}}`. The JSON is lossy by design: libcper writes a field
only when its validation bit is set, drops the timestamp's reserved flag bits, and shows
the FRU text only when it is printable. So every conversion is checked by converting back:
bytes -> JSON is refused (naming the section) when the JSON would not give the same bytes,
and JSON -> bytes follows the reading that makes fwemu's own records come back exactly
(e.g. a memory bank group/address of 0 is absent, not "set to 0").

Sections: those of libcper_sections.KINDS (each written as libcper writes it and read as
libcper reads it) and any section libcper does not decode (raw, base64).
"""

from __future__ import annotations

import uuid

from ..errors import UsageError
from . import libcper_sections as ls
from .cper_record import HDR_PARTITION_ID, HDR_PLATFORM_ID, HDR_TIMESTAMP, NOTIFY, CperRecord, CperSection
from .libcper_base import SECTIONS
from .libcper_base import get as _get
from .libcper_base import int_ as _int

SEVERITY_NAMES = ("Recoverable", "Fatal", "Corrected", "Informational")
NOTIFY_NAMES = {NOTIFY["cmc"]: "CMC", NOTIFY["cpe"]: "CPE", NOTIFY["mce"]: "MCE", NOTIFY["pcie"]: "PCIe",
                NOTIFY["init"]: "INIT", NOTIFY["nmi"]: "NMI", NOTIFY["boot"]: "Boot",
                NOTIFY["dmar"]: "DMAr", NOTIFY["sea"]: "SEA", NOTIFY["sei"]: "SEI", NOTIFY["pei"]: "PEI",
                uuid.UUID("69293BC9-41DF-49A3-B4BD-4FB0DB3041F6"): "CXL Component"}
RECORD_FLAGS = {1: "HW_ERROR_FLAGS_RECOVERED", 2: "HW_ERROR_FLAGS_PREVERR", 4: "HW_ERROR_FLAGS_SIMULATED"}
DESC_FLAGS = ("primary", "containmentWarning", "reset", "errorThresholdExceeded",
              "resourceNotAccessible", "latentError", "propagated", "overflow")



def _severity(code: int) -> dict:
    return {"code": code, "name": SEVERITY_NAMES[code] if code < 4 else "Unknown"}


def _revision(rev: int) -> dict:
    return {"major": rev >> 8, "minor": rev & 0xFF}


def _guid(raw: bytes) -> str:
    return str(uuid.UUID(bytes_le=raw))


def _bcd(b: int) -> int:
    return (b >> 4) * 10 + (b & 0xF)


def timestamp_text(ts: int) -> str | None:
    """libcper's timestamp string, or None where libcper leaves the timestamp out."""
    sec, mi, hr, _flag, day, mon, yr, cent = ts.to_bytes(8, "little")
    c, y, mo, d, h, mn, s = (_bcd(cent) % 100, _bcd(yr) % 100, _bcd(mon), _bcd(day), _bcd(hr),
                             _bcd(mi), _bcd(sec))
    if mo > 12 or d > 31 or h > 24 or mn > 60 or s >= 60:
        return None
    return f"{c:02d}{y:02d}-{mo:02d}-{d:02d}T{h:02d}:{mn:02d}:{s:02d}+00:00"


def _printable(raw: bytes) -> str | None:
    text = raw.split(b"\0", 1)[0]
    return text.decode("ascii") if all(0x20 <= c < 0x7F for c in text) else None


# ---- record -> JSON ------------------------------------------------------------------

def header_json(rec: CperRecord, length: int) -> dict:
    h: dict = {"revision": _revision(rec.revision), "sectionCount": len(rec.sections),
               "severity": _severity(rec.severity), "recordLength": length}
    if rec.validation_bits & HDR_TIMESTAMP:
        text = timestamp_text(rec.timestamp)
        if text is not None:
            h["timestamp"] = text
            h["timestampIsPrecise"] = bool(rec.timestamp >> 24 & 0xFF)
    if rec.validation_bits & HDR_PLATFORM_ID:
        h["platformID"] = _guid(rec.platform_id)
    if rec.validation_bits & HDR_PARTITION_ID:
        h["partitionID"] = _guid(rec.partition_id)
    h["creatorID"] = _guid(rec.creator_id)
    h["notificationType"] = {"guid": str(rec.notification), "type": NOTIFY_NAMES.get(rec.notification, "Unknown")}
    h["recordID"] = rec.record_id
    h["flags"] = {"value": rec.flags, "name": RECORD_FLAGS.get(rec.flags, "Unknown")}
    h["persistenceInfo"] = rec.persistence
    return h


def descriptor_json(s: CperSection, offset: int) -> dict:
    d: dict = {"sectionOffset": offset, "sectionLength": len(s.body), "revision": _revision(s.revision),
               "flags": {name: bool(s.flags >> i & 1) for i, name in enumerate(DESC_FLAGS)},
               "sectionType": {"data": str(s.section_type),
                               "type": SECTIONS.get(s.section_type, ("Unknown", None))[0]}}
    if s.validation_bits & 1:
        d["fruID"] = _guid(s.fru_id)
    if s.validation_bits & 2:
        text = _printable(s.fru_text)
        if text is not None:
            d["fruText"] = text
    d["severity"] = _severity(s.severity)
    return d


def record_to_json(rec: CperRecord) -> dict:
    """libcper's JSON for a record; UsageError naming the section when fwemu cannot write
    it (a kind not converted yet) or when the JSON would not convert back to the bytes."""
    raw = rec.encode()
    off = 128 + 72 * len(rec.sections)
    descs, secs = [], []
    for i, s in enumerate(rec.sections):
        descs.append(descriptor_json(s, off))
        off += len(s.body)
        secs.append(ls.section_json(i, s.section_type, s.body))
    doc = {"header": header_json(rec, len(raw)), "sectionDescriptors": descs, "sections": secs}
    back = json_to_record(doc).encode()
    if back != raw:
        at = next((i for i, (a, b) in enumerate(zip(back, raw, strict=False)) if a != b),
                  min(len(back), len(raw)))
        where, rel = _where(rec, at)
        raise UsageError(where, "libcper's JSON cannot carry these bytes: they would convert back "
                         f"different from byte {rel} on (a field without its validation bit, "
                         "reserved bits, a timestamp's reserved flag bits, unprintable text, ...)")
    return doc


def _where(rec: CperRecord, at: int) -> tuple[str, int]:
    """What byte `at` of the record belongs to, and its offset there."""
    off = 128 + 72 * len(rec.sections)
    if at < 128:
        return "record header", at
    if at < off:
        return f"section {(at - 128) // 72} descriptor", (at - 128) % 72
    for i, s in enumerate(rec.sections):
        if at < off + len(s.body):
            return f"section {i} ({SECTIONS.get(s.section_type, ('raw', None))[0]})", at - off
        off += len(s.body)
    return f"section {len(rec.sections) - 1}", at - off


# ---- JSON -> record ------------------------------------------------------------------

def _uuid(d, key: str, where: str) -> uuid.UUID:
    v = _get(d, key, where)
    try:
        return uuid.UUID(str(v))
    except ValueError:
        raise UsageError(f"{where}.{key}", f"{v!r} is not a GUID") from None


def _rev(d, where: str) -> int:
    r = _get(d, "revision", where)
    return _int(r, "major", f"{where}.revision", 0xFF) << 8 | _int(r, "minor", f"{where}.revision", 0xFF)


def parse_timestamp(text, precise: bool, where: str) -> int:
    try:
        date, _t, rest = str(text).partition("T")
        c, y, mo, d = int(date[:2]), int(date[2:4]), int(date[5:7]), int(date[8:10])
        h, mn, s = (int(x) for x in rest.removesuffix("+00:00").split(":"))
    except ValueError:
        raise UsageError(where, f"{text!r} is not libcper's YYYY-MM-DDThh:mm:ss+00:00") from None
    parts = [s, mn, h, int(precise), d, mo, y, c]
    if not all(0 <= p <= 99 for p in parts):
        raise UsageError(where, f"{text!r} is out of range")
    return int.from_bytes(bytes(p if i == 3 else (p // 10) << 4 | p % 10 for i, p in enumerate(parts)), "little")


def json_to_record(doc: dict) -> CperRecord:
    """The record a libcper JSON describes; UsageError naming the field when it is not one."""
    h = _get(doc, "header", "json")
    descs = _get(doc, "sectionDescriptors", "json")
    secs = _get(doc, "sections", "json")
    if not isinstance(h, dict):
        raise UsageError("header", "must be an object")
    if not isinstance(descs, list) or not isinstance(secs, list) or len(descs) != len(secs):
        raise UsageError("sections", "sectionDescriptors and sections must be lists of one length")
    if not all(isinstance(d, dict) for d in descs):
        raise UsageError("sectionDescriptors", "must hold objects")
    vbits, ts = 0, 0
    if "timestamp" in h:
        vbits |= HDR_TIMESTAMP
        ts = parse_timestamp(h["timestamp"], bool(h.get("timestampIsPrecise")), "header.timestamp")
    plat = part = bytes(16)
    if "platformID" in h:
        vbits |= HDR_PLATFORM_ID
        plat = _uuid(h, "platformID", "header").bytes_le
    if "partitionID" in h:
        vbits |= HDR_PARTITION_ID
        part = _uuid(h, "partitionID", "header").bytes_le
    rec = CperRecord(severity=_int(_get(h, "severity", "header"), "code", "header.severity", 0xFFFFFFFF),
                     validation_bits=vbits, timestamp=ts, platform_id=plat, partition_id=part,
                     creator_id=_uuid(h, "creatorID", "header").bytes_le,
                     notification=_uuid(_get(h, "notificationType", "header"), "guid", "header.notificationType"),
                     record_id=_int(h, "recordID", "header", (1 << 64) - 1),
                     flags=_int(_get(h, "flags", "header"), "value", "header.flags", 0xFFFFFFFF),
                     persistence=_int(h, "persistenceInfo", "header", (1 << 64) - 1),
                     revision=_rev(h, "header"))
    for i, (d, body_json) in enumerate(zip(descs, secs, strict=True)):
        where = f"sectionDescriptors[{i}]"
        stype = _uuid(_get(d, "sectionType", where), "data", f"{where}.sectionType")
        flags = _get(d, "flags", where)
        svb, fru_id, fru_text = 0, bytes(16), bytes(20)
        if "fruID" in d:
            svb |= 1
            fru_id = _uuid(d, "fruID", where).bytes_le
        if "fruText" in d:
            svb |= 2
            raw = str(d["fruText"]).encode("ascii", "replace")
            if len(raw) > 20:
                raise UsageError(f"{where}.fruText", f"is {len(raw)} characters; the field holds 20")
            fru_text = raw.ljust(20, b"\0")
        rec.sections.append(CperSection(
            stype, ls.section_bytes(i, stype, body_json),
            _int(_get(d, "severity", where), "code", f"{where}.severity", 0xFFFFFFFF),
            sum(1 << b for b, name in enumerate(DESC_FLAGS) if isinstance(flags, dict) and flags.get(name)),
            svb, fru_id, fru_text, _rev(d, where)))
    return rec
