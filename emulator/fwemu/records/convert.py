"""`fwemu record convert`'s logic: one record between its three forms.

  block         a GHES generic error status block (fwemu's native form, `record build`'s)
  cper          a full UEFI CPER record (records/cper_record.py)
  libcper-json  OpenBMC libcper's JSON of a full record (records/libcper_json.py)

Every conversion goes through the full record; what a form lacks comes from
`HeaderOptions` (block -> record) or `entry_revision` (record -> block).
"""

from __future__ import annotations

import json

from ..errors import UsageError
from . import cper_record as cr
from . import libcper_json as lj

FORMS = ("block", "cper", "libcper-json")


def detect(data: bytes) -> str:
    """The form of input bytes: "CPER" at 0 is a record, `{` a JSON text, else a block
    (a block starts with block_status, never the bytes "CPER" in one the kernel reads)."""
    if cr.is_record(data):
        return "cper"
    if data.lstrip()[:1] == b"{":
        return "libcper-json"
    return "block"


def to_record(data: bytes, form: str, opts: cr.HeaderOptions) -> cr.CperRecord:
    if form == "block":
        return cr.block_to_record(data, opts)
    if form == "cper":
        return cr.decode_record(data)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UsageError("FILE", f"is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise UsageError("FILE", "is not a libcper JSON object (header, sectionDescriptors, sections)")
    return lj.json_to_record(doc)


def from_record(rec: cr.CperRecord, form: str, entry_revision: int = 0x0300) -> bytes:
    if form == "block":
        return cr.record_to_block(rec, entry_revision)
    if form == "cper":
        return rec.encode()
    return (json.dumps(lj.record_to_json(rec), indent=1) + "\n").encode()


def convert(data: bytes, src: str, dst: str, opts: cr.HeaderOptions | None = None,
            entry_revision: int = 0x0300) -> bytes:
    """`data` in form `src` as form `dst` (bytes; JSON as UTF-8 text)."""
    return from_record(to_record(data, src, opts or cr.HeaderOptions()), dst, entry_revision)
