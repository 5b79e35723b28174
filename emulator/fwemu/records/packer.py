"""The fast encoder behind `records.encode`: model -> status block bytes with one
precompiled `struct.Struct` per wire structure (the section bodies' are in their
records/sections/ modules), no intermediate dicts or cffi objects.

The C core (`codec.encode_c`, `csrc/cper.c`) stays the reference: tests/unit/test_packer.py
checks that both give the same bytes for random models of every kind, and a section type
this module has no packer for (a subclass, say) is encoded by the C path. Firmware written
in C uses the C encoders (`fw_encode_block`).

Layouts: shared/reference/cper-layouts.md (header §2, GDE §3, sections §5-§9).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from ..errors import CoreError
from . import model as m
from . import sections

_ZERO16 = bytes(16)

HEADER = struct.Struct("<5I")                   # block_status, raw off, raw len, data len, sev
GDE_V3 = struct.Struct("<16sIHBBI16s20sQ")      # 72 bytes: with the timestamp
GDE_V2 = struct.Struct("<16sIHBBI16s20s")       # 64 bytes: revision < 0x0300


def _raw(s: m.RawSection) -> bytes:
    return bytes(s.data)


# the older kinds' encoders (records/sections/), and raw bytes
BODY: dict[type, Callable] = {mod.Section: mod.encode for mod in sections.OLDER}
BODY[m.RawSection] = _raw
# Section type GUIDs on the wire, per class (uuid.bytes_le builds new bytes on each call).
_GUID_LE: dict[type, bytes] = {}


def body(s: m.Section, fallback: Callable[[m.Section], bytes]) -> bytes:
    """A section's body bytes; `fallback` encodes what no packer here knows."""
    pack = BODY.get(type(s))
    if pack is not None:
        return pack(s)
    if sections.is_section(s):     # the newer kinds encode themselves (records/sections/)
        return s.encode()          # type: ignore[attr-defined]
    return fallback(s)


def _guid_le(s: m.Section) -> bytes:
    cls = type(s)
    if isinstance(s, m.RawSection):     # its GUID is the instance's
        return s.section_type.bytes_le
    g = _GUID_LE.get(cls)
    if g is None:
        g = _GUID_LE[cls] = s.section_type.bytes_le
    return g


# The wire value of the last Timestamp seen (frozen: the same object, the same value).
_last_ts: tuple[object, int] = (None, 0)


def _stamp(ts) -> int:
    global _last_ts
    if ts is None:
        return 0
    if ts.__class__ is int:
        return ts
    last = _last_ts
    if last[0] is ts:
        return last[1]
    v = m.timestamp_u64(ts)
    _last_ts = (ts, v)
    return v


def block(b: m.StatusBlock, fallback: Callable[[m.Section], bytes]) -> bytes:
    """The status block's bytes, as fw_estatus_assemble writes them."""
    parts = [b""]
    data_len = 0
    for e in b.entries:
        sec = e.section
        pack = BODY.get(sec.__class__)
        data = body(sec, fallback) if pack is None else pack(sec)
        n = len(data)
        fru, text, ts, rev = e.fru_id, e.fru_text, e.timestamp, e.revision
        bits = e.explicit_validation_bits
        if bits is None:   # Entry.validation_bits, inline
            bits = (fru is not None) | (text is not None) << 1 | (ts is not None) << 2
        if e.error_data_length is not None:
            n = e.error_data_length
        if rev >= 0x0300:
            hdr = GDE_V3.pack(_GUID_LE.get(sec.__class__) or _guid_le(sec), e.severity, rev, bits,
                              e.flags, n, _ZERO16 if fru is None else fru.bytes_le, text or b"",
                              _stamp(ts))
        else:
            hdr = GDE_V2.pack(_guid_le(sec), e.severity, rev, bits, e.flags, n,
                              _ZERO16 if fru is None else fru.bytes_le, text or b"")
        parts.append(hdr)
        parts.append(data)
        data_len += len(hdr) + len(data)
    raw = b.raw_data
    if b.raw_data_offset is not None:
        raw_off = b.raw_data_offset
    else:
        raw_off = 20 + data_len if raw else 0
    parts[0] = HEADER.pack(b.block_status, raw_off, len(raw),
                           data_len if b.data_length is None else b.data_length, b.severity)
    if b.raw_gap:            # the bytes between the entries and a raw_data_offset past them
        parts.append(b.raw_gap)
    parts.append(raw)
    out = b"".join(parts)
    if len(out) > 0x7FFF_FFFF:
        raise CoreError("C core refused status block (code -2)")
    return out
