"""Campaigns: a validation run as data (a TOML file), run step by step on any board.

    name = "memory soak"
    seed = 7                      # every random value below follows from it
    timeout = 5.0                 # seconds each injection may take (a step may say its own)

    [[step]]
    name = "correctable trickle"
    scenario = "memory-ce"
    count = 200
    rate = 100
    fields = { address = "0x60000000:0x60100000:0x1000" }

    [[step]]
    name = "mixed load"
    duration = "10s"
    pe = "random:0:4"
    mix = [ { scenario = "memory-ue", weight = 3, fields = { address = "random:0x60000000:0x70000000:0x1000" } },
            { scenario = "arm-cache-ue", notify = "sdei" } ]

    [[step]]
    wait = "2s"

A step injects (`scenario` or `mix`, with `count`, `duration`, `rate`, `timeout`, `source`,
`notify`, `pe`, `fields`, `identical`), waits (`wait`) or reboots the OS (`reset = true`).
Before an injecting step the OS must be up; `when_os_down` says what else to do ("stop", the
default; "reset"; "skip"). `expect` names the final states the step counts as passing
(default: consumed) and, optionally, the OS state after it (`os = "up"` or `"down"`).
The file is parsed and checked once, before anything runs (a bad value is one line naming
the file, the step and the key); the board-specific checks (sources, notifications, PEs)
run before the first step. Everything else is the typed API's (`api.InjectRequest`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from . import api, scenarios
from .board import Board
from .errors import EXIT_OK, EXIT_OS_DOWN, EXIT_TIMEOUT, UsageError
from .request import InjectRequest, Variant
from .safe_io import read_capped
from .sweep import Injections

MAX_FILE = 1 << 20
MAX_STEPS = 10_000
MAX_COUNT = 1_000_000_000
MAX_SECONDS = 30 * 86400.0
WHEN_OS_DOWN = ("stop", "reset", "skip")
FINAL_STATES = ("consumed", "dropped", "refused", "timed-out", "interrupted")
# a step run by duration submits chunks of this many seconds' worth of injections, so it
# can end on time without stopping the session (a stop ends its run)
CHUNK_S = 1.0

_TOP_KEYS = {"name", "description", "seed", "timeout", "step"}
_INJECT_KEYS = {"name", "scenario", "mix", "count", "duration", "rate", "timeout", "source", "notify",
                "pe", "fields", "identical", "expect", "when_os_down"}
_VARIANT_KEYS = {"scenario", "weight", "fields", "source", "notify", "pe"}


class CampaignError(UsageError):
    """A campaign file is invalid: `file: where: reason`, exit 2."""

    def __init__(self, file: str, where: str, reason: str):
        super().__init__(where, reason)
        self.args = (f"{file}: {where}: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


@dataclasses.dataclass(frozen=True)
class Expect:
    states: tuple[str, ...] = ("consumed",)
    os: str | None = None          # "up", "down", or None (not checked)


@dataclasses.dataclass(frozen=True)
class Step:
    """One step: `kind` is "inject", "wait" or "reset". An inject step runs `request`
    (`count` injections), or for `duration` seconds when that is given."""

    index: int
    name: str
    kind: str
    request: InjectRequest | None = None
    duration: float | None = None
    wait: float = 0.0
    expect: Expect = Expect()
    when_os_down: str = "stop"

    @property
    def label(self) -> str:
        return f"step {self.index + 1} ({self.name})"


@dataclasses.dataclass(frozen=True)
class Campaign:
    file: str
    name: str
    description: str
    seed: int
    steps: tuple[Step, ...]

    def check_board(self, board: Board) -> None:
        """What depends on the board, for every step before the first runs: each variant's
        source and notification exist, and its PEs."""
        for st in self.steps:
            if st.request is None:
                continue
            plan = _wrap(self.file, st.label, functools.partial(Injections, st.request, board.pes.count))
            for p in plan.picks:
                _wrap(self.file, st.label, functools.partial(board.pick_source, p.scenario, p.source, p.notify))
                if p.pe_spec is None and not 0 <= p.pe < board.pes.count:
                    raise CampaignError(self.file, f"{st.label}: pe", f"board {board.name!r} has PEs "
                                        f"0 .. {board.pes.count - 1}")


def _wrap(file: str, where: str, fn: Callable[[], Any]) -> Any:
    """Run a check; its UsageError becomes one naming the file and the step."""
    try:
        return fn()
    except CampaignError:
        raise
    except UsageError as exc:
        raise CampaignError(file, f"{where}: {exc.field.lstrip('-')}", exc.reason) from None


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(file: str, where: str, v: Any) -> float:
    """A duration: a number of seconds, or text like "500ms", "30s", "2m", "1h"."""
    if isinstance(v, bool):
        raise CampaignError(file, where, "must be a duration (a number of seconds, or \"30s\", \"2m\")")
    if isinstance(v, (int, float)):
        secs = float(v)
    elif isinstance(v, str) and (m := re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|m|h)?\s*", v)):
        secs = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise CampaignError(file, where, f"{v!r} is not a duration (a number of seconds, or \"30s\", \"2m\")")
    if not math.isfinite(secs) or secs < 0 or secs > MAX_SECONDS:
        raise CampaignError(file, where, f"must be 0 .. {MAX_SECONDS:g} seconds")
    return secs


def _field_text(file: str, where: str, v: Any) -> str:
    """A field value as the CLI takes it: text as is, a number in hex, a list as V1,V2, a
    list of text as a repeatable option's entries (joined by ';')."""
    if isinstance(v, bool):
        raise CampaignError(file, where, "must be a number, text or a list (not a boolean)")
    if isinstance(v, int):
        return hex(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        return ",".join(hex(x) for x in v)
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return ";".join(v)
    raise CampaignError(file, where, f"must be a number, text, a list of numbers or a list of text "
                        f"(got {v!r:.60})")


class _Reader:
    """Typed reads of one table, naming the file and where in it."""

    def __init__(self, file: str, where: str, table: Mapping[str, Any], known: set[str]):
        self.file, self.where, self.t = file, where, table
        unknown = sorted(set(table) - known)
        if unknown:
            raise CampaignError(file, f"{where}: {unknown[0]}", f"unknown key (known: {', '.join(sorted(known))})")

    def at(self, key: str) -> str:
        return f"{self.where}: {key}" if self.where else key

    def get(self, key: str, types: tuple[type, ...], what: str, default: Any = None) -> Any:
        v = self.t.get(key, default)
        if v is default:
            return v
        if isinstance(v, bool) and bool not in types or not isinstance(v, types):
            raise CampaignError(self.file, self.at(key), f"must be {what} (got {v!r:.60})")
        return v

    def number(self, key: str, lo: float, hi: float, default: float | None = None) -> float | None:
        v = self.get(key, (int, float), "a number", default)
        if v is not None and not (math.isfinite(v) and lo <= v <= hi):
            raise CampaignError(self.file, self.at(key), f"{v:g} is outside {lo:g} .. {hi:g}")
        return None if v is None else float(v)

    def integer(self, key: str, lo: int, hi: int, default: int | None = None) -> int | None:
        v = self.get(key, (int,), "an integer", default)
        if v is not None and not lo <= v <= hi:
            raise CampaignError(self.file, self.at(key), f"{v} is outside {lo} .. {hi}")
        return None if v is None else int(v)

    def pe(self) -> int | str | None:
        v = self.t.get("pe")
        if v is None:
            return None
        if isinstance(v, list):
            return _field_text(self.file, self.at("pe"), v).replace("0x", "")
        if isinstance(v, (int, str)) and not isinstance(v, bool):
            return v
        raise CampaignError(self.file, self.at("pe"), "must be a PE index, a list of them, or a spec like \"0:4:1\"")

    def fields(self) -> dict[str, str]:
        f = self.get("fields", (dict,), "a table of field = value", {})
        return {k: _field_text(self.file, self.at(f"fields.{k}"), v) for k, v in f.items()}


def _scenario(r: _Reader, table: Mapping[str, Any]) -> str:
    name = r.get("scenario", (str,), "a scenario name")
    if name not in scenarios.SCENARIOS:
        raise CampaignError(r.file, r.at("scenario"), f"unknown scenario {name!r} "
                            f"(one of: {', '.join(scenarios.SCENARIOS)})")
    return str(name)


def _step(file: str, index: int, t: Any, seed: int, timeout: float) -> Step:
    if not isinstance(t, dict):
        raise CampaignError(file, f"step {index + 1}", "must be a table ([[step]])")
    kinds = [k for k in ("scenario", "mix", "wait", "reset") if k in t]
    name = t.get("name")
    if not isinstance(name, str):     # a step is named by its scenario (or kind) unless named
        name = t.get("scenario") if isinstance(t.get("scenario"), str) and kinds == ["scenario"] else \
            (kinds[0] if len(kinds) == 1 else None)
    name = str(name or "step")
    label = f"step {index + 1} ({name})"
    if len(kinds) != 1:
        raise CampaignError(file, label, "needs exactly one of scenario, mix, wait or reset "
                            f"(has: {', '.join(kinds) or 'none'})")
    kind = kinds[0]
    if kind in ("wait", "reset"):
        r = _Reader(file, label, t, {"name", kind})
        r.get("name", (str,), "text")
        if kind == "wait":
            return Step(index, name, "wait", wait=parse_seconds(file, r.at("wait"), t["wait"]))
        if t["reset"] is not True:
            raise CampaignError(file, r.at("reset"), "must be true")
        return Step(index, name, "reset")
    r = _Reader(file, label, t, _INJECT_KEYS)
    r.get("name", (str,), "text")
    if "count" in t and "duration" in t:
        raise CampaignError(file, label, "takes count or duration, not both")
    count = r.integer("count", 1, MAX_COUNT, 1)
    duration = parse_seconds(file, r.at("duration"), t["duration"]) if "duration" in t else None
    rate = r.number("rate", 0, 1e9, 0.0)
    mix: tuple[Variant, ...] = ()
    if kind == "mix":
        variants = r.get("mix", (list,), "an array of tables (scenario, weight, fields, …)")
        if not variants:
            raise CampaignError(file, r.at("mix"), "needs at least one variant")
        out = []
        for n, v in enumerate(variants):
            if not isinstance(v, dict):
                raise CampaignError(file, r.at(f"mix[{n}]"), "must be a table")
            vr = _Reader(file, r.at(f"mix[{n}]"), v, _VARIANT_KEYS)
            fields, pe = vr.fields(), vr.pe()
            out.append(_wrap(file, vr.where, functools.partial(
                Variant, _scenario(vr, v), vr.number("weight", 1e-9, 1e9, 1.0) or 1.0, fields,
                vr.integer("source", 0, 0xFFFF), vr.get("notify", (str,), "a notification type"), pe)))
        mix = tuple(out)
        scenario = mix[0].scenario
    else:
        scenario = _scenario(r, t)
    expect_t = r.get("expect", (dict,), "a table (states, os)", {})
    er = _Reader(file, r.at("expect"), expect_t, {"states", "state", "os"})
    states = expect_t.get("states", expect_t.get("state", ["consumed"]))
    states = [states] if isinstance(states, str) else states
    if not isinstance(states, list) or not states or any(s not in FINAL_STATES for s in states):
        raise CampaignError(file, er.at("states"), f"must list final states ({', '.join(FINAL_STATES)})")
    os_want = er.get("os", (str,), "\"up\" or \"down\"")
    if os_want not in (None, "up", "down"):
        raise CampaignError(file, er.at("os"), "must be \"up\" or \"down\"")
    when = r.get("when_os_down", (str,), "text", "stop")
    if when not in WHEN_OS_DOWN:
        raise CampaignError(file, r.at("when_os_down"), f"must be one of {', '.join(WHEN_OS_DOWN)}")
    pe = r.pe()
    req = _wrap(file, label, lambda: InjectRequest(
        scenario, r.fields(), source=r.integer("source", 0, 0xFFFF), notify=r.get("notify", (str,), "text"),
        pe=0 if pe is None else pe, count=count or 1, rate=rate or 0.0,
        timeout=r.number("timeout", 1e-3, 7 * 86400.0, timeout) or timeout,
        unique=not r.get("identical", (bool,), "true or false", False),
        seed=step_seed(seed, index), mix=mix))
    if duration is not None and duration <= 0:
        raise CampaignError(file, r.at("duration"), "must be above 0")
    _wrap(file, label, lambda: Injections(req, 1 << 16))    # field specs, PE spec
    for p in Injections(req, 1 << 16).picks:
        if p.scenario != "raw":
            _wrap(file, label, functools.partial(scenarios.build, p.scenario, p.plan.fixed))
    return Step(index, name, "inject", request=req, duration=duration,
                expect=Expect(tuple(states), os_want), when_os_down=when)


def parse(data: Mapping[str, Any], file: str) -> Campaign:
    r = _Reader(file, "", data, _TOP_KEYS)
    seed = r.integer("seed", 0, (1 << 48) - 1, 0) or 0
    timeout = r.number("timeout", 1e-3, 7 * 86400.0, 5.0) or 5.0
    steps = data.get("step")
    if not isinstance(steps, list) or not steps:
        raise CampaignError(file, "step", "a campaign needs at least one [[step]]")
    if len(steps) > MAX_STEPS:
        raise CampaignError(file, "step", f"at most {MAX_STEPS} steps (got {len(steps)})")
    return Campaign(file, r.get("name", (str,), "text") or os.path.basename(file),
                    r.get("description", (str,), "text") or "", seed,
                    tuple(_step(file, i, t, seed, timeout) for i, t in enumerate(steps)))


def load(path: str) -> Campaign:
    raw = read_capped(path, MAX_FILE, CampaignError, "a campaign file")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CampaignError(path, "file", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(path, "syntax", str(exc)) from None
    return parse(data, path)


# ---- running --------------------------------------------------------------------------------
@dataclasses.dataclass
class StepResult:
    step: Step
    outcome: str                    # "ran", "skipped", "stopped" (not reached: an earlier stop)
    summary: api.Summary | None = None
    os: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    passed: bool = True
    why: str = ""                   # what failed the step's expectation, or why it was skipped
    seconds: float = 0.0
    exit_code: int = EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step.index + 1, "name": self.step.name, "kind": self.step.kind,
                "outcome": self.outcome, "passed": self.passed, "why": self.why or None,
                "seconds": round(self.seconds, 4), "exit_code": self.exit_code,
                "summary": None if self.summary is None else self.summary.to_json(),
                "os": dict(self.os) or None}


def _os_of(session: api.FirmwareSession) -> Mapping[str, Any]:
    return dict(session.status().get("target", {}).get("os") or {})


def _merge(a: api.Summary | None, b: api.Summary) -> api.Summary:
    """Two chunks' summaries as one: counts add; percentiles are the larger chunk's (each
    chunk's are exact for it; a duration step reports them per step, not per injection)."""
    if a is None:
        return b
    states = dict(a.states)
    for k, v in b.states.items():
        states[k] = states.get(k, 0) + v
    big = a if a.count >= b.count else b
    maxes = [x for x in (a.max_ms, b.max_ms) if x is not None]
    means = [(x.mean_ms, x.count) for x in (a, b) if x.mean_ms is not None]
    return api.Summary(count=a.count + b.count, states=states, p50_ms=big.p50_ms, p99_ms=big.p99_ms,
                       max_ms=max(maxes) if maxes else None,
                       mean_ms=sum(m * n for m, n in means) / sum(n for _, n in means) if means else None,
                       latency_sampled=True, reasons=tuple(a.reasons) + tuple(b.reasons))


class Runner:
    """Runs a campaign's steps in order on one firmware session. `stop(reason)` (a signal
    handler, another thread) ends the step in progress as `fwemu inject` ends on Ctrl-C and
    runs no further step."""

    def __init__(self, campaign: Campaign, session: api.FirmwareSession, *,
                 on_final: api.OnFinal | None = None,
                 on_step: Callable[[StepResult], None] | None = None):
        self.campaign, self.session = campaign, session
        self.on_final, self.on_step = on_final, on_step
        self.on_start: Callable[[Step], None] | None = None
        self.stopped: str | None = None
        self.journal_error: str | None = None
        self._wake = threading.Event()

    @property
    def via(self) -> str:
        return self.session.via

    def stop(self, reason: str, *, from_signal: bool = False) -> None:
        self.stopped = self.stopped or reason
        self._wake.set()
        self.session.stop(reason, from_signal=from_signal)

    def run(self) -> list[StepResult]:
        results: list[StepResult] = []
        for st in self.campaign.steps:
            if self.stopped:
                res = StepResult(st, "stopped", passed=False, why=self.stopped)
            else:
                if self.on_start is not None:
                    self.on_start(st)
                t0 = time.monotonic()
                res = self._run_step(st)
                res.seconds = time.monotonic() - t0
            results.append(res)
            if self.on_step is not None:
                self.on_step(res)
        return results

    def _run_step(self, st: Step) -> StepResult:
        if st.kind == "wait":
            self._wake.wait(st.wait)
            return StepResult(st, "ran")
        if st.kind == "reset":
            return StepResult(st, "ran", os=dict(self.session.reset().get("os") or {}))
        assert st.request is not None
        os_now = _os_of(self.session)
        if os_now.get("up") is False:
            why = f"the OS is down before it ({os_now.get('panic') or os_now.get('down') or 'no reason given'})"
            if st.when_os_down == "skip":
                return StepResult(st, "skipped", os=os_now, why=why)
            if st.when_os_down == "stop":
                self.stopped = why
                return StepResult(st, "ran", os=os_now, passed=False, why=why, exit_code=EXIT_OS_DOWN)
            self.session.reset()
        summary, res = None, None
        if st.duration is None:
            res = self.session.inject(st.request, on_final=self.on_final)
            summary = res.summary
        else:
            end = time.monotonic() + st.duration
            rate = st.request.rate
            chunk = max(1, int(rate * CHUNK_S)) if rate > 0 else 256
            k = 0
            while not self.stopped and (left := end - time.monotonic()) > 0 and \
                    not (res is not None and res.journal_error):
                n = min(chunk, max(1, int(rate * left))) if rate > 0 else chunk
                t0 = time.monotonic()
                res = self.session.inject(st.request.replace(count=n, seed=(st.request.seed + k) % (1 << 64)),
                                          on_final=self.on_final)
                summary = _merge(summary, res.summary)
                k += 1
                if rate <= 0:     # as fast as accepted: about CHUNK_S of injections per chunk
                    took = max(time.monotonic() - t0, 1e-3)
                    chunk = max(16, min(100_000, int(n * CHUNK_S / took)))
        if res is not None and res.journal_error:
            self.journal_error = res.journal_error
            self.stopped = self.stopped or res.journal_error
        os_after = dict(res.os) if res is not None else _os_of(self.session)
        out = StepResult(st, "ran", summary=summary, os=os_after)
        if summary is not None:
            bad = {k: v for k, v in summary.states.items() if k not in st.expect.states}
            if bad:
                out.passed = False
                out.why = ", ".join(f"{v} {k}" for k, v in bad.items()) + f" (expected {'/'.join(st.expect.states)})"
            out.exit_code = max((api.STATE_EXIT.get(s, EXIT_TIMEOUT) for s in bad), default=EXIT_OK)
        up = os_after.get("up") is not False
        if st.expect.os is not None:
            if (st.expect.os == "up") != up:
                out.passed = False
                out.why = "; ".join(filter(None, [out.why, f"the OS is {'up' if up else 'down'} after it "
                                                           f"(expected {st.expect.os})"]))
                # down unexpectedly: 6; up where a panic was expected: the reaction did not come (3)
                out.exit_code = max(out.exit_code, EXIT_OS_DOWN if not up else EXIT_TIMEOUT)
        elif not up:
            out.why = "; ".join(filter(None, [out.why, "the OS is down after it "
                                             f"({os_after.get('panic') or os_after.get('down') or 'no reason given'})"]))
            out.passed = False      # as `fwemu inject` exits 6: consumed, and the OS went down
            out.exit_code = max(out.exit_code, EXIT_OS_DOWN)
        return out


def step_seed(seed: int, index: int) -> int:
    """Each step's own seed: steps differ, and the campaign's seed fixes them all."""
    return (seed * 65_537 + index) % (1 << 64)


def reseed(camp: Campaign, seed: int) -> Campaign:
    """The campaign with another seed (`--seed`), every step's values following from it."""
    if not 0 <= seed < 1 << 48:
        raise UsageError("--seed", f"{seed} is outside 0 .. {(1 << 48) - 1}")
    steps = tuple(dataclasses.replace(st, request=st.request.replace(seed=step_seed(seed, st.index)))
                  if st.request is not None else st for st in camp.steps)
    return dataclasses.replace(camp, seed=seed, steps=steps)


def totals(results: list[StepResult]) -> dict[str, Any]:
    states: dict[str, int] = {}
    for r in results:
        if r.summary is not None:
            for k, v in r.summary.states.items():
                states[k] = states.get(k, 0) + v
    return {"count": sum(states.values()), "states": states,
            "steps": {o: sum(1 for r in results if r.outcome == o) for o in ("ran", "skipped", "stopped")},
            "passed": sum(1 for r in results if r.outcome == "ran" and r.passed)}


def exit_code(results: list[StepResult]) -> int:
    """The worst step's: 0 every step passed; 3 an injection ended other than expected
    (timed out, dropped, interrupted) or the OS stayed up where a step expected it down;
    4 one was refused; 6 the OS went down where the campaign did not expect it."""
    return max((r.exit_code for r in results if r.outcome == "ran"), default=EXIT_OK)
