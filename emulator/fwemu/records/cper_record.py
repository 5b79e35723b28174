"""Full UEFI CPER records (UEFI 2.10 N.2.1 record header, N.2.2 section descriptors) and
their mapping to and from GHES error status blocks.

A status block (GESB + Generic Error Data Entries) and a CPER record carry the same
sections, framed differently. Each form has fields the other lacks:

  * record only: record id, creator/platform/partition id, notification type, record flags,
    persistence information, the header and descriptor revisions. block -> record takes
    them from `HeaderOptions` (defaults below); record -> block drops them.
  * block only: block_status (derived from the entries by firmware: kept when it is), the
    raw data area, the entry revision (0x0300 by default) and one timestamp per entry (the
    record has one, in its header). block -> record refuses what it cannot carry, naming
    the field: raw data, a block_status the entries do not give, entries with different
    timestamps or revisions, GDE validation bits past bit 2.

Both directions keep every section body byte for byte; block -> record -> block gives the
same bytes whenever block -> record succeeds.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

from ..errors import UsageError
from . import codec
from . import model as m

HEADER = struct.Struct("<4sHIHIIIQ16s16s16s16sQIQ12s")   # 128 bytes, N.2.1
DESCRIPTOR = struct.Struct("<IIHBBI16s16sI20s")            # 72 bytes, N.2.2
GESB = struct.Struct("<IIIII")                             # ACPI 6.5 18.3.2.7.1
GDE = struct.Struct("<16sIHBBI16s20s")                     # 64 bytes (+ u64 timestamp at rev >= 0x300)
SIGNATURE, SIGNATURE_END = b"CPER", 0xFFFFFFFF
HDR_PLATFORM_ID, HDR_TIMESTAMP, HDR_PARTITION_ID = 1, 2, 4
GDE_TIMESTAMP = 4
ZERO = uuid.UUID(int=0)

# Notification types of the record header (UEFI N.2.1.1; SEA/SEI/PEI from edk2's Cper.h)
NOTIFY = {
    "cmc": uuid.UUID("2DCE8BB1-BDD7-450E-B9AD-9CF4EBD4F890"),
    "cpe": uuid.UUID("4E292F96-D843-4A55-A8C2-D481F27EBEEE"),
    "mce": uuid.UUID("E8F56FFE-919C-4CC5-BA88-65ABE14913BB"),
    "pcie": uuid.UUID("CF93C01F-1A16-4DFC-B8BC-9C4DAF67C104"),
    "init": uuid.UUID("CC5263E8-9308-454A-89D0-340BD39BC98E"),
    "nmi": uuid.UUID("5BAD89FF-B7E6-42C9-814A-CF2485D6E98A"),
    "boot": uuid.UUID("3D61A466-AB40-409A-A698-F362D464B38F"),
    "dmar": uuid.UUID("667DD791-C6B3-4C27-8A6B-0F8E722DEB41"),
    "sea": uuid.UUID("9A78788A-BBE8-11E4-809E-67611E5D46B0"),
    "sei": uuid.UUID("5C284C81-B0AE-4E87-A322-B04C85624323"),
    "pei": uuid.UUID("09A9D5AC-5204-4214-96E5-94992E752BCD"),
}


def parse_notification(text: str) -> uuid.UUID:
    """A notification type by name (cmc, mce, sea, ...) or GUID."""
    name = text.strip().lower()
    if name in NOTIFY:
        return NOTIFY[name]
    try:
        return uuid.UUID(name)
    except ValueError:
        raise UsageError("--notification", f"{text!r} is neither a GUID nor one of "
                         f"{', '.join(NOTIFY)}") from None


@dataclass
class HeaderOptions:
    """Record-header fields a status block lacks (block -> record). `notification` None:
    CMC for a corrected or informational block, MCE otherwise (what Linux's own
    record-makers and tests/cper_wrap.py use). `timestamp` None: the entries' timestamp
    (when they carry one, with the header's timestamp bit); "none": no header timestamp;
    an int: that wire u64."""

    record_id: int = 1
    creator_id: uuid.UUID = ZERO
    platform_id: uuid.UUID | None = None
    partition_id: uuid.UUID | None = None
    notification: uuid.UUID | None = None
    flags: int = 0
    persistence: int = 0
    timestamp: int | str | None = None
    revision: int = 0x0100
    section_revision: int = 0x0100


@dataclass
class CperSection:
    """One section descriptor's fields and its body. fru_id/fru_text are the wire bytes."""

    section_type: uuid.UUID
    body: bytes
    severity: int = 0
    flags: int = m.FLAG_PRIMARY
    validation_bits: int = 0
    fru_id: bytes = bytes(16)
    fru_text: bytes = bytes(20)
    revision: int = 0x0100
    reserved: int = 0


@dataclass
class CperRecord:
    """A full CPER record: the header's fields and its sections, in descriptor order."""

    severity: int
    sections: list[CperSection] = field(default_factory=list)
    validation_bits: int = 0
    timestamp: int = 0
    platform_id: bytes = bytes(16)
    partition_id: bytes = bytes(16)
    creator_id: bytes = bytes(16)
    notification: uuid.UUID = NOTIFY["mce"]
    record_id: int = 1
    flags: int = 0
    persistence: int = 0
    revision: int = 0x0100
    reserved: bytes = bytes(12)

    def encode(self) -> bytes:
        """The record's bytes: header, descriptors, then the bodies back to back."""
        n = len(self.sections)
        off = HEADER.size + DESCRIPTOR.size * n
        descs = b""
        for s in self.sections:
            descs += DESCRIPTOR.pack(off, len(s.body), s.revision, s.validation_bits, s.reserved,
                                     s.flags, s.section_type.bytes_le, s.fru_id, s.severity, s.fru_text)
            off += len(s.body)
        head = HEADER.pack(SIGNATURE, self.revision, SIGNATURE_END, n, self.severity,
                           self.validation_bits, off, self.timestamp, self.platform_id,
                           self.partition_id, self.creator_id, self.notification.bytes_le,
                           self.record_id, self.flags, self.persistence, self.reserved)
        return head + descs + b"".join(s.body for s in self.sections)


def is_record(data: bytes) -> bool:
    return len(data) >= HEADER.size and data[:4] == SIGNATURE


def decode_record(data: bytes) -> CperRecord:
    """A record's fields; UsageError naming the field when the bytes are not one."""
    if len(data) < HEADER.size:
        raise UsageError("record", f"{len(data)} bytes: shorter than the 128-byte record header")
    (sig, rev, sig_end, n, sev, vbits, length, ts, plat, part, creator, notify, rid, flags,
     persist, resv) = HEADER.unpack_from(data)
    if sig != SIGNATURE or sig_end != SIGNATURE_END:
        raise UsageError("record", "no CPER signature (\"CPER\" at 0, 0xFFFFFFFF at 6)")
    if length > len(data):
        raise UsageError("record_length", f"{length} but the input holds {len(data)} bytes")
    if HEADER.size + DESCRIPTOR.size * n > length:
        raise UsageError("section_count", f"{n} descriptors do not fit in record_length {length}")
    rec = CperRecord(severity=sev, validation_bits=vbits, timestamp=ts, platform_id=plat,
                     partition_id=part, creator_id=creator, notification=uuid.UUID(bytes_le=notify),
                     record_id=rid, flags=flags, persistence=persist, revision=rev, reserved=resv)
    for i in range(n):
        (off, slen, srev, svb, sres, sflags, stype, fru_id, ssev, fru_text) = DESCRIPTOR.unpack_from(
            data, HEADER.size + DESCRIPTOR.size * i)
        if off + slen > length:
            raise UsageError(f"section {i}", f"offset {off} + length {slen} is past record_length {length}")
        rec.sections.append(CperSection(uuid.UUID(bytes_le=stype), bytes(data[off:off + slen]), ssev,
                                        sflags, svb, fru_id, fru_text, srev, sres))
    return rec


# ---- status block -> record --------------------------------------------------------

@dataclass
class _Gde:
    section: CperSection
    revision: int
    gde_bits: int
    timestamp: int | None     # None: a 64-byte header (revision < 0x300)


def block_entries(raw: bytes) -> tuple[int, int, list[_Gde], bytes]:
    """(block_status, severity, entries, raw data) of a block the kernel can read."""
    v = codec.check(raw)
    if v.rule == "G3" and len(raw) >= GESB.size:     # withdrawn (block_status 0): read it anyway
        v = codec.check(b"\x01\0\0\0" + raw[4:])
    if not v.valid:
        raise UsageError("block", f"not a readable status block: {v.explain()}")
    status, raw_off, raw_len, data_len, sev = GESB.unpack_from(raw)
    off, end, out = GESB.size, GESB.size + data_len, []
    while off < end:
        stype, esev, rev, vbits, flags, elen, fru_id, fru_text = GDE.unpack_from(raw, off)
        hlen = GDE.size + (8 if rev >> 8 >= 3 else 0)
        ts = struct.unpack_from("<Q", raw, off + GDE.size)[0] if hlen > GDE.size else None
        body = bytes(raw[off + hlen:off + hlen + elen])
        sec = CperSection(uuid.UUID(bytes_le=stype), body, esev, flags, vbits & 3, fru_id, fru_text)
        out.append(_Gde(sec, rev, vbits, ts))
        off += hlen + elen
    return status, sev, out, bytes(raw[raw_off:raw_off + raw_len]) if raw_len else b""


def block_to_record(raw: bytes, opts: HeaderOptions | None = None) -> CperRecord:
    """The CPER record holding a status block's sections (see the module doc for what is
    refused)."""
    opts = opts or HeaderOptions()
    status, sev, gdes, raw_data = block_entries(raw)
    if raw_data:
        raise UsageError("raw_data", f"the block has {len(raw_data)} bytes of raw data; "
                         "a CPER record has no place for them")
    if raw[4:8] != bytes(4):    # firmware writes 0 with no raw data (the C core does too)
        raise UsageError("raw_data_offset", f"{struct.unpack_from('<I', raw, 4)[0]:#x} with no raw data; "
                         "a CPER record cannot keep it")
    revs = {g.revision for g in gdes}
    if len(revs) > 1:
        raise UsageError("revision", f"the entries have different revisions ({', '.join(map(hex, sorted(revs)))}); "
                         "a record does not carry them and converts back with one")
    for i, g in enumerate(gdes):
        if g.gde_bits & ~7:
            raise UsageError(f"entry {i}", f"validation bits {g.gde_bits:#x}: bits past 2 have no place in a record")
        g.section.revision = opts.section_revision
    stamps = {g.timestamp if g.gde_bits & GDE_TIMESTAMP else None for g in gdes}
    if len(stamps) > 1:
        raise UsageError("timestamp", "the entries carry different timestamps; a record has one (in its header)")
    stray = [i for i, g in enumerate(gdes) if not g.gde_bits & GDE_TIMESTAMP and g.timestamp]
    if stray:
        raise UsageError(f"entry {stray[0]}", "timestamp bytes without the timestamp bit: a record cannot keep them")
    ts = stamps.pop() if stamps else None
    if opts.timestamp == "none":
        ts = None
    elif isinstance(opts.timestamp, int):
        ts = opts.timestamp
    entries = [m.Entry(m.RawSection(guid=g.section.section_type), severity=g.section.severity) for g in gdes]
    if status != m.auto_block_status(sev, entries):
        raise UsageError("block_status", f"{status:#x} is not what the entries give "
                         f"({m.auto_block_status(sev, entries):#x}); a record does not carry it")
    notify = opts.notification or NOTIFY["cmc" if sev in (2, 3) else "mce"]
    vbits = ((opts.platform_id is not None) * HDR_PLATFORM_ID | (ts is not None) * HDR_TIMESTAMP
             | (opts.partition_id is not None) * HDR_PARTITION_ID)
    return CperRecord(severity=sev, sections=[g.section for g in gdes], validation_bits=vbits,
                      timestamp=ts or 0, platform_id=(opts.platform_id or ZERO).bytes_le,
                      partition_id=(opts.partition_id or ZERO).bytes_le,
                      creator_id=opts.creator_id.bytes_le, notification=notify,
                      record_id=opts.record_id, flags=opts.flags, persistence=opts.persistence,
                      revision=opts.revision)


# ---- record -> status block --------------------------------------------------------

def record_to_block(rec: CperRecord, entry_revision: int = 0x0300) -> bytes:
    """The status block holding a record's sections: one entry per section, of
    `entry_revision`; the header's timestamp (when its bit is set) goes into every entry
    (refused for a revision below 0x300, which has no timestamp); block_status is what
    firmware derives from the entries."""
    ts = rec.timestamp if rec.validation_bits & HDR_TIMESTAMP else None
    if ts is not None and entry_revision >> 8 < 3:
        raise UsageError("--entry-revision", f"{entry_revision:#x} entries have no timestamp, and the "
                         "record has one (0x300 or above keeps it)")
    entries = []
    for i, s in enumerate(rec.sections):
        if s.flags > 0xFF:
            raise UsageError(f"section {i}", f"flags {s.flags:#x}: an entry's flags are one byte")
        if s.validation_bits & ~3:
            raise UsageError(f"section {i}", f"validation bits {s.validation_bits:#x}: "
                             "an entry has no bits for those past 1")
        has_ts = ts is not None and entry_revision >> 8 >= 3
        entries.append(m.Entry(
            section=m.RawSection(guid=s.section_type, data=s.body), severity=s.severity,
            flags=s.flags, revision=entry_revision, fru_id=uuid.UUID(bytes_le=s.fru_id),
            fru_text=s.fru_text.rstrip(b"\0"),
            timestamp=m.timestamp_from_u64(ts) if has_ts and ts is not None else None,
            explicit_validation_bits=s.validation_bits | (GDE_TIMESTAMP if has_ts else 0)))
    return codec.encode(m.StatusBlock(entries=entries, severity=rec.severity))
