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
    """`address` / `error_type` / `--error-type` → `--error-type`."""
    if not isinstance(name, str) or not name.strip("-"):
        raise UsageError("fields", f"{name!r} is not a field name")
    return name if name.startswith("--") else "--" + name.replace("_", "-")


@dataclasses.dataclass(frozen=True)
class InjectRequest:
    """`count` injections of `scenario` at `rate` per second (0: as fast as accepted), each
    given `timeout` seconds to be consumed. `source`/`notify` choose the error source (default:
    the board's route for the scenario); `record` is a whole status block posted verbatim
    (the raw scenario); `unique=False` keeps repeats byte-identical; `seed` seeds
    `random:` field values; `report="summary"` asks for counts and percentiles instead of
    one record per injection (bounded, for large counts)."""

    scenario: str
    fields: Mapping[str, str] = dataclasses.field(default_factory=dict)
    source: int | None = None
    notify: str | None = None
    pe: int = 0
    count: int = 1
    rate: float = 0.0
    timeout: float = 5.0
    record: bytes | None = None
    unique: bool = True
    seed: int = 0
    report: str = "all"

    def __post_init__(self) -> None:
        fields = {}
        for k, v in dict(self.fields or {}).items():
            if not isinstance(v, str):
                v = hex(v) if isinstance(v, int) and not isinstance(v, bool) else str(v)
            fields[field_key(k)] = v
        object.__setattr__(self, "fields", fields)
        if self.report not in REPORTS:
            raise UsageError("report", f"must be one of {', '.join(REPORTS)} (got {self.report!r})")

    def replace(self, **changes: Any) -> InjectRequest:
        return dataclasses.replace(self, **changes)

    def to_wire(self) -> dict[str, Any]:
        """The daemon's request map (daemon.validate_request checks it on the other side)."""
        return {"scenario": self.scenario, "fields": dict(self.fields), "source": self.source,
                "notify": self.notify, "pe": self.pe, "count": self.count, "rate": self.rate,
                "timeout": self.timeout, "record": self.record, "unique": self.unique,
                "seed": self.seed, "report": self.report}

    @classmethod
    def from_wire(cls, req: Mapping[str, Any]) -> InjectRequest:
        """A map already checked by daemon.validate_request (or built by this class)."""
        return cls(scenario=req["scenario"], fields=req.get("fields") or {}, source=req.get("source"),
                   notify=req.get("notify"), pe=int(req.get("pe") or 0), count=int(req.get("count") or 1),
                   rate=float(req.get("rate") or 0), timeout=float(req.get("timeout") or 5.0),
                   record=req.get("record"), unique=req.get("unique", True) is not False,
                   seed=int(req.get("seed") or 0), report=req.get("report") or "all")
