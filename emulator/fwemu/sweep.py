"""Field values that change from one injection to the next within one request.

A numeric record field (an option that takes a plain number: `--address`, `--pa-mask`,
`--row`, `--error-info`, …) may be given as

    START:STOP:STEP        a sweep: START, START+STEP, … below STOP, then again from START
    V1,V2,V3               a list, taken in turn
    random:LOW:HIGH[:ALIGN]  uniform in [LOW, HIGH), a multiple of ALIGN (default 1),
                           from the request's seed (the same seed gives the same values)

so `fwemu inject memory-ue --count 100 --address 0x60000000:0x70000000:0x1000` takes a new
page each time instead of poisoning one page a hundred times. Specs are parsed once, when
the request is made (a bad one is a usage error naming the option), and values are made
one injection at a time, so a request of any count holds nothing per injection.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass

from .errors import UsageError
from .request import InjectRequest, Variant, field_flag, field_key
from .scenarios import OPTIONS, parse_int

# keyed by field name (request.field_key), as requests carry fields
_NUMERIC = {o.dest: o.maximum for o in OPTIONS if o.parse is None}
_LIMITS = {o.dest: dict(o.limits) for o in OPTIONS if o.parse is None}    # per-scenario maxima
MAX_LIST = 4096


def is_spec(text: str) -> bool:
    return ":" in text or "," in text


@dataclass(frozen=True)
class _Sweep:
    start: int
    step: int
    n: int

    def value(self, k: int, rng: random.Random | None) -> int:
        return self.start + (k % self.n) * self.step


@dataclass(frozen=True)
class _List:
    values: tuple[int, ...]

    def value(self, k: int, rng: random.Random | None) -> int:
        return self.values[k % len(self.values)]


@dataclass(frozen=True)
class _Random:
    low: int
    slots: int
    align: int

    def value(self, k: int, rng: random.Random | None) -> int:
        assert rng is not None
        return self.low + rng.randrange(self.slots) * self.align


def parse_spec(flag: str, text: str, top: int | None = None) -> _Sweep | _List | _Random:
    """One numeric option's spec, or UsageError naming the option and what is wrong (`top`:
    the largest value, default the option's own)."""
    top = _NUMERIC[field_key(flag)] if top is None else top

    def num(part: str, what: str, end: bool = False) -> int:
        if not part.strip():
            raise UsageError(flag, f"{text!r}: {what} is missing")
        return parse_int(flag, part.strip(), top + 1 if end else top)   # STOP/HIGH: exclusive

    if "," in text:
        parts = text.split(",")
        if len(parts) > MAX_LIST:
            raise UsageError(flag, f"a list takes at most {MAX_LIST} values (got {len(parts)})")
        return _List(tuple(num(p, "a list value") for p in parts))
    parts = text.split(":")
    if parts[0].strip().lower() == "random":
        if len(parts) not in (3, 4):
            raise UsageError(flag, f"{text!r}: random takes random:LOW:HIGH or random:LOW:HIGH:ALIGN")
        low, high = num(parts[1], "LOW"), num(parts[2], "HIGH", end=True)
        align = num(parts[3], "ALIGN") if len(parts) == 4 else 1
        if align == 0 or align & (align - 1):
            raise UsageError(flag, f"{text!r}: ALIGN must be a power of two")
        if low % align:
            raise UsageError(flag, f"{text!r}: LOW {low:#x} is not a multiple of ALIGN {align:#x}")
        slots = (high - low + align - 1) // align
        if slots <= 0:
            raise UsageError(flag, f"{text!r}: HIGH must be above LOW")
        return _Random(low, slots, align)
    if len(parts) != 3:
        raise UsageError(flag, f"{text!r}: a sweep is START:STOP:STEP")
    start, stop, step = num(parts[0], "START"), num(parts[1], "STOP", end=True), num(parts[2], "STEP")
    if step == 0:
        raise UsageError(flag, f"{text!r}: STEP must not be 0")
    if stop <= start:
        raise UsageError(flag, f"{text!r}: STOP must be above START")
    return _Sweep(start, step, (stop - start + step - 1) // step)


class Plan:
    """The field values of each injection of one request, in order."""

    def __init__(self, fields: dict[str, str], seed: int = 0, salt: str = "", scenario: str | None = None):
        fields = {field_key(k): v for k, v in fields.items()}   # (a request's are by name already)
        # only numeric options take specs: others have ':' or ',' of their own (a BDF,
        # a timestamp, a flag list), which their own parsers read
        self.fixed = {k: v for k, v in fields.items() if k not in _NUMERIC or not is_spec(v)}
        # a scenario's own maximum for a shared option (--chip-id: 7 for memory-ue, 255 for
        # memory2), so a sweep past it is refused before anything is posted
        self.specs = {k: parse_spec(field_flag(k), v, _LIMITS[k].get(scenario or "")) for k, v in fields.items()
                      if k not in self.fixed}
        self.seed = seed
        # one generator per option, seeded by the seed and the option (its flag, as before
        # fields were keyed by name: a seed gives the values it gave), so adding a random
        # field does not change another one's values
        self._rng = {k: random.Random(f"{seed}:{salt}{field_flag(k)}") for k, s in self.specs.items()
                     if isinstance(s, _Random)}
        self._k = 0

    @property
    def varies(self) -> bool:
        return bool(self.specs)

    def next(self) -> dict[str, str]:
        """The next injection's fields (text, as a single value is given)."""
        k, self._k = self._k, self._k + 1
        out = dict(self.fixed)
        for flag, spec in self.specs.items():
            out[flag] = hex(spec.value(k, self._rng.get(flag)))
        return out


Choice = tuple[str, dict[str, str], "int | None", "str | None", int]   # scenario, fields, source, notify, PE


class _Pick:
    """One variant's values: its fields' plan and its PE (a number or a spec)."""

    def __init__(self, scenario: str, fields: dict[str, str], source: int | None, notify: str | None,
                 pe: int | str, seed: int, salt: str, pes: int):
        self.scenario, self.source, self.notify = scenario, source, notify
        self.plan = Plan(fields, seed, salt, scenario)
        self.pe_spec = None
        self.pe = 0
        if isinstance(pe, str):
            self.pe_spec = parse_spec("--pe", pe, pes - 1) if pes > 0 else None
            if self.pe_spec is None:
                raise UsageError("--pe", "the board has no PEs")
            self._pe_rng = random.Random(f"{seed}:{salt}--pe")
            self._pe_k = 0
        else:
            self.pe = pe
        self.constant: Choice | None = None
        if not self.plan.varies and self.pe_spec is None:
            self.constant = (scenario, self.plan.fixed, source, notify, pe if isinstance(pe, int) else 0)

    def next(self) -> Choice:
        if self.constant is not None:
            return self.constant
        pe = self.pe
        if self.pe_spec is not None:
            k, self._pe_k = self._pe_k, self._pe_k + 1
            pe = self.pe_spec.value(k, self._pe_rng)
        return (self.scenario, self.plan.next() if self.plan.varies else self.plan.fixed, self.source,
                self.notify, pe)


class Injections:
    """What each injection of one request is: scenario, fields, source, notification and PE,
    made one at a time (a request of any count holds nothing per injection). A plain request
    gives its own values (its field and PE specs stepped); a mixed one picks a variant per
    injection by weight, from the request's seed."""

    def __init__(self, req: InjectRequest, pes: int):
        variants = req.mix or (Variant(req.scenario),)
        self.picks = []
        for i, v in enumerate(variants):
            self.picks.append(_Pick(v.scenario, {**req.fields, **v.fields},
                                    req.source if v.source is None else v.source,
                                    req.notify if v.notify is None else v.notify,
                                    req.pe if v.pe is None else v.pe, req.seed, f"{i}/" if req.mix else "", pes))
        self._cum = list(itertools.accumulate(float(v.weight) for v in variants))
        self._rng = random.Random(f"{req.seed}:mix")
        self._single = self.picks[0] if len(self.picks) == 1 else None

    def next(self) -> Choice:
        if self._single is not None:
            return self._single.next()
        i = bisect.bisect_right(self._cum, self._rng.random() * self._cum[-1])
        return self.picks[min(i, len(self.picks) - 1)].next()
