"""The pytest plugin's fixtures and hooks, registered by `pytest_plugin` only once the plugin
is asked for (`--fwemu-board`, `-p fwemu`, the `fwemu_board` ini option)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from . import api
from .board import Board, load_board
from .errors import FwemuError


class InjectionFailed(AssertionError):
    """An assertion about an injection or the OS that did not hold. Its first line says
    what happened in one line (JUnit's failure message); the rest is the detail."""


class Result:
    """One `Injector.inject` call's result, with assertions on what the OS did."""

    def __init__(self, res: api.InjectResult, what: str):
        self.res, self.what = res, what

    def __getattr__(self, name: str) -> Any:
        return getattr(self.res, name)

    def _fail(self, headline: str) -> None:
        tail = "\n".join(f"    {ln}" for ln in self.res.os_log[-20:]) or "    (nothing)"
        rows = "\n".join(f"  #{o.id} {o.scenario} source {o.source} ({o.notify}, PE {o.pe}): {o.state}"
                         + (f" {o.latency_ms:.3f} ms" if o.latency_ms is not None else "")
                         + (f": {o.reason}" if o.reason else "") for o in self.res.injections[:20])
        raise InjectionFailed(f"{self.what}: {headline}\ninjections:\n{rows}\nOS log (last lines):\n{tail}")

    def assert_consumed(self, within_ms: float | None = None) -> Result:
        """Every injection consumed (and, with within_ms, each within that many ms of its
        notification)."""
        for o in self.res.injections:
            if not o.consumed:
                self._fail(f"#{o.id} on source {o.source} ({o.notify.upper()}) was {o.state}, not consumed: "
                           f"{o.reason or 'no reason given'}")
            if within_ms is not None and (o.latency_ms is None or o.latency_ms > within_ms):
                got = "an unknown time" if o.latency_ms is None else f"{o.latency_ms:.3f} ms"
                self._fail(f"#{o.id} was consumed after {got}, not within {within_ms:g} ms")
        if self.res.summarised and set(self.res.summary.states) != {"consumed"}:
            self._fail(f"not all consumed: {dict(self.res.summary.states)}")
        return self

    def assert_state(self, state: str) -> Result:
        for o in self.res.injections:
            if o.state != state:
                self._fail(f"#{o.id} ended {o.state}, not {state}: {o.reason or 'no reason given'}")
        return self

    def assert_kernel_printed(self, text: str, *, regex: bool = False) -> Result:
        """The OS printed a line containing `text` (or matching the regex) during the call."""
        found = any((re.search(text, ln) if regex else text in ln) for ln in self.res.os_log)
        if not found:
            self._fail(f"the kernel did not print {text!r}")
        return self

    def assert_memory_failure_recovered(self, address: int | None = None) -> Result:
        """memory_failure() recovered the page (of `address`, else of any injection)."""
        pfn = None if address is None else f"{address >> 12:#x}"
        for ln in self.res.os_log:
            m = re.search(r"Memory failure: (0x[0-9a-f]+): recovery action for .*: Recovered", ln)
            if m and (pfn is None or m.group(1) == pfn):
                return self
        lines = [ln for ln in self.res.os_log if "Memory failure:" in ln]
        self._fail(f"memory_failure did not recover {'page ' + pfn if pfn else 'a page'}"
                   + (f" (it printed: {lines[-1]})" if lines else " (no Memory failure line)"))
        return self

    def assert_os_up(self) -> Result:
        if not self.res.os_up:
            self._fail(f"the OS is down: {self.res.os.get('panic') or self.res.os.get('down') or 'no reason given'}")
        return self

    def assert_panicked(self, text: str | None = None) -> Result:
        why = self.res.os.get("panic") or self.res.os.get("down") or ""
        if self.res.os_up or (text is not None and text not in why):
            self._fail("the OS did not panic" if self.res.os_up else f"the OS went down with {why!r}, not {text!r}")
        return self


class Injector:
    """What a test uses: `inject(scenario, **fields)`, `status()`, `reset()`, on the run's
    firmware session. Each injection is recorded in the test's JUnit properties."""

    def __init__(self, session: api.FirmwareSession, node: pytest.Item, timeout: float):
        self.session, self.node, self.timeout = session, node, timeout
        self.board: Board = session.board

    def inject(self, scenario: str, *, count: int = 1, source: int | None = None, notify: str | None = None,
               pe: int | str = 0, rate: float = 0.0, timeout: float | None = None,
               **fields: Any) -> Result:
        req = api.InjectRequest(scenario, fields, source=source, notify=notify, pe=pe, count=count, rate=rate,
                                timeout=self.timeout if timeout is None else timeout)
        res = self.session.inject(req)
        for o in res.injections:
            lat = "" if o.latency_ms is None else f" {o.latency_ms:.3f} ms"
            self.node.user_properties.append(
                ("fwemu", f"{o.run}#{o.id} {o.scenario} source {o.source} {o.notify}: {o.state}{lat}"))
        return Result(res, f"{scenario} ({count} on {self.board.name})")

    def status(self) -> dict[str, Any]:
        return self.session.status()

    def reset(self) -> dict[str, Any]:
        return self.session.reset()


def _board_name(config: pytest.Config) -> str | None:
    return config.getoption("fwemu_board") or config.getini("fwemu_board") or None


def pytest_report_header(config: pytest.Config) -> str:
    return f"fwemu: board {_board_name(config) or '(FWEMU_BOARD or sim)'}"


@pytest.fixture(scope="session")
def fwemu_board(pytestconfig: pytest.Config) -> Board:
    try:
        return load_board(_board_name(pytestconfig))
    except FwemuError as exc:
        raise pytest.UsageError(f"--fwemu-board: {exc}") from None


@pytest.fixture(scope="session")
def fwemu_session(pytestconfig: pytest.Config, fwemu_board: Board) -> Iterator[api.FirmwareSession]:
    """One firmware session for the test run: the board's daemon when one runs, else in
    this process (a sim board's OS then lives as long as the run; `fwemu.reset()` reboots it)."""
    opt = pytestconfig.getoption
    options = api.SessionOptions(daemon=False if opt("fwemu_no_daemon") else None,
                                 journal=opt("fwemu_journal"), url=opt("fwemu_url"))
    with api.open_session(fwemu_board, options) as session:
        yield session


@pytest.fixture
def fwemu(fwemu_session: api.FirmwareSession, request: pytest.FixtureRequest) -> Injector:
    return Injector(fwemu_session, request.node, request.config.getoption("fwemu_timeout"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    marks = list(item.iter_markers("fwemu_requires"))
    if not marks:
        return
    board = load_board(_board_name(item.config))
    for m in marks:
        notify, scenario, source = m.kwargs.get("notify"), m.kwargs.get("scenario"), m.kwargs.get("source")
        if notify and not any(s.notify == notify and s.enabled for s in board.sources):
            pytest.skip(f"board {board.name} has no {notify} source")
        if scenario and scenario not in board.routes:
            pytest.skip(f"board {board.name} routes no source for {scenario}")
        if source is not None and all(s.id != source for s in board.sources):
            pytest.skip(f"board {board.name} has no source {source}")
