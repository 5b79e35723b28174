"""The pytest plugin, driven by pytester (in subprocesses: an in-process run would reimport
fwemu beside the copy this process holds): off until asked, fixtures that inject on the board,
assertions on what the OS did, failure messages a CI report can show in one line."""

from __future__ import annotations

import importlib.metadata
import xml.etree.ElementTree as ET

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def isolated(cli_isolated):
    return cli_isolated


GOOD = """
    import pytest

    def test_memory_ue_recovered(fwemu):
        res = fwemu.inject("memory-ue", address=0x60001000)
        res.assert_consumed(within_ms=2000).assert_memory_failure_recovered(0x60001000)
        res.assert_kernel_printed("[Hardware Error]: event severity: recoverable")
        res.assert_kernel_printed(r"physical_address: 0x0+60001000", regex=True)
        res.assert_os_up()

    def test_a_mix_of_pes(fwemu):
        res = fwemu.inject("memory-ce", count=4, pe="0:4:1", address="0x60000000:0x60004000:0x1000")
        res.assert_consumed()
        assert [o.pe for o in res.injections] == [0, 1, 2, 3]

    def test_fatal_then_reset(fwemu):
        fwemu.inject("memory-fatal").assert_consumed().assert_panicked("Fatal hardware error")
        assert fwemu.reset()["os"]["up"] is True

    @pytest.mark.fwemu_requires(notify="gpio")
    def test_needs_gpio(fwemu):
        raise AssertionError("sim has no gpio source: never runs")

    @pytest.mark.fwemu_requires(notify="sdei")
    def test_sdei(fwemu):
        fwemu.inject("arm-cache-ue", notify="sdei").assert_consumed()
"""


def test_the_entry_point_is_installed():
    eps = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "fwemu"]
    assert [e.value for e in eps] == ["fwemu.pytest_plugin"]


def test_off_until_asked(pytester):
    pytester.makepyfile("def test_x(fwemu):\n    pass\n")
    res = pytester.runpytest_subprocess()
    res.assert_outcomes(errors=1)
    res.stdout.fnmatch_lines(["*fixture 'fwemu' not found*"])
    assert "fwemu: board" not in res.stdout.str()


def test_on_with_a_board(pytester):
    pytester.makepyfile(GOOD)
    res = pytester.runpytest_subprocess("--fwemu-board", "sim", "--fwemu-journal", "none", "-rs")
    res.assert_outcomes(passed=4, skipped=1)
    res.stdout.fnmatch_lines(["fwemu: board sim", "*board sim has no gpio source*"])


def test_on_with_dash_p(pytester):
    pytester.makepyfile(GOOD)
    res = pytester.runpytest_subprocess("-p", "fwemu", "--fwemu-journal", "none")
    res.assert_outcomes(passed=4, skipped=1)


def test_on_from_the_ini_file(pytester):
    pytester.makeini("[pytest]\nfwemu_board = sim\n")
    pytester.makepyfile(GOOD)
    res = pytester.runpytest_subprocess("--fwemu-journal", "none")
    res.assert_outcomes(passed=4, skipped=1)


@pytest.fixture
def deaf_daemon():
    """A daemon for the sim board whose OS ignores notifications: the plugin's session is
    the daemon's (the board's daemon when one runs)."""
    import threading

    from fwemu import daemon
    from fwemu.board import load_board
    from fwemu.session import Session

    session = Session.open(load_board("sim"), journal="none", sim={"deaf": True})
    d = daemon.Daemon(session)
    d.start()
    t = threading.Thread(target=d.serve_forever, daemon=True)
    t.start()
    yield d
    d.request_stop()
    t.join(10)


def _failures(xml) -> dict[str, ET.Element]:
    return {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}


def test_a_failure_says_what_happened_in_one_line_and_junit_carries_it(pytester, deaf_daemon):
    pytester.makepyfile("""
        def test_deaf(fwemu):
            fwemu.inject("memory-ce", timeout=0.1).assert_consumed()
        """)
    xml = pytester.path / "junit.xml"
    res = pytester.runpytest_subprocess("--fwemu-board", "sim", f"--junitxml={xml}")
    res.assert_outcomes(failed=1)
    case = _failures(xml)["test_deaf"]
    first = case.find("failure").get("message").splitlines()[0]
    assert first.startswith("fwemu.pytest_fixtures.InjectionFailed: memory-ce (1 on sim): #1 on source ")
    assert "was timed-out, not consumed: " in first
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["fwemu"].endswith(": timed-out")


def test_os_assertions_fail_with_what_the_kernel_printed(pytester):
    pytester.makepyfile("""
        def test_ce_is_not_a_memory_failure(fwemu):
            fwemu.inject("memory-ce").assert_consumed().assert_memory_failure_recovered()

        def test_wrong_page(fwemu):
            fwemu.inject("memory-ue", address=0x60002000).assert_memory_failure_recovered(0x60003000)

        def test_no_such_line(fwemu):
            fwemu.inject("memory-ce").assert_kernel_printed("no such line")

        def test_not_panicked(fwemu):
            fwemu.inject("memory-ce").assert_panicked()
        """)
    xml = pytester.path / "junit.xml"
    res = pytester.runpytest_subprocess("--fwemu-board", "sim", "--fwemu-journal", "none", f"--junitxml={xml}")
    res.assert_outcomes(failed=4)
    first = {n: c.find("failure").get("message").splitlines()[0].split(": ", 1)[1] for n, c in _failures(xml).items()}
    assert first["test_ce_is_not_a_memory_failure"] == \
        "memory-ce (1 on sim): memory_failure did not recover a page (no Memory failure line)"
    assert first["test_wrong_page"].startswith("memory-ue (1 on sim): memory_failure did not recover page 0x60003 "
                                               "(it printed: Memory failure: 0x60002: recovery action")
    assert first["test_no_such_line"] == "memory-ce (1 on sim): the kernel did not print 'no such line'"
    assert first["test_not_panicked"] == "memory-ce (1 on sim): the OS did not panic"
