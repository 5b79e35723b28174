"""fwemu's pytest plugin: inject errors from tests and assert what the OS did.

Installed as the `pytest11` entry point `fwemu`, it stays off until asked: with neither
`--fwemu-board BOARD` nor `-p fwemu` on the command line (or `fwemu_board` in the ini
file) it adds its options and markers and nothing else, so a project that merely has
fwemu installed sees no fixture and no change.

    def test_memory_ue_is_recovered(fwemu):
        res = fwemu.inject("memory-ue", address=0x60000000)
        res.assert_consumed(within_ms=50)
        res.assert_memory_failure_recovered()
        res.assert_kernel_printed("[Hardware Error]: event severity: recoverable")

    @pytest.mark.fwemu_requires(notify="sdei")
    def test_sdei(fwemu): ...

The fixtures (`fwemu_session`: one firmware session for the whole test run, the board's
daemon when one runs, else in-process; `fwemu`: an `Injector` per test over it) and the
`Result` assertions live in `pytest_fixtures.py`, imported (fwemu with it) only once the
plugin is asked for. Every injection a test makes is recorded in its JUnit properties, and
a failure message starts with one line saying what happened (`memory-ce (1 on sim): #1 on
source 0 (POLLED) was timed-out, not consumed: ...`).
"""

from __future__ import annotations

import pytest

_MARKERS = ("fwemu_requires(notify=None, scenario=None, source=None): skip the test unless the board "
            "has a source with this notification, a route for this scenario, or this source id",)


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("fwemu", "fwemu firmware-first RAS error injection")
    g.addoption("--fwemu-board", default=None, metavar="BOARD",
                help="turn the fwemu plugin on for this board (a shipped name or a board file)")
    g.addoption("--fwemu-journal", default=None, metavar="FILE",
                help="journal file for the run ('none'; default: fwemu's per-board journal)")
    g.addoption("--fwemu-url", default=None, metavar="URL", help="an agent board's debug channel URL")
    g.addoption("--fwemu-no-daemon", action="store_true", help="run in-process even when a daemon serves the board")
    g.addoption("--fwemu-timeout", type=float, default=5.0, metavar="S",
                help="seconds each injection may take to be consumed (default 5)")
    parser.addini("fwemu_board", "board the fwemu plugin uses (turns the plugin on)", default=None)


def _asked(config: pytest.Config) -> bool:
    plugins = getattr(config.known_args_namespace, "plugins", None) or []
    return bool(config.getoption("fwemu_board") or config.getini("fwemu_board") or "fwemu" in plugins)


def pytest_configure(config: pytest.Config) -> None:
    for m in _MARKERS:
        config.addinivalue_line("markers", m)
    if _asked(config):
        # the fixtures live in their own module, registered only now: off means absent
        from . import pytest_fixtures

        config.pluginmanager.register(pytest_fixtures, "fwemu-fixtures")
