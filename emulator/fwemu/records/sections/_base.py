"""What every section module in this package shares: a fixed-layout table that encodes
and decodes a section's fixed part byte for byte, the model semantics of the older
section kinds (records/model.py) applied to it, and the kernel's printing of a section
it does not know.

A section module describes its fixed part as a `Layout`: the validation-bits word, one
`F` per field (offset, size, the validation bit that covers it) and the reserved spans.
The layout must account for every byte of the fixed part exactly once (checked when the
module is imported), so decoding keeps every byte and encoding writes them back.

Model semantics (as records/model.py):
  * a field with a validation bit is `None` when its bit is clear and its bytes are zero;
    a decoded field whose bit is clear but whose bytes are not zero keeps them (and the
    section's `explicit_validation_bits` then carries the wire bits);
  * fields sharing one validation bit are set together (one given: the others become 0);
  * by default the validation bits are derived from which fields are set;
  * `reserved`: the bytes of the reserved spans, in order (b"" when they are all zero).
"""

from __future__ import annotations

import dataclasses
import struct
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar, TypeVar, cast

from ...errors import CoreError, UsageError
from .. import model as m


# The C core refuses a section body bigger than its scratch buffer, and anything past INT_MAX
# outright; encoders in Python keep the same limits and messages (codec._rc).
MAX_BODY = 1 << 17


def too_big(kind: str, n: int) -> None:
    if n > 0x7FFF_FFFF:
        raise CoreError(f"C core refused {kind} section (code -2)")
    raise UsageError(f"{kind} section", "record is larger than 64 KiB")


T = TypeVar("T")

_VALID, _INT, _ODD, _RAW, _RES, _COMPUTED = range(6)   # what each span of a compiled layout holds


@dataclass(frozen=True)
class F:
    """One field of a fixed layout: little-endian unsigned int of `size` bytes, or raw
    bytes (`raw=True`). `bit`: the validation bit covering it (None: always present).
    `computed`: a wire field the section computes (a length) rather than a model field."""

    name: str
    off: int
    size: int
    bit: int | None = None
    raw: bool = False
    computed: bool = False

    @property
    def maximum(self) -> int:
        return (1 << (8 * self.size)) - 1


class Layout:
    """The fixed part of a section: `size` bytes = the validation word (if any) + fields +
    reserved spans, each byte covered once."""

    def __init__(self, size: int, fields: tuple[F, ...], reserved: tuple[tuple[int, int], ...] = (),
                 valid: tuple[int, int] | None = (0, 8)):
        self.size, self.fields, self.reserved, self.valid = size, fields, reserved, valid
        cover = [0] * size
        spans = [(f.off, f.size) for f in fields] + list(reserved) + ([valid] if valid else [])
        for off, n in spans:
            for i in range(off, off + n):
                cover[i] += 1
        if cover != [1] * size:
            bad = [i for i, c in enumerate(cover) if c != 1]
            raise AssertionError(f"layout does not cover each byte once: offsets {bad[:8]}")
        self.by_name = {f.name: f for f in fields}
        groups: dict[int, list[str]] = {}
        for f in fields:
            if f.bit is not None:
                groups.setdefault(f.bit, []).append(f.name)
        self.groups = {bit: tuple(names) for bit, names in groups.items()}
        self.shared = tuple(names for names in self.groups.values() if len(names) > 1)
        self.model_fields = tuple(f for f in fields if not f.computed)
        self.reserved_len = sum(n for _o, n in reserved)
        self.valid_max = (1 << (8 * valid[1])) - 1 if valid else 0
        self._compile()
        # LayoutSection.derived_validation_bits, generated: a group's bit is set when its
        # first field is (the others are set with it)
        terms = "".join(f" | ((s.{names[0]} is not None) << {bit})" for bit, names in self.groups.items())
        self.derive_bits = self._generate(f"def f(s):\n    return s.ALWAYS_BITS{terms}\n", {}, "bits")
        self.check_fields = self._check_fn()

    def _compile(self) -> None:
        """One struct.Struct for the whole fixed part (the cover check above makes the
        spans, in offset order, add up to `size`), and the plan of its arguments: ints of
        1/2/4/8 bytes as B/H/I/Q, any other field and each reserved span as raw bytes."""
        native = {1: "B", 2: "H", 4: "I", 8: "Q"}
        spans: list[tuple[int, int, int, Any]] = []   # (offset, size, what, detail)
        if self.valid:
            spans.append((self.valid[0], self.valid[1], _VALID, None))
        for f in self.fields:
            what = _RAW if f.raw else _INT if f.size in native else _ODD
            spans.append((f.off, f.size, what, f.name))
        pos = 0
        for off, n in self.reserved:
            spans.append((off, n, _RES, pos))
            pos += n
        spans.sort()
        self.plan = tuple((what, n, detail) for _o, n, what, detail in spans)
        # Two packers: reserved bytes as arguments, and (the usual case) all zero, written
        # as struct pad bytes with no argument and nothing to fill in per record.
        self._with_res = self._packer(spans, zero_reserved=False)
        self._zero_res = self._packer(spans, zero_reserved=True)

    def _packer(self, spans: list[tuple[int, int, int, Any]], zero_reserved: bool) -> Any:
        """pack_section()'s work for this layout as one function generated from the table:
        one struct.pack of every span in offset order, each argument an attribute read
        (None -> 0 or b"" by `or`), the computed fields from `c`, ints of odd sizes as
        bytes and the reserved spans sliced from `r`. Generated once, when the module
        defining the layout is imported: a loop over the plan per record cost more than
        the encoding itself."""
        native = {1: "B", 2: "H", 4: "I", 8: "Q"}
        computed = {f.name for f in self.fields if f.computed}
        fmt: list[str] = ["<"]
        args: list[str] = []
        for _o, n, what, detail in spans:
            if what == _RES and zero_reserved:
                fmt.append(f"{n}x")
                continue
            fmt.append(native[n] if what in (_VALID, _INT) else f"{n}s")
            if what == _VALID:
                args.append("s.validation_bits")
            elif what == _RES:
                args.append(f"r[{detail}:{detail + n}]")
            elif detail in computed:
                args.append(f"c[{detail!r}]" if n in native else f"c[{detail!r}].to_bytes({n}, 'little')")
            elif what == _RAW:
                args.append(f"(s.{detail} or b'')")
            elif what == _ODD:
                args.append(f"(s.{detail} or 0).to_bytes({n}, 'little')")
            else:
                args.append(f"(s.{detail} or 0)")
        head = "" if zero_reserved else f"    r = r.ljust({self.reserved_len}, b'\\0')\n"
        src = f"def f(s, c, r):\n{head}    return P({', '.join(args)})\n"
        return self._generate(src, {"P": struct.Struct("".join(fmt)).pack}, "pack")

    def _check_fn(self) -> Any:
        """LayoutSection._check_layout's per-field checks, generated in field order (the
        first bad field is the one named): a field with no validation bit must be set, an
        int must fit its size (else check_int's message), raw bytes become exactly their
        size (bytes already of that size are kept as they are)."""
        lines = ["def f(s, d):"]
        for fl in self.model_fields:
            n, size = fl.name, fl.size
            lines.append(f"    v = d[{n!r}]")
            if fl.bit is None:
                lines.append(f"    if v is None: raise E({n!r}, 'must be set (it has no validation bit)')")
            if fl.raw:
                lines.append(f"    if v is not None and (v.__class__ is not bytes or len(v) != {size}): "
                             f"s.{n} = CB({n!r}, v, {size}).ljust({size}, b'\\0')")
            else:
                lines.append(f"    if v is not None and (v.__class__ is not int or v < 0 or v >> {8 * size}): "
                             f"CI({n!r}, v, {fl.maximum})")
        lines.append("    return None")
        return self._generate("\n".join(lines) + "\n", {"E": UsageError, "CB": check_bytes, "CI": check_int},
                              "checks")

    def _generate(self, src: str, ns: dict[str, Any], what: str) -> Any:
        """The function `f` of `src`, source made here from this layout's own table."""
        exec(compile(src, f"<{self.size}-byte layout {what}>", "exec"), ns)
        return ns["f"]

    def pack_section(self, sec: Any, computed: dict[str, int], reserved: bytes) -> bytearray:
        """The fixed part of a section object whose attributes are this layout's fields
        (`computed`: the values of the computed ones)."""
        if any(reserved):
            return bytearray(self._with_res(sec, computed, reserved))
        return bytearray(self._zero_res(sec, computed, reserved))

    def pack(self, values: dict[str, Any], valid_bits: int, reserved: bytes) -> bytearray:
        """The fixed part from a dict of field values (a field missing or None: zeros)."""
        ns = SimpleNamespace(**{**{f.name: None for f in self.fields}, **values},
                             validation_bits=valid_bits, KIND="")
        return self.pack_section(ns, values, reserved)

    def unpack(self, body: bytes) -> tuple[int, dict[str, Any], bytes]:
        """(validation bits, every field's wire value, reserved bytes) of body[:size]."""
        valid_bits = 0
        if self.valid:
            off, n = self.valid
            valid_bits = int.from_bytes(body[off:off + n], "little")
        values = {f.name: (bytes(body[f.off:f.off + f.size]) if f.raw
                           else int.from_bytes(body[f.off:f.off + f.size], "little"))
                  for f in self.fields}
        reserved = b"".join(bytes(body[off:off + n]) for off, n in self.reserved)
        return valid_bits, values, reserved


def view(valid: int, bit: int, value: int) -> int | None:
    """A field's model value: set when its bit is set, and also when its bit is clear but
    the bytes are not zero (kept, so the record encodes back to them)."""
    return value if valid >> bit & 1 or value else None


def nonzero(v: object) -> bool:
    return bool(any(v) if isinstance(v, (bytes, bytearray)) else v)


def check_int(name: str, value: object, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise UsageError(name, f"must be an integer, got {value!r}")
    if value < 0 or value > maximum:
        raise UsageError(name, f"{value:#x} does not fit (0 .. {maximum:#x})")
    return value


def check_bytes(name: str, value: object, maximum: int) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise UsageError(name, "must be hex text") from None
    if not isinstance(value, (bytes, bytearray)):
        raise UsageError(name, f"must be bytes, got {type(value).__name__}")
    if len(value) > maximum:
        raise UsageError(name, f"is {len(value)} bytes, more than {maximum}")
    return bytes(value)


def make_part(cls: type[T], name: str, value: Any) -> T:
    """A part of a section (a dataclass) from itself, its JSON dict or its positional
    values; a value of another shape is a UsageError naming `name`."""
    if isinstance(value, cls):
        return value
    try:
        return cls(**value) if isinstance(value, dict) else cls(*value)
    except TypeError:
        fields = ", ".join(f.name for f in dataclasses.fields(cast(Any, cls)))
        raise UsageError(name, f"must be an object with the fields {fields}") from None


def check_registers(name: str, pairs: Iterable[object]) -> list[tuple[int, int]]:
    """(address, value) register pairs of u64s, as tuples."""
    regs = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise UsageError(f"{name}[{i}]", "must be an (address, value) pair")
        regs.append((check_int(f"{name}[{i}].address", pair[0], (1 << 64) - 1),
                     check_int(f"{name}[{i}].value", pair[1], (1 << 64) - 1)))
    return regs


def norm_reserved(value: object, size: int) -> bytes:
    """The reserved bytes: b"" when all zero, else exactly `size` bytes."""
    value = check_bytes("reserved", value, size)
    return value.ljust(size, b"\0") if any(value) else b""


class LayoutSection(m.Section):
    """A section whose fixed part is a `Layout` (subclasses are dataclasses naming the
    layout's fields, plus `explicit_validation_bits` and `reserved`). Subclasses with a
    variable part after the fixed one override `_tail()` / `_decode_tail()`."""

    LAYOUT: ClassVar[Layout]
    TITLE: ClassVar[str]       # the UEFI section name, for help texts and errors
    # the validation bits a section always claims (a part the model always carries)
    ALWAYS_BITS: ClassVar[int] = 0

    explicit_validation_bits: int | None = None
    reserved: bytes = b""

    def _check_layout(self) -> None:
        lay = self.LAYOUT
        d = self.__dict__
        lay.check_fields(self, d)   # each field's value (generated from the table)
        for names in lay.shared:   # fields sharing a bit are set together
            if any(d[n] is not None for n in names):
                for n in names:
                    if d[n] is None:
                        f = lay.by_name[n]
                        setattr(self, n, bytes(f.size) if f.raw else 0)
        if self.explicit_validation_bits is not None:
            check_int("explicit_validation_bits", self.explicit_validation_bits, lay.valid_max)
        self.reserved = norm_reserved(self.reserved, lay.reserved_len)

    def derived_validation_bits(self) -> int:
        bits: int = self.LAYOUT.derive_bits(self)     # ALWAYS_BITS and each set group's bit
        return bits

    # ---- bytes ----------------------------------------------------------------------
    def _fixed(self) -> bytearray:
        return self.LAYOUT.pack_section(self, self._computed(), self.reserved)

    def _computed(self) -> dict[str, int]:
        """The wire values of the layout's computed fields."""
        return {}

    def _tail(self) -> bytes:
        return b""

    def encode(self) -> bytes:
        """The section body's bytes."""
        return bytes(self._fixed()) + self._tail()

    @classmethod
    def _fields_from(cls, body: bytes) -> tuple[int, dict[str, Any]]:
        lay = cls.LAYOUT
        valid_bits, values, reserved = lay.unpack(body)
        kw: dict[str, Any] = {}
        for bit, names in lay.groups.items():
            there = valid_bits >> bit & 1 or any(nonzero(values[n]) for n in names)
            for n in names:
                kw[n] = values[n] if there else None
        for f in lay.fields:
            if f.bit is None and not f.computed:
                kw[f.name] = values[f.name]
        kw["reserved"] = reserved
        return valid_bits, kw

    @classmethod
    def _decode_tail(cls, tail: bytes, kw: dict[str, Any]) -> bool:
        """Fill the variable part's fields from the bytes after the fixed part; False when
        they do not fit the model (the section then decodes raw)."""
        return not tail

    @classmethod
    def decode(cls, body: bytes) -> Any:
        """The typed section for these bytes, or None when they do not fit the layout."""
        if len(body) < cls.LAYOUT.size:
            return None
        valid_bits, kw = cls._fields_from(body)
        if not cls._decode_tail(bytes(body[cls.LAYOUT.size:]), kw):
            return None
        try:
            sec = cls(**kw)
        except UsageError:
            return None
        if sec.validation_bits != valid_bits:
            sec.explicit_validation_bits = valid_bits
        return sec

    # ---- JSON -------------------------------------------------------------------------
    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Any:
        """The section from its to_json() form (bytes as hex text)."""
        names = {f.name for f in dataclasses.fields(cast(Any, cls))}
        unknown = set(d) - names
        if unknown:
            raise UsageError(f"section.{sorted(unknown)[0]}", f"not a field of a {cls.KIND} section")
        return cls(**cls._json_values(dict(d)))

    @classmethod
    def _json_values(cls, d: dict[str, Any]) -> dict[str, Any]:
        """Turn the JSON values of a dict into model values (hex text -> bytes)."""
        for f in dataclasses.fields(cast(Any, cls)):
            v = d.get(f.name)
            if isinstance(v, str) and (f.type in ("bytes", "bytes | None") or f.name == "reserved"):
                d[f.name] = check_bytes(f.name, v, m.FW_MAX_BLOCK)
        return d


# ---- what the kernel does with a section it does not know --------------------------------

def non_standard(kind: str, guid: uuid.UUID) -> list[str]:
    """ghes_do_proc()'s last branch, for a section GUID it has no handler for:
    `log_non_standard_event()` (the ras:non_standard_event tracepoint) and
    `ghes_defer_non_standard_event()` (the vendor record notifier chain, run from a
    workqueue). Neither prints; the sim has no tracepoint consumer and no vendor driver, so
    this is only a [sim] note of where the section went."""
    return [f"[sim] GHES: {kind} section {guid}: not a standard section for this kernel: "
            "ras:non_standard_event trace + vendor record notifier chain (no handler registered)"]
