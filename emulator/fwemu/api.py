"""fwemu's typed core API: open a firmware session for a board, inject, read what happened.

    from fwemu import api
    with api.open_session("sim") as fw:
        res = fw.inject(api.InjectRequest("memory-ue", {"address": 0x60000000}))
        assert res.injections[0].state == "consumed"
        print(res.os_log)

`open_session` is the one place that decides where the firmware runs: the daemon serving
the board when one runs (`RemoteSession`), else a firmware instance in this process
(`LocalSession`). Both have the same interface, so a command, a campaign, the pytest plugin
or a replay never asks which one it has. Results come back typed (`InjectResult`,
`Outcome`) from the one plain map both produce (what the daemon sends on its wire).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from .board import Board, load_board
from .errors import (EXIT_OK, EXIT_OS_DOWN, EXIT_REFUSED, EXIT_TIMEOUT, UnreachableError,
                     UsageError)
from .request import MAX_FULL_REPORT, InjectRequest
from . import scenarios

__all__ = ["InjectRequest", "InjectResult", "Outcome", "Summary", "SessionOptions", "FirmwareSession",
           "LocalSession", "RemoteSession", "open_session", "latency_summary", "MAX_FULL_REPORT"]

# the exit code each final state gives a run; the worst one wins
STATE_EXIT = {"consumed": EXIT_OK, "dropped": EXIT_TIMEOUT, "timed-out": EXIT_TIMEOUT,
              "interrupted": EXIT_TIMEOUT, "refused": EXIT_REFUSED}


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One injection's end, as journalled: `state` is consumed, dropped, refused, timed-out or
    interrupted; `latency_ms` counts from the notification to the OS's release (None when
    the release was not seen); `raw` is the whole journal record (timestamps, fields, the
    record's bytes as hex)."""

    id: int
    run: str | None
    scenario: str
    source: int
    notify: str
    pe: int
    state: str
    reason: str | None
    latency_ms: float | None
    block: int
    length: int
    raw: Mapping[str, Any]

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Outcome:
        return cls(id=d["id"], run=d.get("run"), scenario=d["scenario"], source=d["source"],
                   notify=d["notify"], pe=d["pe"], state=d["state"], reason=d.get("reason"),
                   latency_ms=d.get("latency_ms"), block=d["block"], length=d["length"], raw=d)

    @property
    def consumed(self) -> bool:
        return self.state == "consumed"

    @property
    def record(self) -> bytes:
        return bytes.fromhex(self.raw.get("record") or "")

    @property
    def warnings(self) -> list[str]:
        return list(self.raw.get("warnings") or [])


@dataclasses.dataclass(frozen=True)
class Summary:
    """Counts by final state and latency percentiles (ms) over a request's injections;
    `reasons` (state, reason, count, first id, last id) for those not consumed."""

    count: int
    states: Mapping[str, int]
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    latency_sampled: bool = False
    reasons: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Summary:
        return cls(count=d["count"], states=dict(d["states"]), p50_ms=d.get("p50_ms"),
                   p99_ms=d.get("p99_ms"), max_ms=d.get("max_ms"), mean_ms=d.get("mean_ms"),
                   latency_sampled=bool(d.get("latency_sampled")), reasons=tuple(d.get("reasons") or ()))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"states": dict(self.states), "reasons": list(self.reasons)}


def latency_summary(injs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts by state and latency percentiles of full injection records, and every distinct
    reason for those not consumed (with its count and first and last id)."""
    states: dict[str, int] = {}
    reasons: dict[tuple[str, str], list[int]] = {}
    for i in injs:
        states[i["state"]] = states.get(i["state"], 0) + 1
        if i["state"] != "consumed":
            r = reasons.setdefault((i["state"], i.get("reason") or "no reason given"), [0, i["id"], i["id"]])
            r[0] += 1
            r[2] = i["id"]
    lat = sorted(i["latency_ms"] for i in injs if i.get("latency_ms") is not None)

    def q(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None

    return {"states": states, "count": len(injs), "p50_ms": q(0.50), "p99_ms": q(0.99),
            "max_ms": lat[-1] if lat else None, "mean_ms": sum(lat) / len(lat) if lat else None,
            "reasons": [{"state": st, "reason": why, "count": n, "first": a, "last": b}
                        for (st, why), (n, a, b) in reasons.items()]}


@dataclasses.dataclass(frozen=True)
class InjectResult:
    """What one request did. `injections` holds every injection, or with a summarised
    request (`summarised`) only the last few; `summary` always covers all of them.
    `os_log` is what the OS printed meanwhile (its tail when summarised), `os` its state
    after (`up`, `panic`, `down`). `not_submitted` counts injections never submitted
    (stopped by a signal or a journal failure: `journal_error`)."""

    injections: tuple[Outcome, ...]
    summary: Summary
    summarised: bool
    os_log: tuple[str, ...]
    os: Mapping[str, Any]
    via: str
    not_submitted: int = 0
    journal_error: str | None = None
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, d: Mapping[str, Any], via: str | None = None) -> InjectResult:
        injs = d["injections"]
        summarised = d.get("summary") is not None
        return cls(injections=tuple(Outcome.from_json(i) for i in injs),
                   summary=Summary.from_json(d["summary"] if summarised else latency_summary(injs)),
                   summarised=summarised, os_log=tuple(d.get("os_log") or ()), os=d.get("os") or {},
                   via=via or d.get("via", "in-process"), not_submitted=int(d.get("not_submitted") or 0),
                   journal_error=d.get("journal_error"), raw=d)

    @property
    def os_up(self) -> bool:
        return self.os.get("up", True) is not False

    @property
    def exit_code(self) -> int:
        """0 every injection consumed; 3 any dropped, timed out or interrupted; 4 any
        refused (the worst wins); 6 all consumed but the OS is down after them."""
        rc = max((STATE_EXIT.get(s, EXIT_TIMEOUT) for s in self.summary.states), default=EXIT_OK)
        if rc == EXIT_OK and not self.os_up:
            return EXIT_OS_DOWN
        return rc


@dataclasses.dataclass(frozen=True)
class SessionOptions:
    """How the firmware instance runs. `daemon`: None uses the board's daemon when one runs,
    False never does (in-process), True requires one. The rest are fixed when an instance
    starts, so a daemon (started with its own) refuses them: `journal` (a path or "none";
    default per board), `url` (an agent board's channel), `sim` (the sim OS model's knobs),
    `unsafe_concurrent_sei`, `sei_settle_ms`."""

    daemon: bool | None = None
    journal: str | None = None
    url: str | None = None
    sim: Mapping[str, Any] | None = None
    unsafe_concurrent_sei: bool = False
    sei_settle_ms: float | None = None
    local_journal: str | None = None     # in-process only, where `journal` is not given


    def fixed_at_start(self) -> list[str]:
        """The options a running daemon cannot take per request, as their CLI options."""
        sim = self.sim or {}
        given = [flag for key, (flag, default) in SIM_KNOBS.items() if sim.get(key, default) not in (default, None)]
        given += ["--unsafe-concurrent-sei"] if self.unsafe_concurrent_sei else []
        given += ["--journal"] if self.journal else []
        given += ["--sei-settle-ms"] if self.sei_settle_ms is not None else []
        given += ["--url"] if self.url is not None else []
        return given


# the sim OS model's knobs (SessionOptions.sim): their CLI option and the value a board
# starts with when the knob is not given
SIM_KNOBS: dict[str, tuple[str, Any]] = {
    "delay": ("--os-delay", 0.0), "deaf": ("--os-deaf", False), "masked_pes": ("--mask-pe", []),
    "sei_mode": ("--sei-mode", "walk"), "ratelimit": ("--no-ratelimit", True), "kernel": ("--os-kernel", None)}


OnFinal = Callable[[Outcome], None]
Progress = Callable[[int], None]


class FirmwareSession(Protocol):
    """A firmware instance for one board, wherever it runs."""

    board: Board
    via: str
    # the target's flags (targets.Cap) where this process holds it; a daemon's: none of them
    caps: frozenset[str]

    def inject(self, req: InjectRequest, *, on_final: OnFinal | None = None,
               progress: Progress | None = None) -> InjectResult: ...

    def status(self) -> dict[str, Any]: ...

    def reset(self) -> dict[str, Any]: ...

    def stop(self, reason: str, *, from_signal: bool = False) -> bool: ...

    def close(self) -> None: ...

    def __enter__(self) -> FirmwareSession: ...

    def __exit__(self, *exc: object) -> None: ...


def _summarise(req: InjectRequest) -> InjectRequest:
    return req.replace(report="summary") if req.count > MAX_FULL_REPORT and req.report != "summary" else req


class LocalSession:
    """The firmware in this process (`session.Session`): a sim board boots its own OS for it."""

    via = "in-process"

    def __init__(self, board: Board, options: SessionOptions):
        from .session import Session

        settle = None if options.sei_settle_ms is None else options.sei_settle_ms / 1000
        self._session = Session.open(board, journal=options.journal or options.local_journal,
                                     unsafe_concurrent_sei=options.unsafe_concurrent_sei,
                                     sei_settle=settle, sim=dict(options.sim) if options.sim else None,
                                     url=options.url)
        self.board = self._session.board
        self.caps = self._session.target.capabilities()

    def inject(self, req: InjectRequest, *, on_final: OnFinal | None = None,
               progress: Progress | None = None) -> InjectResult:
        req = _summarise(req)
        cb = None if on_final is None else (lambda inj: on_final(Outcome.from_json(inj.to_json())))
        return InjectResult.from_json(self._session.inject(req, progress=progress, on_final=cb), self.via)

    def status(self) -> dict[str, Any]:
        return self._session.status()

    def reset(self) -> dict[str, Any]:
        return self._session.reset()

    def stop(self, reason: str, *, from_signal: bool = False) -> bool:
        """Stop submitting (a signal, a campaign's limit); in-flight injections drain."""
        self._session.stop_accepting(reason, from_signal=from_signal)
        return True

    @property
    def journal_path(self) -> str | None:
        p = self._session.journal.path
        return None if p is None else str(p)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> LocalSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteSession:
    """The firmware in the `fwemu daemon` serving the board, over its control socket. With
    `on_final` or `progress` the request is streamed (each injection's frame as it ends,
    the summary last: bounded for any count); `stop` cannot reach a request already sent
    (it returns False)."""

    via = "daemon"

    def __init__(self, board: Board, client: Any):
        self.board, self._client = board, client
        self.path = client.path
        self.caps: frozenset[str] = frozenset()

    def inject(self, req: InjectRequest, *, on_final: OnFinal | None = None,
               progress: Progress | None = None) -> InjectResult:
        req = _summarise(req)
        # @FILE values are read here: the daemon's working directory is not ours
        fields = {k: scenarios.inline_files(k, v) for k, v in req.fields.items()}
        wire = req.replace(fields=fields).to_wire()
        on_event = None
        if on_final is not None or progress is not None:
            # streamed: each injection's frame as it ends (the reply holds the summary)
            wire["stream"] = True
            done = [0]

            def on_event(frame: Mapping[str, Any]) -> None:
                done[0] += 1
                if on_final is not None:
                    on_final(Outcome.from_json(frame["injection"]))
                if progress is not None and done[0] % 64 == 0:
                    progress(done[0])
        res = InjectResult.from_json(self._client.request("inject", wire, on_event=on_event), self.via)
        if progress is not None:
            progress(req.count - res.not_submitted)
        return res

    def status(self) -> dict[str, Any]:
        return dict(self._client.request("status"))

    def reset(self) -> dict[str, Any]:
        return dict(self._client.request("reset"))

    def stop(self, reason: str, *, from_signal: bool = False) -> bool:
        return False

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RemoteSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(board: Board | str, options: SessionOptions | None = None) -> FirmwareSession:
    """The firmware for `board` (a Board or a board name/path): its daemon's when one runs
    (unless options.daemon is False), else in this process. Options a running daemon fixed
    at its start are refused (UsageError naming the first), never silently ignored."""
    options = options or SessionOptions()
    if not isinstance(board, Board):
        board = load_board(board)
    if options.daemon is not False:
        from .daemon import Client

        client = Client.connect(board.name)
        if client is not None:
            given = options.fixed_at_start()
            if given:
                client.close()
                raise UsageError(given[0], f"a daemon serves board {board.name!r} ({client.path}); "
                                 f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} fixed when the "
                                 f"daemon starts (`fwemu daemon {' '.join(given)}`), not per request")
            return RemoteSession(board, client)
        if options.daemon:
            raise UnreachableError(f"no daemon serves board {board.name!r} (start one: fwemu daemon --board {board.name})")
    return LocalSession(board, options)


def outcomes(results: Iterator[InjectResult]) -> Iterator[Outcome]:
    for r in results:
        yield from r.injections
