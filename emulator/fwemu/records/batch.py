"""`records.Packer`: many one-entry status blocks of one section kind, encoded from the
values of a few integer fields that change from record to record, without building a
model object per record.

    p = records.Packer(records.StatusBlock([records.Entry(records.MemorySection(error_type=3),
                                                          timestamp=ts)]),
                       ["physical_address"])
    raw = p.pack(0x80000000)                  # == records.encode(<that block, that address>)
    raws = p.pack_many((pa,) for pa in addresses)

Each value is checked as the model checks it (same limits, same one-line error), and each
record's section is encoded in full by the same code as `records.encode`
(records/packer.py), its validation bits derived from the values. The block header and the
entry header depend on the section only through its length, which integer fields do not
change: they are packed once, with the template, and reused while the length is the same
(else the whole block is packed again). What is skipped is building and checking the
dataclasses of the parts that do not change. Not thread-safe: a Packer writes the values
into a private copy of the template.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from ..errors import UsageError
from . import codec, packer, sections
from . import model as m
from .model import U64, _check_range
from .sections import arm, firmware_ref, memory, pcie, processor_generic

# Integer fields of the older kinds a Packer may vary (name -> maximum). Memory's bank,
# bank_group and bank_address share one wire field and are checked together: not here.
_LIMITS: dict[type, dict[str, int]] = {
    memory.Section: {n: mx for n, _b, mx in memory.LIMITS if not n.startswith("bank")},
    pcie.Section: dict(pcie.LIMITS),
    processor_generic.Section: dict(processor_generic.LIMITS),
    arm.Section: {n: (1 << 8 * size) - 1 for n, _off, size, _bit in arm.FIELDS},
    firmware_ref.Section: {n: (1 << 8 * size) - 1 for n, _off, size in firmware_ref.FIELDS
                           if n != "record_identifier_guid"},
}


# records/sections/ fields a value of which is checked against another's: not here either
# (a CXL protocol error's agent type chooses the form of its agent address).
_CROSS_CHECKED = {"cxl-protocol": ("agent_type",)}


def _limits(sec: m.Section) -> dict[str, int]:
    limits = _LIMITS.get(type(sec))
    if limits is not None:
        return limits
    layout = getattr(sec, "LAYOUT", None)      # records/sections/ kinds with a fixed layout
    if layout is not None:
        skip = _CROSS_CHECKED.get(sec.KIND, ())
        return {f.name: f.maximum for f in layout.model_fields if not f.raw and f.name not in skip}
    if sec.KIND == "x86-proc":
        return {"apic_id": U64}
    return {}


class Packer:
    """Encodes `template` (a one-entry StatusBlock) with new values of `fields` (integer
    fields of its section) per record. Fields left None in the template are set to 0 in
    the Packer's copy, so fields sharing their validation bit are carried as the model
    carries them."""

    def __init__(self, template: m.StatusBlock, fields: Sequence[str]):
        if len(template.entries) != 1:
            raise UsageError("entries", f"a Packer encodes one-entry blocks, the template has "
                             f"{len(template.entries)}")
        entry = template.entries[0]
        sec = entry.section
        limits = _limits(sec)
        self.fields = tuple(fields)
        for name in self.fields:
            if name not in limits:
                raise UsageError(name, f"is not an integer field a Packer can vary in a {sec.KIND} "
                                 f"section ({', '.join(limits) or 'none'})")
        if len(set(self.fields)) != len(self.fields):
            raise UsageError("fields", "a field is named twice")
        unset = {n: 0 for n in self.fields if getattr(sec, n) is None}
        self._section = dataclasses.replace(sec, **unset) if unset else dataclasses.replace(sec)  # type: ignore[type-var]
        self._values = self._section.__dict__
        self._checks = tuple((n, limits[n]) for n in self.fields)
        self._block = dataclasses.replace(template, entries=[dataclasses.replace(entry, section=self._section)])
        fallback = codec._encode_body
        body = packer.BODY.get(type(sec))
        if body is None and sections.is_section(sec):   # records/sections/ kinds encode themselves
            body = type(sec).encode  # type: ignore[attr-defined]
        self._body = body if body is not None else lambda s: packer.body(s, fallback)
        whole = packer.block(self._block, fallback)
        start = 20 + self._block.entries[0].header_length
        self._body_len = len(self._body(self._section))
        self._prefix, self._suffix = whole[:start], whole[start + self._body_len:]

    def pack(self, *values: int) -> bytes:
        """The block's bytes with these values of `fields`, in order."""
        if len(values) != len(self._checks):
            raise UsageError("values", f"{len(values)} given for {len(self._checks)} fields")
        d = self._values
        for (name, maximum), v in zip(self._checks, values, strict=True):
            if v.__class__ is not int or v < 0 or v > maximum:
                _check_range(name, v, maximum)
            d[name] = v
        data = self._body(self._section)
        if len(data) != self._body_len:   # not for integer fields; kept exact all the same
            return packer.block(self._block, codec._encode_body)
        return self._prefix + data + self._suffix

    def pack_many(self, rows: Iterable[Sequence[int]]) -> list[bytes]:
        """pack(*row) of each row, in order."""
        pack = self.pack
        return [pack(*row) for row in rows]
