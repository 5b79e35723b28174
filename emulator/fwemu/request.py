"""What one `inject` asks for, typed: parsed once at the edge (the CLI's options, a campaign
step, a journal replay, the daemon's wire map) and read by the session as it is.

Field values stay text (`"0x60000000"`, `"0x60000000:0x70000000:0x1000"`, `"random:..."`):
a value may be a sweep (`sweep.py`) that the session turns into one value per injection,
and the record factory parses each one, naming the field when it is bad. Field keys are the
field's name (`address`, `error_type`) or its option (`--address`); both name the same field
and are kept as the option, the key the record factory, the journal and the daemon's wire
use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .errors import UsageError

REPORTS = ("all", "summary")
# above this count a request is summarised: one record per injection would make the
# report (and a daemon's reply) grow with the count
MAX_FULL_REPORT = 10_000


def field_key(name: str) -> str:
    """`--error-type` / `error-type` / `error_type` → `error_type`: the one key a field is
    carried by below the command line (requests, the firmware, the journal, the daemon's
    wire); its option (`field_flag`) is the command line's and its error messages'."""
    if not isinstance(name, str) or not name.strip("-"):
        raise UsageError("fields", f"{name!r} is not a field name")
    return (name[2:] if name.startswith("--") else name).replace("-", "_")


def field_flag(name: str) -> str:
    """A field's command-line option: `error_type` → `--error-type` (an option stays one)."""
    return name if name.startswith("--") else "--" + name.replace("_", "-")


MAX_MIX = 64          # variants one request may mix


def _norm_fields(fields: Mapping[str, Any] | None) -> dict[str, str]:
    out = {}
    for k, v in dict(fields or {}).items():
        if not isinstance(v, str):
            v = hex(v) if isinstance(v, int) and not isinstance(v, bool) else str(v)
        out[field_key(k)] = v
    return out


def _norm_pe(pe: int | str) -> int | str:
    """A PE index, or a spec of PEs (`0:4:1`, `0,2`, `random:0:4`) made one per injection."""
    if isinstance(pe, bool) or not isinstance(pe, (int, str)):
        raise UsageError("--pe", f"must be a PE index or a spec of PEs (got {pe!r})")
    if isinstance(pe, str):
        text = pe.strip()
        if not (":" in text or "," in text):
            try:
                return int(text, 0)
            except ValueError:
                raise UsageError("--pe", f"{pe!r} is not a PE index or a spec (START:STOP:STEP, a list, "
                                       "random:LOW:HIGH)") from None
        return text
    return pe


@dataclasses.dataclass(frozen=True)
class Variant:
    """One choice of a mixed request: taken with probability weight / (sum of weights);
    its fields go over the request's, and what it leaves None is the request's."""

    scenario: str
    weight: float = 1.0
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    source: int | None = None
    notify: str | None = None
    pe: int | str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _norm_fields(self.fields))
        if self.pe is not None:
            object.__setattr__(self, "pe", _norm_pe(self.pe))
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) or not self.weight > 0 \
                or self.weight > 1e9:
            raise UsageError("weight", f"must be a number above 0 (got {self.weight!r})")

    def to_wire(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "weight": float(self.weight), "fields": dict(self.fields),
                "source": self.source, "notify": self.notify, "pe": self.pe}

    @classmethod
    def from_wire(cls, d: Mapping[str, Any]) -> Variant:
        return cls(scenario=d["scenario"], weight=d.get("weight", 1.0), fields=d.get("fields") or {},
                   source=d.get("source"), notify=d.get("notify"), pe=d.get("pe"))


@dataclasses.dataclass(frozen=True)
class InjectRequest:
    """`count` injections of `scenario` at `rate` per second (0: as fast as accepted), each
    given `timeout` seconds to be consumed. `source`/`notify` choose the error source (default:
    the board's route for the scenario); `record` is a whole status block posted verbatim
    (the raw scenario); `unique=False` keeps repeats byte-identical; `seed` seeds
    `random:` field values; `report="summary"` asks for counts and percentiles instead of
    one record per injection (bounded, for large counts). `pe` may be a spec of PEs like a
    numeric field's (`0:4:1`, `0,2`, `random:0:4`); `mix` makes each injection one of its
    variants, chosen by weight from `seed` (a campaign's mixed step)."""

    scenario: str
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    source: int | None = None
    notify: str | None = None
    pe: int | str = 0
    count: int = 1
    rate: float = 0.0
    timeout: float = 5.0
    record: bytes | None = None
    unique: bool = True
    seed: int = 0
    report: str = "all"
    mix: tuple[Variant, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", _norm_fields(self.fields))
        object.__setattr__(self, "pe", _norm_pe(self.pe))
        object.__setattr__(self, "mix", tuple(self.mix or ()))
        if len(self.mix) > MAX_MIX:
            raise UsageError("mix", f"at most {MAX_MIX} variants (got {len(self.mix)})")
        if self.report not in REPORTS:
            raise UsageError("report", f"must be one of {', '.join(REPORTS)} (got {self.report!r})")

    def replace(self, **changes: Any) -> InjectRequest:
        return dataclasses.replace(self, **changes)

    def to_wire(self) -> dict[str, Any]:
        """The daemon's request map (daemon.validate_request checks it on the other side)."""
        return {"scenario": self.scenario, "fields": dict(self.fields), "source": self.source,
                "notify": self.notify, "pe": self.pe, "count": self.count, "rate": self.rate,
                "timeout": self.timeout, "record": self.record, "unique": self.unique,
                "seed": self.seed, "report": self.report, "mix": [v.to_wire() for v in self.mix]}

    @classmethod
    def from_wire(cls, req: Mapping[str, Any]) -> InjectRequest:
        """A map already checked by daemon.validate_request (or built by this class)."""
        return cls(scenario=req["scenario"], fields=req.get("fields") or {}, source=req.get("source"),
                   notify=req.get("notify"), pe=req.get("pe") or 0, count=int(req.get("count") or 1),
                   rate=float(req.get("rate") or 0), timeout=float(req.get("timeout") or 5.0),
                   record=req.get("record"), unique=req.get("unique", True) is not False,
                   seed=int(req.get("seed") or 0), report=req.get("report") or "all",
                   mix=tuple(Variant.from_wire(v) for v in req.get("mix") or ()))
