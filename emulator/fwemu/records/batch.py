"""`records.Packer`: many one-entry status blocks of one section kind, encoded from the
values of a few integer fields that change from record to record, without building a
model object per record.

    p = records.Packer(records.StatusBlock([records.Entry(records.MemorySection(error_type=3),
                                                          timestamp=ts)]),
                       ["physical_address"])
    raw = p.pack(0x80000000)                  # == records.encode(<that block, that address>)
    raws = p.pack_many((pa,) for pa in addresses)
    blob = p.pack_columns([array('Q', addresses)])   # the same records back to back, in C
    raws = p.pack_columns_list([addresses])          # ... one bytes object per record

Each value is checked as the model checks it (same limits, same one-line error), and each
record's section is encoded in full by the same code as `records.encode`
(records/packer.py), its validation bits derived from the values. The block header and the
entry header depend on the section only through its length, which integer fields do not
change: they are packed once, with the template, and reused while the length is the same
(else the whole block is packed again). What is skipped is building and checking the
dataclasses of the parts that do not change. Not thread-safe: a Packer writes the values
into a private copy of the template.

`pack_columns` takes a column of N values per field and encodes all N records in one call
to the C core (csrc/pack.c): a slot table made once from the template's field values says
where each field of the block header, the entry header and the section's fixed part goes
and where its value comes from (a constant, a column, bytes, the validation word), and C
writes every record slot by slot, range-checking each value and deriving the validation
word from the fields present. Only the variable-length part after the fixed part, the same
in every record, is encoded once (in Python) and copied.
"""

from __future__ import annotations

import dataclasses
import uuid
from array import array
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._corelib import ffi, lib
from ..errors import CoreError, UsageError
from . import codec, packer, sections
from . import model as m
from .model import U64, _check_range
from .sections import arm, firmware_ref, memory, pcie, processor_generic, x86_processor
from .sections._base import F, LayoutSection

_uncleared = ffi.new_allocator(should_clear_after_alloc=False)

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
    carries them.

    pack(*values) -> bytes          one record (Python)
    pack_many(rows) -> list[bytes]  pack() of each row
    pack_columns(columns) -> bytes  N records back to back, record i at [i*stride, (i+1)*stride),
                                    from one column of N values per field (lists of ints or
                                    uint64 buffers such as array('Q')), encoded field by field
                                    in C; == b"".join(pack(*row) for row in rows)
    pack_columns_list(columns)      the same, one bytes object per record
    stride                          the size of every record

    A value out of its field's range refuses a whole batch with UsageError
    `field[index]: <the model's reason>`, naming the first bad value in record order."""

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
        self.stride = len(whole)            # every record's size (integer fields keep it)
        self._template_values = tuple(self._values[n] for n in self.fields)
        self._plan: Any = None               # pack_columns' slot table, made on first use

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

    def pack_columns(self, columns: Sequence[object] | Mapping[str, object]) -> bytes:
        """N records in one C call, from columns of values: `columns[j]` (or
        `columns[name]`) holds the N values of `fields[j]`, a list of ints or a buffer of
        uint64 (`array('Q')`: used in place). Returns the N records back to back, record i
        at [i * stride, (i + 1) * stride); the same bytes as pack(*row) of each row.

        C (csrc/pack.c) writes every record field by field from a slot table made once
        from the template's field values: the block header, the entry header, and each
        field of the section's fixed part at its offset (a varied field from its column,
        the others from their values, zeros for absent fields, the reserved spans from the
        template's reserved bytes), the validation word derived per record from the
        fields present. The variable-length part after the fixed part (ARM error-info
        entries and context blocks, PCIe-style byte tails, vendor, trailing and raw data:
        the same for every record of the batch) is encoded once in Python and copied into
        each record. A value out of its field's range refuses the whole batch: UsageError
        naming `field[index]` (the first bad value in record order), nothing returned."""
        cols, n = self._columns(columns)
        if n == 0:
            return b""
        plan = self._plan or self._make_plan()
        size = n * self.stride
        out = _uncleared("char[]", size)    # C writes every byte: no zero-fill pass first
        self._run(plan, cols, n, out)
        data: bytes = ffi.unpack(out, size)
        return data

    def pack_columns_list(self, columns: Sequence[object] | Mapping[str, object]) -> list[bytes]:
        """pack_columns() as one bytes object per record (== pack_many of the rows)."""
        buf, size = self.pack_columns(columns), self.stride
        return [buf[i:i + size] for i in range(0, len(buf), size)]

    def _columns(self, columns: Sequence[object] | Mapping[str, object]) -> tuple[list[Any], int]:
        """The columns as uint64 buffers in field order, and their common length."""
        if isinstance(columns, Mapping):
            unknown = [k for k in columns if k not in self.fields]
            if unknown:
                raise UsageError("columns", f"{unknown[0]!r} is not one of the Packer's fields "
                                 f"({', '.join(self.fields)})")
            missing = [f for f in self.fields if f not in columns]
            if missing:
                raise UsageError("columns", f"no column for {missing[0]}")
            columns = [columns[f] for f in self.fields]
        elif isinstance(columns, (str, bytes)) or not isinstance(columns, Sequence):
            raise UsageError("columns", "a sequence of columns, one per field, or a mapping field -> column")
        if not self.fields:     # no column to count the records by: b"" would say N = 0
            raise UsageError("columns", "this Packer varies no field, so columns cannot say how many "
                             "records: use pack() (every record is the same)")
        if len(columns) != len(self.fields):
            raise UsageError("columns", f"{len(columns)} given for {len(self.fields)} fields")
        bufs: list[Any] = []
        seqs: list[Sequence[Any]] = []
        for col in columns:
            buf, seq = _u64_column(col)
            bufs.append(buf)
            seqs.append(seq)
        n = len(seqs[0]) if seqs else 0
        for name, seq in zip(self.fields, seqs, strict=True):
            if len(seq) != n:
                raise UsageError("columns", f"{name} has {len(seq)} values, {self.fields[0]} has {n}")
        if any(b is None for b in bufs):      # a value no uint64 holds: the first bad one, named
            for i in range(n):
                for (name, maximum), seq in zip(self._checks, seqs, strict=True):
                    v = seq[i]
                    if v.__class__ is not int or v < 0 or v > maximum:
                        _check_range(f"{name}[{i}]", v, maximum)
        return bufs, n

    def _run(self, plan: Any, cols: list[Any], n: int, out: Any) -> None:
        ptrs = ffi.new("uint64_t *[]", [ffi.from_buffer("uint64_t[]", c) for c in cols] or [ffi.NULL])
        err = ffi.new("fw_pack_error *")
        buf = out if isinstance(out, ffi.CData) else ffi.from_buffer(out)
        rc = lib.fw_pack_columns(plan[0], ptrs, n, buf, ffi.sizeof(buf), err)
        if rc == lib.FW_PACK_E_RANGE:
            name, maximum = self._checks[err.col]
            _check_range(f"{name}[{err.index}]", int(err.value), maximum)
        if rc != lib.FW_OK:
            raise CoreError(f"C core refused the pack_columns slot table (code {rc}, slot {err.slot})")

    def _make_plan(self) -> Any:
        """The slot table (csrc/pack.h) of this Packer's records, from the template's field
        values; checked once against pack() of the template's own values."""
        sec = self._section
        body = self._body(sec)
        s = _Slots({n: i for i, n in enumerate(self.fields)},
                   derive=getattr(sec, "explicit_validation_bits", None) is None)
        hdr = self._block.entries[0].header_length
        # the block header and the entry header: the values packer.block wrote into the
        # template (the same in every record: integer fields keep the section's length)
        for off, v in zip((0, 4, 8, 12, 16), packer.HEADER.unpack_from(self._prefix, 0), strict=True):
            s.value(off, 4, v)
        gde = (packer.GDE_V3 if hdr == 72 else packer.GDE_V2).unpack_from(self._prefix, 20)
        s.raw(20, gde[0])                                    # section type
        for off, size, v in ((36, 4, gde[1]), (40, 2, gde[2]), (42, 1, gde[3]), (43, 1, gde[4]), (44, 4, gde[5])):
            s.value(off, size, v)                            # severity, revision, bits, flags, length
        s.raw(48, gde[6])                                    # FRU id
        s.raw(64, gde[7])                                    # FRU text
        if hdr == 72:
            s.value(84, 8, gde[8])                           # timestamp
        fixed = _body_slots(s, 20 + hdr, sec, body)
        # the part after the fixed one, the same in every record: copied
        s.raw(20 + hdr + fixed, body[fixed:] + self._suffix)
        table = s.table()
        slots = ffi.new("fw_pack_slot[]", table)
        pool = ffi.new("uint8_t[]", bytes(s.pool) or b"\0")
        col_max = ffi.new("uint64_t[]", [min(mx, U64) for _n, mx in self._checks] or [0])
        plan = ffi.new("fw_pack_plan *", {"slots": slots, "nslots": len(table), "record_size": self.stride,
                                          "pool": pool, "pool_len": len(s.pool), "ncols": len(self.fields),
                                          "col_max": col_max})
        kept = (plan, slots, pool, col_max)        # the plan points into the others
        one = bytearray(self.stride)
        self._run(kept, [array("Q", [v]) for v in self._template_values], 1, one)
        if bytes(one) != self.pack(*self._template_values):
            raise CoreError(f"pack_columns: the slot table of a {sec.KIND} Packer does not give "
                            "pack()'s bytes for the template (a bug in records/batch.py)")
        self._plan = kept
        return kept


# ---- pack_columns: the slot table the C encoder writes each record from (csrc/pack.h) ------

_OR, _IF_NONZERO = lib.FW_PACK_OR, lib.FW_PACK_VBIT_IF_NONZERO
_Slot = tuple[int, int, int, int, int, int, int, int, int, int]   # fw_pack_slot, field order


class _Slots:
    """A record's slot table being built: store slots (sorted by offset at the end), OR slots
    after them, the byte pool. `cols`: field name -> column of the fields the batch varies.
    `derive`: the section's validation word is derived from the fields present (else it is
    the template's explicit value and no slot sets a bit)."""

    def __init__(self, cols: dict[str, int], derive: bool):
        self.cols, self.derive = cols, derive
        self.stores: list[_Slot] = []
        self.ors: list[_Slot] = []
        self.pool = bytearray()
        self.bits = 0        # every bit a slot may set: left out of the word's constant part

    def _vbit(self, bit: int | None) -> int:
        if bit is None or not self.derive:
            return -1
        self.bits |= 1 << bit
        return bit

    def value(self, off: int, size: int, v: int, bit: int | None = None, *, name: str = "",
              rshift: int = 0, lshift: int = 0, mask: int = U64, flags: int = 0) -> None:
        """A little-endian integer: record i's value of column `name` when the batch varies
        that field, else the constant `v`; `bit` set in the validation word (with
        FW_PACK_VBIT_IF_NONZERO: when the value is not 0)."""
        col = self.cols.get(name)
        src = lib.FW_PACK_CONST if col is None else lib.FW_PACK_COLUMN
        slot = (off, size, src, flags, self._vbit(bit), col or 0, rshift, lshift, mask, v if col is None else 0)
        (self.ors if flags & _OR else self.stores).append(slot)

    def raw(self, off: int, data: bytes, bit: int | None = None) -> None:
        """Bytes: a byte field's value, a reserved span, or a tail every record shares."""
        if data:
            self.stores.append((off, len(data), lib.FW_PACK_BYTES, 0, self._vbit(bit), 0, 0, 0, 0, len(self.pool)))
            self.pool += data

    def field(self, sec: m.Section, name: str, off: int, size: int, bit: int | None, raw: bool = False) -> None:
        """A model field of `sec`: zeros and no validation bit when it is None."""
        v = getattr(sec, name)
        there = bit if v is not None else None
        if raw:
            data = v.bytes_le if isinstance(v, uuid.UUID) else bytes(v or b"")
            self.raw(off, data.ljust(size, b"\0"), there)
        else:
            self.value(off, size, v or 0, there, name=name)

    def reserved(self, at: int, spans: Iterable[tuple[int, int]], data: bytes) -> None:
        pos = 0
        for off, n in spans:
            self.raw(at + off, data[pos:pos + n])
            pos += n

    def valid(self, off: int, size: int, word: int) -> None:
        """The validation word: `word` (the model's) less the bits the slots derive."""
        base = word & ~self.bits if self.derive else word
        self.stores.append((off, size, lib.FW_PACK_VALID, 0, -1, 0, 0, 0, U64, base))

    def table(self) -> list[_Slot]:
        return sorted(self.stores) + self.ors


def _body_slots(s: _Slots, at: int, sec: m.Section, body: bytes) -> int:
    """The slots of the section's fixed part at offset `at`, from the section's field values
    (`body`: its encoding, for the lengths the section computes); returns the fixed size."""
    valid: tuple[int, int] | None
    if isinstance(sec, LayoutSection):
        lay = sec.LAYOUT
        fields: list[F] = list(lay.fields)
        if isinstance(sec, sections.CxlProtocolSection) and sec.rcrb_base_address is not None:
            from .sections.cxl_protocol import RCRB      # the agent address union's RCRB form
            fields = [f for f in fields if f.off + f.size <= RCRB.off or f.off >= RCRB.off + RCRB.size]
            fields.append(RCRB)
        computed = sec._computed()
        valid = lay.valid
        for f in fields:
            if f.computed:
                s.value(at + f.off, f.size, computed[f.name])
            else:
                s.field(sec, f.name, at + f.off, f.size, f.bit if valid else None, f.raw)
        s.reserved(at, lay.reserved, sec.reserved.ljust(lay.reserved_len, b"\0"))
        fixed = lay.size
    elif isinstance(sec, memory.Section):
        valid, fixed = memory.VALID, memory.FIXED
        for n, off, size, bit in memory.FIELDS:
            if n not in ("bank", "row"):
                s.field(sec, n, at + off, size, bit)
        # bank, bank_group, bank_address share the wire field (not varied by a Packer); the
        # group's and address's bits come with the model's word
        s.value(at + 38, 2, sec.bank_word, 6 if sec.bank is not None else None)
        row, chip = sec.row, sec.chip_id
        s.value(at + 42, 2, row or 0, 8 if row is not None else None, name="row", mask=0xFFFF)
        s.value(at + memory.EXTENDED, 1, sec.reserved << 2)           # the extended byte's bits 4:2
        s.value(at + memory.EXTENDED, 1, row or 0, memory.ROW_EXT_BIT, name="row", rshift=16, mask=3,
                flags=_OR | _IF_NONZERO)                              # row bits 17:16, ROW_EXT when used
        s.value(at + memory.EXTENDED, 1, chip or 0, memory.CHIP_ID_BIT if chip is not None else None,
                name="chip_id", mask=7, lshift=5, flags=_OR)
    elif isinstance(sec, (pcie.Section, processor_generic.Section, arm.Section, firmware_ref.Section)):
        mod = {pcie.Section: pcie, processor_generic.Section: processor_generic, arm.Section: arm,
               firmware_ref.Section: firmware_ref}[type(sec)]
        raw_names = {"capability", "aer_info", "cpu_brand", "record_identifier_guid"}
        for n, off, size, *bit in mod.FIELDS:
            s.field(sec, n, at + off, size, bit[0] if bit else None, n in raw_names)
        res_len = sum(n for _o, n in mod.RESERVED)
        s.reserved(at, mod.RESERVED, sec.reserved.to_bytes(res_len, "little"))
        valid = getattr(mod, "VALID", None)
        fixed = mod.FIXED
        if isinstance(sec, arm.Section):   # the counts and the section length (all the bytes)
            for (off, size), v in zip(arm.COMPUTED, (len(sec.error_info), len(sec.context), len(body)), strict=True):
                s.value(at + off, size, v)
    elif isinstance(sec, x86_processor.Section):
        valid, fixed = (0, 8), x86_processor.HEADER
        s.field(sec, "apic_id", at + 8, 8, 0)
        s.field(sec, "cpuid_info", at + 16, 48, 1, raw=True)
    else:
        raise UsageError("pack_columns", f"no column encoder for a {sec.KIND} section")
    if valid:
        s.valid(at + valid[0], valid[1], sec.validation_bits)
    return fixed


def _u64_column(col: object) -> tuple[Any, Sequence[Any]]:
    """(the values as a buffer of uint64 or None when one is not an int of 0 .. 2**64-1, the
    values as a sequence for the error path)."""
    if isinstance(col, array) and col.itemsize == 8 and col.typecode in "QL":
        return col, col
    try:
        mv = memoryview(col)  # type: ignore[arg-type]
    except TypeError:
        mv = None
    if mv is not None:
        if mv.ndim != 1:
            raise UsageError("columns", "a column is a one-dimensional sequence of integers")
        if mv.itemsize == 8 and mv.format.lstrip("@=<") in ("Q", "L") and mv.c_contiguous:
            return mv, mv
        col = mv.tolist()           # another item type: its values
    if not isinstance(col, Iterable):
        raise UsageError("columns", f"a column is a sequence of integers, got {type(col).__name__}")
    values = col if isinstance(col, list) else list(col)
    if not set(map(type, values)) <= {int}:      # bool, float, None...: as pack() refuses them
        return None, values
    try:
        return array("Q", values), values
    except OverflowError:                        # negative, or past 64 bits
        return None, values
