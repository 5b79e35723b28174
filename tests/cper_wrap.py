"""Re-frame a GHES error status block as a full CPER record (cper-layouts.md §10).

Decoders of full records (PyPI `cper`, libcper, ERST) do not read the GHES format; this
walks the status block's entries itself (no fwemu code involved) and writes a 128-byte
record header, one 72-byte section descriptor per entry, then the payloads.
"""

from __future__ import annotations

import struct
import uuid

# Notification types (§4)
NOTIFY_CMC = uuid.UUID("2DCE8BB1-BDD7-450E-B9AD-9CF4EBD4F890")
NOTIFY_MCE = uuid.UUID("E8F56FFE-919C-4CC5-BA88-65ABE14913BB")
NOTIFY_SEA = uuid.UUID("9A78788A-BBE8-11E4-809E-67611E5D46B0")

RECORD_HDR_FMT = "<4sHIHIIIQ16s16s16s16sQIQ12x"
DESCRIPTOR_FMT = "<IIHBBI16s16sI20s"
assert struct.calcsize(RECORD_HDR_FMT) == 128
assert struct.calcsize(DESCRIPTOR_FMT) == 72


def gesb_entries(buf: bytes) -> list[dict]:
    """The GDEs of a (valid) status block: header fields and payload bytes."""
    _bs, _ro, _rl, data_length, _sev = struct.unpack_from("<IIIII", buf, 0)
    off, end, out = 20, 20 + data_length, []
    while off < end:
        (guid, sev, rev, vbits, flags, elen, fru_id, fru_text) = struct.unpack_from(
            "<16sIHBBI16s20s", buf, off)
        hlen = 72 if rev >> 8 >= 3 else 64
        ts = struct.unpack_from("<Q", buf, off + 64)[0] if hlen == 72 else 0
        out.append({"guid": uuid.UUID(bytes_le=guid), "severity": sev, "revision": rev,
                    "validation_bits": vbits, "flags": flags, "fru_id": fru_id,
                    "fru_text": fru_text, "timestamp": ts,
                    "payload": buf[off + hlen: off + hlen + elen]})
        off += hlen + elen
    return out


def wrap_record(buf: bytes, notification: uuid.UUID | None = None, record_id: int = 1) -> bytes:
    """A full CPER record holding the same sections as the status block `buf`."""
    severity = struct.unpack_from("<I", buf, 16)[0]
    entries = gesb_entries(buf)
    if notification is None:
        notification = NOTIFY_CMC if severity == 2 else NOTIFY_MCE
    n = len(entries)
    offset = 128 + 72 * n
    descriptors, payloads = b"", b""
    for e in entries:
        descriptors += struct.pack(
            DESCRIPTOR_FMT, offset, len(e["payload"]), 0x0100, e["validation_bits"] & 0x3, 0,
            e["flags"], e["guid"].bytes_le, e["fru_id"], e["severity"], e["fru_text"])
        payloads += e["payload"]
        offset += len(e["payload"])
    header = struct.pack(
        RECORD_HDR_FMT, b"CPER", 0x0100, 0xFFFFFFFF, n, severity, 0, offset, 0,
        bytes(16), bytes(16), bytes(16), notification.bytes_le, record_id, 0, 0)
    return header + descriptors + payloads
