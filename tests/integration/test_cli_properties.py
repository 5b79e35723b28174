"""Property test (issue 15): every option of `fwemu inject`, `record build|decode|check`,
`status`, `hest build|import|lint`, `daemon`, `journal list|show|summary|export` and
`report`, given generated bad values, ends in a documented exit code with no traceback,
and a usage error is exactly one line.

Runs fwemu.cli.main in-process (tens of examples a second); values that would be valid
and slow (a large --count, a long --os-delay) are filtered out, not the bad ones.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fwemu import cli

DOCUMENTED = {0, 1, 2, 3, 4, 5, 6}

# (argv prefix, the parser path) for each command driven
COMMANDS = {
    "inject": (["inject", "memory-ue", "--journal", "none", "--timeout", "0.2"], ("inject",)),
    "inject-arm": (["inject", "arm-cache-ue", "--journal", "none", "--timeout", "0.2"], ("inject",)),
    "inject-pcie": (["inject", "pcie-ue", "--journal", "none", "--timeout", "0.2"], ("inject",)),
    "record-build": (["record", "build", "memory-ue"], ("record", "build")),
    "record-decode": (["record", "decode", "rec.bin"], ("record", "decode")),
    "record-check": (["record", "check", "rec.bin"], ("record", "check")),
    "status": (["status"], ("status",)),
    "hest-build": (["hest", "build", "-o", "h.dat"], ("hest", "build")),
    "hest-import": (["hest", "import", "h.dat"], ("hest", "import")),
    "hest-lint": (["hest", "lint", "h.dat"], ("hest", "lint")),
    "journal-list": (["journal", "list", "--journal", "j.jsonl"], ("journal", "list")),
    "journal-show": (["journal", "show", "last", "--journal", "j.jsonl"], ("journal", "show")),
    "journal-show-one": (["journal", "show", "last:1", "--journal", "j.jsonl"], ("journal", "show")),
    "journal-summary": (["journal", "summary", "--journal", "j.jsonl"], ("journal", "summary")),
    "journal-export": (["journal", "export", "--csv", "-o", "x.csv", "--journal", "j.jsonl"], ("journal", "export")),
    "report": (["report", "--no-plots", "-o", "r.html", "--journal", "j.jsonl"], ("report",)),
}
SKIP = {"-h", "--help", "--version", "--json", "-v", "--verbose"}
# values that are valid but make a run long: filtered out for these options
SLOW = {"--count": 50, "--os-delay": 0.3, "--timeout": 1.0, "--sei-settle-ms": 300, "--rate": None}

BAD_WORDS = ["nan", "-nan", "inf", "-inf", "1e400", "-1", "-0x1", "0x", "", " ", "-", "--",
             "99999999999999999999999999", str(1 << 64), str(1 << 40), "16", "65536", "0o9", "1_", "_1",
             "2025-02-30T00:00:00", "2023-02-29T23:59:60", "00:00", "@/dev/zero", "@/nonexistent",
             "@.", "/dev/zero", "/dev/full", "/proc/version", ".", "/nonexistent/x", "zz", "0,zz",
             "primary,bogus", "g:h:i", "0000:01:20.0", "\x00", "é", "x" * 300, "socket://127.0.0.1:1"]


def _options(path: tuple[str, ...]) -> list[tuple[str, bool]]:
    """(flag, takes a value) for every option of the subcommand at `path`."""
    parser = cli.build_parser(path[0])
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    out = []
    for a in parser._actions:
        if not a.option_strings or set(a.option_strings) & SKIP:
            continue
        flag = max(a.option_strings, key=len)
        out.append((flag, a.nargs != 0))
    return out


CASES = [(cmd, flag, takes) for cmd, (_argv, path) in COMMANDS.items() for flag, takes in _options(path)]


@pytest.fixture(scope="module")
def workdir():
    d = tempfile.mkdtemp(prefix="fwemu-prop-")
    os.chmod(d, 0o700)
    for sub in ("run", "state"):
        os.mkdir(os.path.join(d, sub), 0o700)
    old = os.getcwd()
    os.chdir(d)
    assert cli.main(["record", "build", "memory-ue", "-o", "rec.bin"]) == 0
    assert cli.main(["hest", "build", "-o", "h.dat"]) == 0
    with pytest.MonkeyPatch.context() as mp:   # a journal for `journal` and `report` to read
        mp.setenv("XDG_RUNTIME_DIR", os.path.join(d, "run"))
        mp.setenv("XDG_STATE_HOME", os.path.join(d, "state"))
        assert cli.main(["inject", "memory-ue", "--count", "2", "--journal", "j.jsonl"]) == 0
    yield d
    os.chdir(old)
    shutil.rmtree(d, ignore_errors=True)


def _run(argv: list[str]) -> tuple[int, str, str]:
    out_b, err = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(out_b, encoding="utf-8")
    logging.getLogger().handlers.clear()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli.main(argv)
        except SystemExit as exc:      # --help-like paths only; never expected here
            rc = exc.code
    out.flush()
    logging.getLogger().handlers.clear()
    return rc, out_b.getvalue().decode("utf-8", "replace"), err.getvalue()


def _slow(flag: str, value: str) -> bool:
    if flag not in SLOW:
        return False
    try:
        v = float(value.replace("_", "")) if not value.lower().startswith("0x") else int(value, 16)
    except ValueError:
        return False
    limit = SLOW[flag]
    if flag == "--rate":
        return 0 < v < 50
    return v > limit


@pytest.mark.parametrize("cmd,flag,takes", CASES, ids=[f"{c}{f}" for c, f, _ in CASES])
@settings(max_examples=8, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_bad_values_end_in_a_documented_code_and_no_traceback(workdir, monkeypatch, cmd, flag, takes, data):
    monkeypatch.setenv("XDG_RUNTIME_DIR", os.path.join(workdir, "run"))
    monkeypatch.setenv("XDG_STATE_HOME", os.path.join(workdir, "state"))
    monkeypatch.delenv("FWEMU_BOARD", raising=False)
    monkeypatch.delenv("FWEMU_URL", raising=False)
    argv, _path = COMMANDS[cmd]
    if takes:
        value = data.draw(st.sampled_from(BAD_WORDS) | st.text(max_size=12), label="value")
        assume(not _slow(flag, value))
        assume(not (flag == "--board" and value.startswith("-")))
        extra = [f"{flag}={value}"]
    else:
        extra = [flag]
    rc, out, err = _run(argv + extra)
    assert rc in DOCUMENTED, (rc, err)
    assert "Traceback" not in err, err
    if rc == 2:
        lines = [ln for ln in err.splitlines() if not ln.startswith("fwemu: warning:")]
        assert len(lines) == 1 and lines[0].startswith("fwemu: error: "), err
